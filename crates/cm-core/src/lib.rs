//! Domain model of claude-memory, with no I/O.
//!
//! Everything here is pure: memory types and domains, the validated input of a
//! save, search options, configuration (parsed from a string, never read from
//! disk here), text normalisation used for dedupe and full-text queries,
//! secret redaction, and memory structuring (the LLM prompt, its tolerant
//! parser and an offline fallback). The store, engine, server and front ends
//! all speak these types, so one vocabulary holds everywhere.

pub mod artifacts;
pub mod config;
pub mod embed;
pub mod extract;
pub mod llm;
pub mod markdown;
pub mod memory;
pub mod redact;
pub mod search;
pub mod structure;
pub mod text;

pub use config::{Config, Fusion, HooksConfig, ProjectsConfig, SearchConfig, ServiceConfig, StructureConfig};
pub use embed::{Calibration, EmbedError, EmbedFuture, EmbedKind, Embedder};
pub use llm::{HOOKS_OFF_VAR, Llm, LlmAnswer, LlmCallError, LlmFuture, LlmPurpose, TokenLimits};
pub use memory::{Domain, Memory, MemoryType, NewMemory, Provenance, SaveAction, SaveOutcome, Source, Stale};
pub use search::{SearchHit, SearchMode, SearchRequest, SearchResults};
pub use structure::{LlmVerdict, Structured};

/// Errors from validating user input into domain types.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A value outside its closed set, or malformed.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// Which input was wrong.
        field: &'static str,
        /// What was wrong with it, for the user.
        message: String,
    },
    /// The configuration file could not be understood.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid { field, message: message.into() }
    }
}

/// `error` and its sources, `: `-separated, as `anyhow` prints them with
/// `{:#}` (a wrapper's own message often hides the reason, which is its
/// source) — except a cause whose text is already there, from a wrapper that
/// prints its source itself: every reason is said once.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn error_chain_prints_every_cause_like_anyhow() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(super::error_chain(&e), "outer: inner");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("loading the model failed: {0}")]
    struct SaysItsSource(#[source] std::io::Error);

    #[test]
    fn error_chain_says_each_reason_once() {
        let e = SaysItsSource(std::io::Error::other("libonnxruntime.so not found"));
        assert_eq!(super::error_chain(&e), "loading the model failed: libonnxruntime.so not found");
    }
}
