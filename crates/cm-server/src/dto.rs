//! The wire format of `/api` and of the MCP tools' structured answers: what
//! a request may send and what an answer holds, as typed structs. Domain
//! types stay free to change; these change only with the contract, and the
//! dashboard's TypeScript types are generated from them (see
//! `ui/src/lib/api-types.ts`).

use std::path::PathBuf;

use cm_core::{Memory, MemoryType, SaveOutcome, SearchHit, SearchMode, Source};
use serde::{Deserialize, Serialize};

/// A memory as every adapter shows it (the dashboard, MCP's `full` answers).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MemoryView {
    pub id: i64,
    pub content: String,
    /// The LLM's structured form (`<what>…</what>` sections), when made.
    pub structured: Option<String>,
    pub summary: Option<String>,
    #[serde(rename = "type")]
    pub memory_type: MemoryType,
    pub domain: String,
    pub tags: Vec<String>,
    pub keywords: Vec<String>,
    pub confidence: f64,
    pub evidence_count: i64,
    pub access_count: i64,
    /// Unix milliseconds, like every time of the API.
    pub last_accessed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub source: Source,
    /// The model its vector was made with; `null`: none yet.
    pub embedding_model: Option<String>,
    pub archived: bool,
    /// The consolidated memory it was merged into.
    pub merged_into: Option<i64>,
    pub cluster_id: Option<i64>,
    /// The newer memory that overtook this one on the same subject; a
    /// superseded memory is listed and searchable but not injected.
    pub superseded_by: Option<i64>,
    /// The teammate who wrote it, for a memory pulled from the project's team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_author: Option<String>,
    /// Shared with the project's team by this person.
    pub shared: bool,
    /// A file it names was deleted or renamed since: it ranks lower until a
    /// person confirms it (`POST /api/memories/{id}/confirm`) or the file
    /// comes back.
    pub stale: Option<cm_core::Stale>,
}

impl From<&Memory> for MemoryView {
    fn from(m: &Memory) -> MemoryView {
        MemoryView {
            id: m.id,
            content: m.content.clone(),
            structured: m.structured.clone(),
            summary: m.summary.clone(),
            memory_type: m.memory_type,
            domain: m.domain.as_str().to_owned(),
            tags: m.tags.clone(),
            keywords: m.keywords.clone(),
            confidence: m.confidence,
            evidence_count: m.evidence_count,
            access_count: m.access_count,
            last_accessed_at: m.last_accessed_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
            source: m.source,
            embedding_model: m.embedding_model.clone(),
            archived: m.archived,
            merged_into: m.merged_into,
            cluster_id: m.cluster_id,
            superseded_by: m.superseded_by,
            team_author: m.team_author.clone(),
            shared: m.shared,
            stale: m.stale.clone(),
        }
    }
}

impl From<Memory> for MemoryView {
    fn from(m: Memory) -> MemoryView {
        MemoryView::from(&m)
    }
}

/// A memory a search found, with the scores that placed it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SearchHitView {
    #[serde(flatten)]
    pub memory: MemoryView,
    /// Final score (fusion × age decay); higher is better.
    pub score: f64,
    /// Cosine similarity to the query, when vectors were searched.
    pub vector_similarity: Option<f64>,
    /// SQLite's BM25 (negative; more negative is better), when the text matched.
    pub bm25: Option<f64>,
}

impl From<&SearchHit> for SearchHitView {
    fn from(h: &SearchHit) -> SearchHitView {
        SearchHitView {
            memory: MemoryView::from(&h.memory),
            score: h.score,
            vector_similarity: h.vector_similarity,
            bm25: h.bm25,
        }
    }
}

/// `GET /api/memories?q=…`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SearchAnswer {
    pub hits: Vec<SearchHitView>,
    /// The retrievers used: a hybrid search without a model is BM25 only.
    pub mode: SearchMode,
    /// What Claude Code's prompt hook would inject for a prompt like this search.
    pub hook: HookPreview,
}

/// Which hits the prompt hook would inject, and the rule it applies.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HookPreview {
    pub injects: Vec<i64>,
    pub limit: usize,
    pub min_similarity: f64,
}

/// `GET /api/memories` without `q`: a page of the list.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MemoriesAnswer {
    pub memories: Vec<MemoryView>,
    pub limit: usize,
    pub offset: usize,
}

/// One memory (after a change, or on its own).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MemoryAnswer {
    pub memory: MemoryView,
}

/// `GET /api/memories/{id}`: the memory and when it was injected.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MemoryDetail {
    pub memory: MemoryView,
    pub injections: Vec<cm_store::Injection>,
}

/// `DELETE /api/memories/{id}?purge=true`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PurgedAnswer {
    pub id: i64,
    pub purged: bool,
}

/// `POST /api/memories`: answered with the save's [`SaveOutcome`].
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveRequest {
    pub content: String,
    #[serde(rename = "type")]
    pub memory_type: Option<MemoryType>,
    pub domain: Option<String>,
    pub confidence: Option<f64>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The answer to a save.
pub type SaveAnswer = SaveOutcome;

/// `PATCH /api/memories/{id}`: fields left out stay as they are.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRequest {
    pub content: Option<String>,
    #[serde(rename = "type")]
    pub memory_type: Option<MemoryType>,
    pub domain: Option<String>,
    pub confidence: Option<f64>,
    pub tags: Option<Vec<String>>,
}

