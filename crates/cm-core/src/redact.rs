//! Secret redaction (placeholder: being written).

/// What [`redact`] found and replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The text with every secret replaced by `[REDACTED:<kind>]`.
    pub text: String,
    /// The kinds of secret replaced, in order of appearance.
    pub kinds: Vec<&'static str>,
}

/// Replaces every secret in `text` by `[REDACTED:<kind>]`.
pub fn redact(text: &str) -> Redacted {
    Redacted { text: text.to_owned(), kinds: Vec::new() }
}
