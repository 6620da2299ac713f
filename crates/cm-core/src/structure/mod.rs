//! Memory structuring: a free-text note turned into `<what>/<when>/<do>/<warn>`.
//!
//! A structured memory states the knowledge itself (`what`), the situations
//! where it applies (`when`), the steps to take (`do`) and the pitfalls to
//! avoid (`warn`). Which of these a memory carries depends on its type (see
//! [`Structured::to_xml`]). Three pure pieces live here; the engine wires them
//! to an LLM or not:
//!
//! - [`structuring_prompt`] builds the system and user messages asking an LLM
//!   to structure a note, or to answer `REJECT` when it is not worth keeping;
//! - [`parse_llm_output`] reads whatever the LLM answered, tolerating prose,
//!   code fences, sloppy XML and truncation, and never panics;
//! - [`offline_structure`] is a deterministic, cue-based structurer for when no
//!   LLM is configured or it failed.
//!
//! Each piece has its module (`prompt`, `xml`, `offline`); all three share
//! the normalisation of `normalize`, and this module holds the type and its
//! rendering.
//!
//! Every value leaving this module is normalised the same way: whitespace runs
//! collapsed to one space, control characters dropped, list bullets stripped,
//! empties dropped and lengths capped (see the `MAX_*` constants), so
//! `parse_llm_output(&s.to_xml())` gives back `s` for a normalised `s`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::memory::{Domain, MemoryType};

#[cfg(test)]
mod fuzz;
mod normalize;
mod offline;
mod prompt;
#[cfg(test)]
mod testing;
mod xml;

use normalize::{normalize_items, normalize_text};
pub use offline::offline_structure;
pub(crate) use prompt::format_rules;
pub use prompt::structuring_prompt;
pub use xml::{LlmVerdict, ParseError, parse_llm_output};

/// Longest `what`, in characters.
pub const MAX_WHAT_CHARS: usize = 2000;
/// Longest item of `when`, `do` or `warn`, and longest REJECT reason, in characters.
pub const MAX_ITEM_CHARS: usize = 500;
/// Most items kept in one of `when`, `do` or `warn`.
pub const MAX_ITEMS: usize = 20;
/// Longest summary, in characters.
pub const MAX_SUMMARY_CHARS: usize = 200;
/// Words kept in a summary made by [`offline_structure`].
pub const SUMMARY_WORDS: usize = 15;
/// Most keywords kept.
pub const MAX_KEYWORDS: usize = 8;
/// Longest keyword, in characters (the limit of [`crate::memory::normalize_labels`]).
pub const MAX_KEYWORD_CHARS: usize = 64;

/// A memory split into its parts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Structured {
    /// The type the structurer chose, when it chose a valid one.
    #[serde(rename = "type")]
    pub memory_type: Option<MemoryType>,
    /// The domain the structurer chose, when it was a valid domain name.
    pub domain: Option<Domain>,
    /// The knowledge itself, in one or two sentences.
    pub what: String,
    /// Situations where it applies.
    pub when: Vec<String>,
    /// Steps to take.
    #[serde(rename = "do")]
    pub do_steps: Vec<String>,
    /// Pitfalls to avoid.
    pub warn: Vec<String>,
    /// A one-line summary.
    pub summary: Option<String>,
    /// Search keywords (lower case).
    pub keywords: Vec<String>,
}

/// Which of `when`, `do` and `warn` a memory of some type carries (`what`
/// always). One table serves the XML, the embedding text and the prompt.
#[derive(Debug, Clone, Copy)]
struct Fields {
    when: bool,
    do_steps: bool,
    warn: bool,
}

/// The fields of each type, as in the original: fact → what; pattern → what,
/// when, do, warn; decision and preference → what, warn; bug → what, do;
/// context → what, when; skill (and an unknown type) → everything.
fn fields_of(memory_type: Option<MemoryType>) -> Fields {
    let (when, do_steps, warn) = match memory_type {
        Some(MemoryType::Fact) => (false, false, false),
        Some(MemoryType::Decision | MemoryType::Preference) => (false, false, true),
        Some(MemoryType::Bug) => (false, true, false),
        Some(MemoryType::Context) => (true, false, false),
        Some(MemoryType::Pattern | MemoryType::Skill) | None => (true, true, true),
    };
    Fields { when, do_steps, warn }
}

/// Separator of the items of `<when>`.
const WHEN_SEP: char = '|';
/// Separator of the items of `<do>` and `<warn>`.
const STEP_SEP: char = ';';

