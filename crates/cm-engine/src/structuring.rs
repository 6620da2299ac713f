//! Structuring on save: an LLM (through [`Structurer`]) turns a note into
//! `<what>/<when>/<do>/<warn>`, or rejects it; without one, or when it is
//! slow, down or answers nonsense, the deterministic offline structurer does.
//! A save is never lost to the LLM: every failure falls back.

use std::time::Duration;

use cm_core::structure::{LlmVerdict, Structured, offline_structure, parse_llm_output, structuring_prompt};
use cm_core::{Domain, LlmPurpose, MemoryType, NewMemory, Source};

use crate::{Engine, Project};

/// What structuring decided for a note.
pub(crate) enum Decision {
    /// Keep it (now structured, unless structuring is off for its source).
    Keep,
    /// Not worth keeping, and why.
    Reject(String),
}

impl Engine {
    /// Structures `new` in place if its source is configured for it.
    pub(crate) async fn structure_note(&self, project: &Project, new: &mut NewMemory) -> Decision {
        let cfg = &self.config().structure;
        if new.structured.is_some() || !cfg.enabled_for(new.source) {
            return Decision::Keep;
        }
        // The caller's type and domain are hints when chosen (a default is
        // only where a choice was not made).
        let hint_type =
            (new.type_chosen || new.memory_type != MemoryType::Context).then_some(new.memory_type);
        let hint_domain = (new.domain_chosen || new.domain != Domain::general()).then(|| new.domain.clone());
        let timeout = Duration::from_millis(cfg.timeout_ms);
        let prompt = structuring_prompt(&new.content, hint_type, hint_domain.as_ref());
        let verdict = match self.ask_llm(project, LlmPurpose::Structure, prompt, timeout).await {
            Some(answer) => match parse_llm_output(&answer) {
                Ok(verdict) => Some(verdict),
                Err(e) => {
                    tracing::warn!(error = %e, "unusable structuring answer; structuring offline instead");
                    None
                }
            },
            None => None,
        };
        let structured = match verdict {
            // A person's explicit `claude-memory save` is never second-guessed.
            Some(LlmVerdict::Reject { reason }) if new.source != Source::Cli => {
                return Decision::Reject(reason);
            }
            Some(LlmVerdict::Memory(s)) => s,
            Some(LlmVerdict::Reject { .. }) | None if cfg.offline => {
                offline_structure(&new.content, hint_type)
            }
            Some(LlmVerdict::Reject { .. }) | None => return Decision::Keep,
        };
        apply(new, structured, hint_type.is_some(), hint_domain.is_some());
        Decision::Keep
    }
}

/// Writes the structure into the note; the structurer's type and domain
/// replace only the defaults, never what the caller chose.
pub(crate) fn apply(new: &mut NewMemory, s: Structured, type_given: bool, domain_given: bool) {
    if !type_given && let Some(t) = s.memory_type {
        new.memory_type = t;
    }
    if !domain_given && let Some(d) = s.domain.clone() {
        new.domain = d;
    }
    new.structured = Some(s.to_xml());
    new.summary = s.summary.clone().filter(|x| !x.trim().is_empty());
    if new.keywords.is_empty()
        && let Ok(keywords) = cm_core::memory::normalize_labels("keywords", &s.keywords)
    {
        new.keywords = keywords;
    }
}
