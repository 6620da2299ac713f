//! Helpers shared by the tests of the structure modules.

use super::{LlmVerdict, Structured, parse_llm_output};
use crate::memory::{Domain, MemoryType};

/// The memory `text` parses into; panics on a rejection or an error.
pub(super) fn memory(text: &str) -> Structured {
    match parse_llm_output(text) {
        Ok(LlmVerdict::Memory(m)) => m,
        other => panic!("expected a memory from {text:?}, got {other:?}"),
    }
}

/// Owned copies of `items`, to compare with a list field.
pub(super) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A memory of type `memory_type` with every list set and text that needs
/// escaping, including list separators inside items.
pub(super) fn sample(memory_type: Option<MemoryType>) -> Structured {
    Structured {
        memory_type,
        domain: Some(Domain::parse("database").expect("a default domain")),
        what: "Migrations live in `crates/cm-store/migrations` & are \"timestamped\" <never> edited.".into(),
        when: strings(&["adding a column | or a table", "changing an index"]),
        do_steps: strings(&["run `sqlx migrate add <name>`; then edit it", "run cargo test"]),
        warn: strings(&["never edit a landed migration", "don't use 'IF NOT EXISTS' blindly"]),
        summary: None,
        keywords: Vec::new(),
    }
}
