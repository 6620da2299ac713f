//! Engine events: what the dashboard's live feed and the tray app show.

use std::path::PathBuf;

use serde::Serialize;

/// Something the engine did. Delivered to every subscriber; a slow subscriber
/// misses events rather than slowing the engine down.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    /// A memory was saved (created, reinforced or rejected).
    Saved {
        /// Project root.
        project: PathBuf,
        /// The memory, unless rejected.
        id: Option<i64>,
        /// `created`, `reinforced` or `rejected`.
        action: String,
    },
    /// Memories were injected into a Claude Code conversation.
    Injected {
        /// Project root.
        project: PathBuf,
        /// Claude Code's session.
        session_id: String,
        /// The hook event.
        event: String,
        /// The memories.
        memory_ids: Vec<i64>,
    },
    /// A background job was queued.
    JobQueued {
        /// Project root.
        project: PathBuf,
        /// Job id.
        job_id: i64,
        /// Job kind.
        kind: String,
        /// Claude Code's session.
        session_id: String,
    },
    /// A background job changed state.
    Job {
        /// Project root.
        project: PathBuf,
        /// Job id.
        job_id: i64,
        /// Job kind.
        kind: String,
        /// `running`, `done`, `queued` (to be retried) or `failed` (for good).
        state: String,
        /// Why it failed, or what it did.
        reason: Option<String>,
    },
    /// Progress of a long task (model download, re-embedding).
    Progress {
        /// What is progressing, e.g. `install:all-minilm-l6-v2`.
        task: String,
        /// Where it stands; the last event of a task says how it ended.
        state: TaskState,
        /// Units done.
        done: u64,
        /// Units in all, when known.
        total: Option<u64>,
        /// A short human note.
        message: Option<String>,
        /// The task's own event, as it reported it (e.g. a model download's).
        detail: Option<serde_json::Value>,
    },
    /// A project appeared or disappeared.
    Project {
        /// Project root.
        project: PathBuf,
        /// Whether it exists now.
        present: bool,
    },
    /// Something failed in the background.
    Error {
        /// What failed, in words.
        message: String,
        /// The task that failed, when one did (as in [`EngineEvent::Progress`]).
        task: Option<String>,
    },
}

/// Where a long task stands: carried as data so no reader has to match
/// the words of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Started or under way.
    Running,
    /// Ended well.
    Finished,
    /// Ended with an error (the message says which).
    Failed,
    /// Stopped on request.
    Cancelled,
}
