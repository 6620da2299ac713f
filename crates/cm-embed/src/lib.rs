//! Local text embeddings for claude-memory.
//!
//! This is the only crate that talks to an inference runtime: it loads ONNX
//! Runtime as a shared library at run time, tokenises with Hugging Face
//! `tokenizers`, and turns texts into L2-normalised vectors. Everything else
//! sees it through [`cm_core::Embedder`].
//!
//! The pieces, from the bottom up:
//!
//! - [`runtime`]: finds `libonnxruntime` ([`find_onnxruntime`]) and loads it
//!   once per process ([`init_onnxruntime`]). A missing or too-old library is
//!   an [`Error`] that says what to do, never a panic.
//! - [`spec`]: [`ModelSpec`] — what a model needs beyond its weights (pooling,
//!   token limit, query and passage prefixes), with the built-in models in one
//!   table.
//! - [`model`]: [`Model`] — a tokenizer plus an ONNX session, embedding one
//!   batch at a time on the calling thread.
//! - [`service`]: [`EmbedService`] — the [`cm_core::Embedder`] the engine
//!   uses. A dedicated OS thread owns the model, so inference never blocks the
//!   async runtime; concurrent requests are drained from a bounded queue and
//!   run as one batch; repeated texts come from a small LRU cache.
//! - [`bench`](mod@bench): [`bench()`] measures load time, query latency,
//!   throughput and memory of a configured model.
//!
//! And for getting models onto the machine:
//!
//! - [`catalogue`]: [`CATALOGUE`] — every model that can be installed, with
//!   its Hugging Face repository pinned to a commit and its files' SHA-256.
//! - [`store`]: [`ModelStore`] — installed models under one cache directory:
//!   list, install from a directory or archive, verify, remove. A model
//!   directory appears whole or not at all.
//! - [`download`]: [`ModelStore::download`] fetches a catalogue model from a
//!   Hugging Face Hub (or any endpoint speaking its protocol), resuming
//!   interrupted transfers, reporting [`DownloadEvent`]s, and honouring a
//!   [`CancellationToken`]. Nothing is ever downloaded unless asked.

mod archive;
pub mod bench;
pub mod catalogue;
pub mod download;
mod error;
pub mod model;
mod process;
pub mod runtime;
pub mod service;
pub mod spec;
pub mod store;

pub use bench::{BenchOptions, BenchReport, bench};
pub use catalogue::{CATALOGUE, CatalogueEntry, ModelFile};
pub use download::{DownloadEvent, DownloadOptions, DownloadSink};
pub use error::{Error, Result};
pub use model::{Model, ModelOptions, bulk_intra_threads};
pub use process::resident_memory_bytes;
pub use runtime::{OrtRuntime, find_onnxruntime, init_onnxruntime};
pub use service::{EmbedConfig, EmbedService, ModelInfo, ServiceStats};
pub use spec::{ModelSpec, Pooling};
pub use store::{
    FileCheck, InstallOptions, InstallSource, InstalledModel, Manifest, ManifestFile, ModelState, ModelStore,
    VerifyReport,
};
/// Cancels a [`ModelStore::download`]; re-exported so callers need not depend on `tokio-util`.
pub use tokio_util::sync::CancellationToken;
