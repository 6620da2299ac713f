//! The one redaction boundary. Every write path (save, record, mined
//! memories, merge, update, import) passes what it is about to store,
//! embed or send to an LLM through [`Redact::redact`], which covers every
//! field a person or a model can put text in: content, structure, summary,
//! tags, keywords, domain and the session id. The same pass tags a memory
//! that reads like an instruction to the model as quarantined.

use cm_core::memory::{Domain, Memory, NewMemory, normalize_labels};
use cm_core::redact::redact;
use cm_store::MemoryPatch;

/// A value whose free-text fields can hold a secret.
pub(crate) trait Redact {
    /// Replaces every secret in every field; returns the kinds found, sorted
    /// and without repeats.
    fn redact(&mut self) -> Vec<String>;
}

/// A new and a stored memory have the same free-text fields, by the same names.
macro_rules! redact_memory_fields {
    ($($ty:ty),*) => {$(
        impl Redact for $ty {
            fn redact(&mut self) -> Vec<String> {
                let mut found = Found::default();
                found.text(&mut self.content);
                found.optional(&mut self.structured);
                found.optional(&mut self.summary);
                found.labels(&mut self.tags);
                found.labels(&mut self.keywords);
                found.domain(&mut self.domain);
                found.optional(&mut self.provenance.session_id);
                quarantine(&self.content, &mut self.tags);
                found.kinds()
            }
        }
    )*};
}

redact_memory_fields!(NewMemory, Memory);

impl Redact for MemoryPatch {
    fn redact(&mut self) -> Vec<String> {
        let mut found = Found::default();
        found.optional(&mut self.content);
        found.optional(&mut self.structured);
        found.optional(&mut self.summary);
        if let Some(tags) = &mut self.tags {
            found.labels(tags);
        }
        if let Some(keywords) = &mut self.keywords {
            found.labels(keywords);
        }
        if let Some(domain) = &mut self.domain {
            found.domain(domain);
        }
        found.kinds()
    }
}

/// An inference the engine records about a memory: its reason holds
/// commands and paths from tool calls, and its session id is Claude Code's.
impl Redact for cm_store::Inference {
    fn redact(&mut self) -> Vec<String> {
        let mut found = Found::default();
        found.text(&mut self.reason);
        found.optional(&mut self.session_id);
        found.kinds()
    }
}

/// Free text the engine stores beside a memory (a stale flag's path and
/// reason, a session id), redacted like every other field.
pub(crate) fn redact_text(text: &str) -> String {
    redact(text).text
}

/// Tags a memory that reads like an instruction to the model for review
/// (hooks never inject it, see `hooks.rs`). The same boundary, since every
/// write passes here.
fn quarantine(content: &str, tags: &mut Vec<String>) {
    if cm_core::text::instruction_like(content).is_some()
        && !tags.iter().any(|t| t == cm_core::text::QUARANTINE_TAG)
    {
        tags.push(cm_core::text::QUARANTINE_TAG.to_owned());
    }
}

/// The kinds of secret found so far.
#[derive(Default)]
struct Found(Vec<&'static str>);

impl Found {
    fn text(&mut self, text: &mut String) {
        let r = redact(text);
        if r.is_redacted() {
            self.0.extend(r.kinds);
            *text = r.text;
        }
    }

    fn optional(&mut self, text: &mut Option<String>) {
        if let Some(text) = text {
            self.text(text);
        }
    }

    /// Tags and keywords: each label redacted, then normalised again (two
    /// labels may now be the same marker).
    fn labels(&mut self, labels: &mut Vec<String>) {
        let before = self.0.len();
        for label in labels.iter_mut() {
            self.text(label);
        }
        if self.0.len() != before
            && let Ok(normalized) = normalize_labels("tags", labels)
        {
            *labels = normalized;
        }
    }

    /// A domain cannot hold a marker's brackets: one that holds a secret
    /// becomes the catch-all domain.
    fn domain(&mut self, domain: &mut Domain) {
        let r = redact(domain.as_str());
        if r.is_redacted() {
            self.0.extend(r.kinds);
            *domain = Domain::general();
        }
    }

    fn kinds(mut self) -> Vec<String> {
        self.0.sort_unstable();
        self.0.dedup();
        self.0.into_iter().map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use cm_core::Source;

    use super::*;

    const KEY: &str = "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";

    #[test]
    fn every_field_of_a_new_memory_is_redacted() {
        let mut m = NewMemory::new(&format!("token {KEY}"), Source::Cli).unwrap();
        m.structured = Some(format!("<what>{KEY}</what>"));
        m.summary = Some(KEY.to_owned());
        m.tags = vec![KEY.to_owned(), "deploy".to_owned()];
        m.keywords = vec![KEY.to_owned()];
        m.provenance.session_id = Some(KEY.to_owned());
        let kinds = m.redact();
        assert!(!kinds.is_empty());
        let all = format!("{m:?}");
        assert!(!all.contains("AbCdEfGhIjKlMnOpQrStUvWxYz"), "{all}");
        assert!(m.tags.contains(&"deploy".to_owned()));
    }

    #[test]
    fn a_patch_redacts_its_tags() {
        let mut patch = MemoryPatch { tags: Some(vec![KEY.to_owned()]), ..MemoryPatch::default() };
        assert!(!patch.redact().is_empty());
        assert!(!format!("{patch:?}").contains("AbCdEfGhIjKlMnOpQrStUvWxYz"));
    }
}
