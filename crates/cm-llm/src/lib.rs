//! LLM providers for claude-memory: one chat call, five kinds of provider.
//!
//! [`LlmConfig`] says which provider to talk to (Azure OpenAI, OpenAI, an
//! OpenAI-compatible server such as Ollama, LM Studio or vLLM, Anthropic's
//! Messages API, or the person's own Claude Code run headless) and how
//! patiently; it never holds the API key. The key is a [`Secret`], found by
//! [`Credentials`] in the OS keychain, the `CLAUDE_MEMORY_LLM_API_KEY`
//! variable, or an owner-only file, in that order, and it never appears in
//! `Debug` output, logs, errors or serialised data.
//!
//! [`LlmClient::chat`] sends one system and one user message and returns the
//! answer with its token usage. It bounds every attempt with a timeout,
//! retries rate limits, server errors and failed connections with exponential
//! backoff and jitter (honouring `Retry-After`), never retries other client
//! errors, limits how many requests are in flight, and counts the tokens used.
//!
//! This is the only crate that imports async-openai.

mod anthropic;
mod claude_code;
mod client;
mod config;
mod credentials;
mod settings;
mod transport;

pub use claude_code::RUN_DIR_PREFIX;
pub use client::{Completion, ConnectionTest, LlmClient, Usage};
pub use config::{LlmConfig, Provider};
pub use credentials::{
    Credentials, ENV_VAR, KEY_FILE, KEYCHAIN_SERVICE, KEYCHAIN_USER, KeySource, Secret, TEAM_ENV_VAR,
};
pub use settings::{CONFIG_FILE, load, read_config, write_config};

/// Errors of LLM calls and of finding their credentials.
///
/// No variant ever carries the API key: server messages are truncated and
/// the key is masked in them.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// An attempt took longer than `timeout_ms`.
    #[error("the LLM did not answer within {0} ms")]
    Timeout(u64),
    /// The provider kept answering 429 Too Many Requests.
    #[error("rate limited by the LLM provider (HTTP 429){}", retry_hint(*.retry_after_ms))]
    RateLimited {
        /// The provider's last `Retry-After`, in milliseconds, if it sent one.
        retry_after_ms: Option<u64>,
    },
    /// The provider answered with an error status.
    #[error("the LLM provider answered HTTP {status}: {message}")]
    Http {
        /// HTTP status code.
        status: u16,
        /// The provider's message, truncated, with the key masked.
        message: String,
    },
    /// The provider could not be reached.
    #[error("cannot reach the LLM provider: {0}")]
    Connect(String),
    /// The provider answered something that is not a usable chat completion.
    #[error("unusable answer from the LLM provider: {0}")]
    BadResponse(String),
    /// No provider is configured, or the configuration lacks something it needs.
    #[error("LLM not configured: {0}")]
    NotConfigured(String),
    /// The API key could not be read or stored.
    #[error("LLM credentials: {0}")]
    Credentials(String),
}

fn retry_hint(ms: Option<u64>) -> String {
    match ms {
        Some(ms) => format!("; retry after {ms} ms"),
        None => String::new(),
    }
}

/// Result alias of this crate.
pub type Result<T, E = LlmError> = std::result::Result<T, E>;