impl Structured {
    /// Renders the stored XML: `<memory type="…" domain="…"><what>…</what>
    /// <when>a | b</when><do>x; y</do><warn>…</warn></memory>` on one line.
    ///
    /// Only the fields of the memory's type are written (see `fields_of`),
    /// empty elements and absent attributes are left out, and text is escaped,
    /// including any list separator inside an item (as a character reference),
    /// so the XML parses back into the same items. Summary and keywords are
    /// stored in their own columns and are not part of it.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<memory");
        if let Some(t) = self.memory_type {
            let _ = write!(out, " type=\"{}\"", escape(t.as_str(), None));
        }
        if let Some(d) = &self.domain {
            let _ = write!(out, " domain=\"{}\"", escape(d.as_str(), None));
        }
        out.push('>');
        let fields = fields_of(self.memory_type);
        push_element(&mut out, "what", &escape(&normalize_text(&self.what, MAX_WHAT_CHARS), None));
        if fields.when {
            push_list(&mut out, "when", &self.when, WHEN_SEP);
        }
        if fields.do_steps {
            push_list(&mut out, "do", &self.do_steps, STEP_SEP);
        }
        if fields.warn {
            push_list(&mut out, "warn", &self.warn, STEP_SEP);
        }
        out.push_str("</memory>");
        out
    }

    /// Plain text for embedding and full-text search: `what`, then one line
    /// each for `When:`, `Do:` and `Warn:` when the type carries them and they
    /// are not empty.
    pub fn embed_text(&self) -> String {
        let fields = fields_of(self.memory_type);
        let mut out = self.what.trim().to_owned();
        let lists = [
            (fields.when, "When", &self.when, " | "),
            (fields.do_steps, "Do", &self.do_steps, "; "),
            (fields.warn, "Warn", &self.warn, "; "),
        ];
        for (wanted, label, items, sep) in lists {
            if wanted && !items.is_empty() {
                if !out.is_empty() {
                    out.push('\n');
                }
                let _ = write!(out, "{label}: {}", items.join(sep));
            }
        }
        out
    }

    /// This memory as [`parse_llm_output`] would return it: text normalised,
    /// empty items dropped, keywords lower-cased and de-duplicated.
    #[cfg(test)]
    fn normalized(&self) -> Structured {
        Structured {
            memory_type: self.memory_type,
            domain: self.domain.clone(),
            what: normalize_text(&self.what, MAX_WHAT_CHARS),
            when: normalize_items(self.when.iter().map(String::as_str)),
            do_steps: normalize_items(self.do_steps.iter().map(String::as_str)),
            warn: normalize_items(self.warn.iter().map(String::as_str)),
            summary: normalize::normalize_summary(self.summary.as_deref().unwrap_or("")),
            keywords: normalize::normalize_keywords(self.keywords.iter().map(String::as_str)),
        }
    }

    /// Clears `when`, `do` and `warn` where the memory's type does not carry them.
    fn retain_type_fields(&mut self) {
        let fields = fields_of(self.memory_type);
        if !fields.when {
            self.when.clear();
        }
        if !fields.do_steps {
            self.do_steps.clear();
        }
        if !fields.warn {
            self.warn.clear();
        }
    }
}

/// Appends `<name>content</name>` unless `content` is empty.
fn push_element(out: &mut String, name: &str, content: &str) {
    if !content.is_empty() {
        let _ = write!(out, "<{name}>{content}</{name}>");
    }
}

/// Appends a list element, items normalised, escaped and joined by `sep`.
fn push_list(out: &mut String, name: &str, items: &[String], sep: char) {
    let escaped: Vec<String> =
        normalize_items(items.iter().map(String::as_str)).iter().map(|i| escape(i, Some(sep))).collect();
    let joiner = if sep == WHEN_SEP { " | " } else { "; " };
    push_element(out, name, &escaped.join(joiner));
}

/// Escapes XML's special characters, and `sep` (a list separator) as a
/// character reference so it is not read back as one.
fn escape(s: &str, sep: Option<char>) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if Some(c) == sep => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::testing::{memory, sample, strings};

    #[test]
    fn renders_the_fields_of_each_type() {
        let xml = sample(Some(MemoryType::Pattern)).to_xml();
        assert_eq!(
            xml,
            "<memory type=\"pattern\" domain=\"database\"><what>Migrations live in `crates/cm-store/migrations` \
             &amp; are &quot;timestamped&quot; &lt;never&gt; edited.</what><when>adding a column &#124; or a table \
             | changing an index</when><do>run `sqlx migrate add &lt;name&gt;`&#59; then edit it; run cargo test</do>\
             <warn>never edit a landed migration; don&#39;t use &#39;IF NOT EXISTS&#39; blindly</warn></memory>"
        );
        let expected = [
            (MemoryType::Fact, [false, false, false]),
            (MemoryType::Pattern, [true, true, true]),
            (MemoryType::Decision, [false, false, true]),
            (MemoryType::Preference, [false, false, true]),
            (MemoryType::Bug, [false, true, false]),
            (MemoryType::Context, [true, false, false]),
            (MemoryType::Skill, [true, true, true]),
        ];
        for (t, [when, do_steps, warn]) in expected {
            let xml = sample(Some(t)).to_xml();
            assert!(xml.contains("<what>"), "{xml}");
            assert_eq!(xml.contains("<when>"), when, "{xml}");
            assert_eq!(xml.contains("<do>"), do_steps, "{xml}");
            assert_eq!(xml.contains("<warn>"), warn, "{xml}");
        }
        let bare = Structured { what: "x".into(), ..Structured::default() };
        assert_eq!(bare.to_xml(), "<memory><what>x</what></memory>");
    }

    #[test]
    fn xml_round_trips_for_every_type() {
        let types = MemoryType::ALL.into_iter().map(Some).chain([None]);
        for t in types {
            let mut original = sample(t);
            original.summary = Some("ignored".into());
            original.keywords = strings(&["ignored"]);
            let parsed = memory(&original.to_xml());
            let mut expected = original.normalized();
            expected.retain_type_fields();
            expected.summary = None;
            expected.keywords.clear();
            assert_eq!(parsed, expected, "{t:?}");
            assert_eq!(parsed.to_xml(), original.to_xml());
        }
    }

    #[test]
    fn embed_text_lists_the_fields_of_the_type() {
        let text = sample(Some(MemoryType::Bug)).embed_text();
        assert_eq!(
            text,
            "Migrations live in `crates/cm-store/migrations` & are \"timestamped\" <never> edited.\n\
             Do: run `sqlx migrate add <name>`; then edit it; run cargo test"
        );
        let text = sample(Some(MemoryType::Skill)).embed_text();
        assert!(text.contains("\nWhen: adding a column | or a table | changing an index\nDo: "), "{text}");
        assert!(
            text.ends_with("\nWarn: never edit a landed migration; don't use 'IF NOT EXISTS' blindly"),
            "{text}"
        );
    }
}
