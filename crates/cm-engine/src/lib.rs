//! The claude-memory engine: one handle over every project's store, the
//! embedder and the settings, exposing the save and search pipelines that the
//! CLI, the local service and the tray app all call.
//!
//! The engine owns no framework: it glues the store to the domain rules
//! (validation, secret redaction, dedupe) and to whatever [`Embedder`] it was
//! built with.

mod access;
mod clustering;
mod engine;
mod error;
mod events;
mod export;
mod extraction;
pub mod feedback;
pub mod hooks;
pub mod jobs;
mod llm;
pub mod miner;
mod project;
mod projection;
mod records;
mod redaction;
mod registry;
pub mod stale;
mod structuring;
pub mod supersede;
pub mod team;
pub mod transcript;

pub use clustering::{ClusterPass, MapPoint};
pub use cm_core::{Config, Embedder};
pub use cm_store::{
    ImportFailure, ImportReport, ListFilter, MemoryPatch, MinedCommit, Stats, TranscriptProgress,
};
pub use engine::Engine;
pub use error::{Error, Result};
pub use events::{EngineEvent, TaskState};
pub use export::{ExportFormat, ImportFormat};
pub use jobs::{JobWorker, JobsReport, MineReport};
pub use project::{DATA_DIR, Project, find_project, resolve_existing};
pub use registry::Registry;
