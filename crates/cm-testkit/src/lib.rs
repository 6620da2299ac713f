//! Test support for claude-memory's crates: a deterministic embedder, and the
//! harnesses that several crates' integration tests would otherwise each copy.
//!
//! Keeping these in their own crate lets a library's tests use them without
//! the library depending on its dependents: of the workspace's crates,
//! cm-testkit depends only on cm-core. It is a dev-dependency of cm-engine,
//! cm-embed, cm-llm, cm-server and the CLI; the one normal dependent is
//! cm-bench, whose synthetic search benchmark embeds with [`HashEmbedder`] at
//! run time.
//!
//! - [`HashEmbedder`]: vectors from the words of a text, no model to load.
//! - [`cli`]: the `claude-memory` binary in a temporary home.
//! - [`http`]: reading a request in the fake HTTP servers.
//! - [`openai`]: a scripted fake of the OpenAI chat-completions API.
//! - [`postgres`]: a real PostgreSQL with pgvector, for the team-memory tests (Unix).

pub mod cli;
mod embedder;
pub mod http;
pub mod openai;
#[cfg(unix)]
pub mod postgres;

pub use embedder::HashEmbedder;