/// `POST /api/memories/{id}/validate`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ValidateRequest {
    pub is_valid: bool,
}

/// `GET /api/stats`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StatsAnswer {
    pub stats: cm_store::Stats,
    pub injections_per_day: Vec<DayCount>,
}

/// Injections on one day (`YYYY-MM-DD`).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct DayCount {
    pub day: String,
    pub count: i64,
}

/// `GET /api/injections`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct InjectionsAnswer {
    pub injections: Vec<cm_store::Injection>,
}

/// `GET /api/timeline`: the project's history and the latest call of each hook.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TimelineAnswer {
    pub entries: Vec<cm_store::TimelineEntry>,
    pub hook_calls: Vec<cm_store::HookCall>,
}

/// `GET /api/jobs`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct JobsAnswer {
    pub jobs: Vec<cm_store::Job>,
}

/// `GET /api/clusters`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ClustersAnswer {
    pub clusters: Vec<cm_store::Cluster>,
}

/// `POST /api/clusters/{id}/merge`: the consolidated memory.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MergeAnswer {
    pub cluster: i64,
    /// The consolidated memory's id.
    pub memory: i64,
}

/// `POST /api/clusters/{id}/unmerge`: the memories restored.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct UnmergeAnswer {
    pub cluster: i64,
    /// The ids of the memories restored.
    pub restored: Vec<i64>,
}

/// One memory on the clusters map: its embedding projected to 2-D, in [-1, 1].
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MapPointView {
    pub id: i64,
    pub x: f64,
    pub y: f64,
    pub cluster_id: Option<i64>,
    pub memory_type: MemoryType,
    pub domain: String,
    pub summary: String,
}

/// `GET /api/clusters/map`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ClusterMapAnswer {
    /// The model whose space the map shows; `null` when it is empty.
    pub model: Option<String>,
    pub points: Vec<MapPointView>,
}

/// `GET /api/status`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StatusAnswer {
    pub version: String,
    pub uptime_ms: u64,
    pub port: u16,
    pub paused: bool,
    /// Projects the engine knows.
    pub projects: usize,
    /// The embedding model loaded; `null`: full-text search only.
    pub model: Option<ModelInfo>,
    /// What structures memories, e.g. "Azure OpenAI deployment `gpt-4o-mini`"; `null`: offline.
    pub llm: Option<String>,
    /// Whether the setup wizard has been completed.
    pub setup_done: bool,
}

/// A loaded embedding model.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ModelInfo {
    pub id: String,
    pub dimension: usize,
}

/// `POST /api/pause`, both ways.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Paused {
    pub paused: bool,
}

/// A project folder the engine knows.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProjectInfo {
    pub path: PathBuf,
    pub name: Option<String>,
    /// Whether its `.claude-memory/` exists.
    pub present: bool,
    pub memories: Option<MemoryCounts>,
}

/// How many memories a project holds.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct MemoryCounts {
    pub total: i64,
    pub archived: i64,
}

/// `GET /api/projects`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProjectsAnswer {
    pub projects: Vec<ProjectInfo>,
}

/// `POST /api/projects`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProjectAnswer {
    pub project: ProjectInfo,
}

/// One model of `GET /api/models`: its catalogue entry and, when
/// installed, its state on disk.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ModelEntry {
    pub id: String,
    pub entry: cm_embed::CatalogueEntry,
    pub installed: Option<InstalledModel>,
}

/// A model on disk.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct InstalledModel {
    /// `installed`, `partial` or `damaged: …`.
    pub state: String,
    pub size_on_disk: u64,
}

/// `GET /api/models`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ModelsAnswer {
    pub catalogue: Vec<ModelEntry>,
    /// The model in use, or configured for the next start.
    pub active: Option<String>,
    /// The model loaded now.
    pub loaded: Option<String>,
}

/// `POST /api/models/{id}/install` (all optional).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    /// Install from this local file or directory instead of downloading.
    pub from: Option<PathBuf>,
    #[serde(default)]
    pub replace: bool,
}

/// A background task started; its progress arrives on `/api/events`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TaskAnswer {
    /// `install:<id>` or `activate:<id>`.
    pub task: String,
}

/// `POST /api/models/{id}/verify`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct VerifyAnswer {
    pub ok: bool,
    pub state: String,
    pub report: cm_embed::VerifyReport,
}

/// `POST /api/models/{id}/cancel`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CancelAnswer {
    /// Whether a download was running.
    pub cancelled: bool,
}

/// `POST /api/reload`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ReloadAnswer {
    /// The model `config.toml` names now.
    pub model: Option<String>,
    /// The model loaded before.
    pub previous: Option<String>,
    /// The re-embedding task, when the model changed.
    pub task: Option<String>,
}

/// `GET /api/settings`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SettingsAnswer {
    /// `config.toml` as it is (defaults where it says nothing).
    pub file: cm_core::Config,
    /// What the running engine uses.
    pub running: cm_core::Config,
}

/// `PUT /api/settings`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SettingsSaved {
    pub saved: bool,
    /// Some settings take effect at the next start.
    pub restart_required: bool,
}
