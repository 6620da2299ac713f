//! The small interface through which the engine asks for embeddings.
//!
//! The store never depends on an inference runtime: whoever opens a project
//! passes an [`Embedder`] in. The embeddings crate implements it with ONNX
//! Runtime; tests may implement it with anything deterministic.

use std::future::Future;
use std::pin::Pin;

/// Whether a text is a search query or a stored passage. Some models (e5)
/// expect a different prefix for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmbedKind {
    /// A search query.
    Query,
    /// A memory being stored.
    Passage,
}

/// The future returned by [`Embedder::embed`].
pub type EmbedFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<Vec<f32>>, EmbedError>> + Send + 'a>>;

/// Why embedding failed; carried as text so the trait stays free of any runtime's types.
#[derive(Debug, Clone, thiserror::Error)]
#[error("embedding failed: {0}")]
pub struct EmbedError(pub String);

/// Cosine thresholds measured for one model. Each model spreads cosine
/// similarity differently (all-MiniLM-L6-v2 puts unrelated sentences near
/// 0.1, e5 near 0.7), so a threshold only means something for the model it
/// was measured on; `claude-memory bench gate` measures them.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Calibration {
    /// A hook injects a memory at least this similar to the prompt or tool call.
    pub relevance: f64,
    /// A saved memory joins a cluster whose centroid is at least this similar.
    pub cluster: f64,
}

impl Calibration {
    /// For a model nobody measured here: the values used before models were
    /// calibrated (set for BGE-M3's scale, where they are conservative).
    pub const UNMEASURED: Calibration = Calibration { relevance: 0.35, cluster: 0.70 };
}

/// Turns texts into L2-normalised vectors of a fixed dimension.
pub trait Embedder: Send + Sync + std::fmt::Debug {
    /// The model's measured thresholds, if it has any.
    fn calibration(&self) -> Option<Calibration> {
        None
    }
    /// A stable identifier of the model, recorded with every vector it makes.
    fn model_id(&self) -> &str;
    /// Length of every vector this embedder returns.
    fn dimension(&self) -> usize;
    /// Embeds `texts`, one vector per text, in order.
    fn embed<'a>(&'a self, texts: &'a [String], kind: EmbedKind) -> EmbedFuture<'a>;
}
