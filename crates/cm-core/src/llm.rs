//! The small interface through which the engine asks an LLM to structure a
//! note into `<what>/<when>/<do>/<warn>`.
//!
//! Like [`crate::Embedder`], it keeps the engine free of any client library:
//! the LLM crate implements it for Azure OpenAI, OpenAI and compatible
//! servers; without one, the engine uses [`crate::structure::offline_structure`].

use std::future::Future;
use std::pin::Pin;

use crate::memory::{Domain, MemoryType};
use crate::structure::LlmVerdict;

/// The future returned by [`Structurer::structure`].
pub type StructureFuture<'a> = Pin<Box<dyn Future<Output = Result<LlmVerdict, StructureError>> + Send + 'a>>;

/// Why structuring failed (the note is then kept as it was, or structured
/// offline); carried as text so the trait stays free of any client's types.
#[derive(Debug, Clone, thiserror::Error)]
#[error("structuring failed: {0}")]
pub struct StructureError(pub String);

/// Turns a raw note into a structured memory, or rejects it as not worth
/// keeping (a one-off instruction, temporary debugging, chatter).
pub trait Structurer: Send + Sync + std::fmt::Debug {
    /// Who structures, for logs and the dashboard (e.g. `azure:gpt-4.1`).
    fn name(&self) -> &str;
    /// Structures `content` (already redacted), taking the caller's type and
    /// domain as hints.
    fn structure<'a>(
        &'a self,
        content: &'a str,
        hint_type: Option<MemoryType>,
        hint_domain: Option<&'a Domain>,
    ) -> StructureFuture<'a>;
}
