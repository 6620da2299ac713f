//! The small interface through which the engine talks to an LLM: one system
//! and one user message in, the answer and its token usage out.
//!
//! Like [`crate::Embedder`], it keeps the engine free of any client library:
//! the LLM crate implements it for Azure OpenAI, OpenAI and compatible
//! servers. The prompts and the tolerant parsers of the answers live here in
//! the core ([`crate::structure`], [`crate::extract`]); without an LLM the
//! engine uses their offline counterparts.

use std::future::Future;
use std::pin::Pin;

/// The future returned by [`Llm::complete`].
pub type LlmFuture<'a> = Pin<Box<dyn Future<Output = Result<LlmAnswer, LlmCallError>> + Send + 'a>>;

/// One answer of the LLM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LlmAnswer {
    /// The assistant's message.
    pub text: String,
    /// Tokens sent, as the provider reported them (0 if it did not).
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub completion_tokens: u64,
}

/// Why a call failed; carried as text so the trait stays free of any
/// client's types. The caller falls back to offline processing.
#[derive(Debug, Clone, thiserror::Error)]
#[error("LLM call failed: {0}")]
pub struct LlmCallError(pub String);

/// A chat model: structures notes, extracts memories from transcripts and
/// writes merged memories.
pub trait Llm: Send + Sync + std::fmt::Debug {
    /// Who answers, for logs and the dashboard (e.g. "Azure OpenAI deployment `gpt-4.1`").
    fn name(&self) -> &str;
    /// Sends one system and one user message and returns the answer.
    fn complete<'a>(&'a self, system: &'a str, user: &'a str) -> LlmFuture<'a>;
    /// Whether every call takes seconds (a program is started for each):
    /// such an LLM is asked only by background work, never by a save that
    /// someone waits for.
    fn background_only(&self) -> bool {
        false
    }
    /// How many tokens a day it may use.
    fn daily_limits(&self) -> TokenLimits {
        TokenLimits::default()
    }
}

/// Set to `off` in the environment of a run of Claude Code that serves as
/// the LLM: `claude-memory hook` then returns at once, so such a run can
/// never recall or record memories of its own.
pub const HOOKS_OFF_VAR: &str = "CLAUDE_MEMORY_HOOKS";

/// Tokens (sent plus generated) an LLM may use per UTC day; 0 is no limit.
/// Past a limit the engine works offline until the day ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenLimits {
    /// In all projects together.
    pub total: u64,
    /// In any one project.
    pub per_project: u64,
}

/// What an LLM call was for, as counted in a project's token usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LlmPurpose {
    /// Structuring a save into what/when/do/warn.
    Structure,
    /// Extracting memories from a transcript or a compact summary.
    Extract,
    /// Writing one consolidated memory from a cluster.
    Merge,
}

impl LlmPurpose {
    /// Every purpose.
    pub const ALL: [LlmPurpose; 3] = [LlmPurpose::Structure, LlmPurpose::Extract, LlmPurpose::Merge];

    /// The stable name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            LlmPurpose::Structure => "structure",
            LlmPurpose::Extract => "extract",
            LlmPurpose::Merge => "merge",
        }
    }
}
