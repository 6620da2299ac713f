// Generated from the Rust wire types (crates/cm-server/src/dto.rs and the
// records they hold) by crates/cm-server/tests/api_types.rs. Do not edit:
// change the Rust types, then run
//   UPDATE_API_TYPES=1 cargo test --workspace --test api_types

/**
 * Cosine thresholds measured for one model. Each model spreads cosine
 * similarity differently (all-MiniLM-L6-v2 puts unrelated sentences near
 * 0.1, e5 near 0.7), so a threshold only means something for the model it
 * was measured on; `claude-memory bench gate` measures them.
 */
export interface Calibration {
  /** A saved memory joins a cluster whose centroid is at least this similar. */
  cluster: number;
  /** A hook injects a memory at least this similar to the prompt or tool call. */
  relevance: number;
}

/** `POST /api/models/{id}/cancel`. */
export interface CancelAnswer {
  /** Whether a download was running. */
  cancelled: boolean;
}

/** A model that can be downloaded or installed. */
export interface CatalogueEntry {
  /**
   * The hook and cluster thresholds measured for this model with
   * `claude-memory bench gate`; `None` where the model could not be run
   * here (the engine then uses [`Calibration::UNMEASURED`]).
   */
  calibration: Calibration | null;
  /** Name for people ("BGE-M3 (int8)"). */
  display_name: string;
  /** What to fetch. Exactly one of them is `spec.onnx_file`. */
  files: ModelFile[];
  /** Languages it was trained for, for people. */
  languages: string;
  /** SPDX licence of the weights. */
  licence: string;
  /** Hugging Face repository, `owner/name`. */
  repo: string;
  /** The pinned commit (a full SHA-1), or a branch in tests. */
  revision: string;
  /** How to run it; `spec.id` is the catalogue id. */
  spec: ModelSpec;
}

/** One check. */
export interface Check {
  /** What was found. */
  detail: string;
  /** The command (or action) that fixes it, when it is not ok. */
  fix?: string | null;
  /** A stable name (`path`, `onnxruntime`, `model`, `engine`, `project.hooks`…). */
  name: string;
  outcome: Outcome;
}

/** A cluster of similar memories. */
export interface Cluster {
  /** Mean confidence of its members. */
  avg_confidence: number;
  /** Unix ms. */
  created_at: number;
  /** Domain of its members. */
  domain: string;
  /** Id. */
  id: number;
  /** Members. */
  member_count: number;
  /** The consolidated memory, once merged. */
  merged_memory_id: number | null;
  /** `growing`, `mature` or `merged`. */
  status: string;
  /** What its members are about. */
  theme: string;
  /** Unix ms. */
  updated_at: number;
}

/** Clustering of similar memories and when a cluster is ready to merge. */
export interface ClusterConfig {
  /**
   * Merge mature clusters when a session ends (unclustered memories are
   * clustered then too); otherwise only from the dashboard.
   */
  auto_merge: boolean;
  /**
   * A saved memory joins the nearest cluster of its domain whose centroid
   * is at least this similar (cosine). Unset: the active model's
   * calibrated value.
   */
  join_similarity?: number | null;
  /** …whose average confidence is at least this. */
  mature_confidence: number;
  /** A cluster is mature (ready to merge) with at least this many members… */
  mature_members: number;
}

/** `GET /api/clusters/map`. */
export interface ClusterMapAnswer {
  /** The model whose space the map shows; `null` when it is empty. */
  model: string | null;
  points: MapPointView[];
}

/** `GET /api/clusters`. */
export interface ClustersAnswer {
  clusters: Cluster[];
}

/** All settings. */
export interface Config {
  /** Clustering and merging. */
  clusters: ClusterConfig;
  /** Embedding model. */
  embedding: EmbeddingConfig;
  /** Claude Code hooks. */
  hooks: HooksConfig;
  /** Project discovery. */
  projects: ProjectsConfig;
  /** Save pipeline. */
  save: SaveConfig;
  /** Search and ranking. */
  search: SearchConfig;
  /** The local service. */
  service: ServiceConfig;
  /** Structuring on save. */
  structure: StructureConfig;
}

/** Injections on one day (`YYYY-MM-DD`). */
export interface DayCount {
  count: number;
  day: string;
}

/** Which embedding model is active and how it runs. */
export interface EmbeddingConfig {
  /**
   * The active model's id (see `claude-memory models list`); `None`: no
   * vectors, search is BM25-only.
   */
  model: string | null;
  /** Load the model from this directory instead of the model cache. */
  model_dir: string | null;
  /** The ONNX Runtime library, when it is not found by itself. */
  onnxruntime: string | null;
  /**
   * Inference threads; `None` picks a default that leaves room for other
   * work (and every core for an import or a model switch).
   */
  threads: number | null;
}

/**
 * Something the engine did. Delivered to every subscriber; a slow subscriber
 * misses events rather than slowing the engine down.
 */
export type EngineEvent = {
  /** `created`, `reinforced` or `rejected`. */
  action: string;
  /** The memory, unless rejected. */
  id: number | null;
  /** Project root. */
  project: string;
  type: "saved";
} | {
  /** The hook event. */
  event: string;
  /** The memories. */
  memory_ids: number[];
  /** Project root. */
  project: string;
  /** Claude Code's session. */
  session_id: string;
  type: "injected";
} | {
  /** Job id. */
  job_id: number;
  /** Job kind. */
  kind: string;
  /** Project root. */
  project: string;
  /** Claude Code's session. */
  session_id: string;
  type: "job_queued";
} | {
  /** Job id. */
  job_id: number;
  /** Job kind. */
  kind: string;
  /** Project root. */
  project: string;
  /** Why it failed, or what it did. */
  reason: string | null;
  /** `running`, `done`, `queued` (to be retried) or `failed` (for good). */
  state: string;
  type: "job";
} | {
  /** The task's own event, as it reported it (e.g. a model download's). */
  detail: unknown;
  /** Units done. */
  done: number;
  /** A short human note. */
  message: string | null;
  /** Where it stands; the last event of a task says how it ended. */
  state: TaskState;
  /** What is progressing, e.g. `install:all-minilm-l6-v2`. */
  task: string;
  /** Units in all, when known. */
  total: number | null;
  type: "progress";
} | {
  /** Whether it exists now. */
  present: boolean;
  /** Project root. */
  project: string;
  type: "project";
} | {
  /** What failed, in words. */
  message: string;
  /** The task that failed, when one did (as in [`EngineEvent::Progress`]). */
  task: string | null;
  type: "error";
};

/** How one installed file was checked when it was installed. */
export type FileCheck = "pinned" | "hub_reported" | "unpinned" | "local_build";

/** One file's result in a [`VerifyReport`]. */
export interface FileReport {
  /** SHA-256 now; `None` if the file is missing. */
  actual_sha256: string | null;
  /** How it checks out against the catalogue (or the Hub). */
  check: FileCheck;
  /** Name inside the model directory. */
  name: string;
  /** SHA-256 the catalogue pins, if any. */
  pinned_sha256: string | null;
  /** SHA-256 recorded at install time. */
  recorded_sha256: string;
}

/** How vector and BM25 results are combined. */
export type Fusion = "weighted" | "rrf";

/**
 * Half-lives of memory relevance by type, in days.
 * 
 * Session context goes stale within weeks; a bug stays useful for a season;
 * facts, patterns, decisions and preferences hold for about a year unless
 * revised. Consolidated skills never decay.
 */
export interface HalfLives {
  /** `bug`. */
  bug: number;
  /** `context`. */
  context: number;
  /** `decision`. */
  decision: number;
  /** `fact`. */
  fact: number;
  /** `pattern`. */
  pattern: number;
  /** `preference`. */
  preference: number;
}

/** The latest call of one hook event. */
export interface HookCall {
  /** Unix ms. */
  at: number;
  /** The hook event. */
  event: string;
  /** Memories injected. */
  injected: number;
  /** `injected`, `nothing`, `queued`, or what went wrong. */
  outcome: string;
  /** Claude Code's session id, when the payload had one. */
  session_id: string | null;
}

/** Which hits the prompt hook would inject, and the rule it applies. */
export interface HookPreview {
  injects: number[];
  limit: number;
  min_similarity: number;
}

/** What the Claude Code hooks inject, and how fast they must be. */
export interface HooksConfig {
  /** Memories in the SessionStart briefing. */
  briefing_limit: number;
  /**
   * At each session start, read the project's `CLAUDE.md`, rules and
   * Claude Code's auto memory (as `import --format claude-code` does), so
   * that no hook repeats what Claude Code already loads.
   */
  follow_claude_md: boolean;
  /** Approximate tokens one injection may add to the conversation. */
  max_tokens: number;
  /** Prompts with fewer meaningful words than this are not searched ("ok", "go on"). */
  min_prompt_words: number;
  /**
   * …or when it shares this many meaningful words with the query (full-text
   * scores are not comparable across project sizes, so they cannot gate).
   */
  min_shared_words: number;
  /**
   * A memory is injected when its cosine similarity to the query reaches
   * this… Unset: the active model's calibrated value (cosine scales differ
   * between models, see `claude-memory bench gate`).
   */
  min_similarity?: number | null;
  /** Deadline of `hook UserPromptSubmit` and `hook SessionStart`, in milliseconds. */
  prompt_budget_ms: number;
  /** Memories considered per prompt. */
  prompt_limit: number;
  /**
   * …and only when the search ranks it close to its best hit: a fused
   * score at least this share of the best one's (0 turns the cut off).
   * A prompt's one strong match then comes alone rather than with the
   * weak neighbours that merely pass the threshold (`claude-memory bench
   * inject` measures it).
   */
  relative_score: number;
  /**
   * Tell the person, not only Claude, when memories were added: a short
   * `systemMessage` ("claude-memory: 3 memories added") under the prompt.
   * Off by default: most people want memory to stay out of sight.
   */
  show_status: boolean;
  /** Deadline of `hook PreToolUse` / `hook PostToolUse`, in milliseconds. */
  tool_budget_ms: number;
  /** Memories considered per tool call. */
  tool_limit: number;
  /** Tools whose calls are searched. */
  tools: string[];
}

/** One memory injected into a conversation. */
export interface Injection {
  /** Unix ms. */
  created_at: number;
  /** The hook event. */
  event: string;
  /** The memory. */
  memory_id: number;
  /** Its search score, when it came from a search. */
  score: number | null;
  /** Claude Code's session id. */
  session_id: string;
}

/** `GET /api/injections`. */
export interface InjectionsAnswer {
  injections: Injection[];
}

/** `POST /api/models/{id}/install` (all optional). */
export interface InstallRequest {
  /** Install from this local file or directory instead of downloading. */
  from?: string | null;
  replace?: boolean;
}

/** A model on disk. */
export interface InstalledModel {
  size_on_disk: number;
  /** `installed`, `partial` or `damaged: …`. */
  state: string;
}

/** A queued, running or finished job. */
export interface Job {
  /** Attempts so far. */
  attempts: number;
  /** Unix ms. */
  created_at: number;
  /** Id. */
  id: number;
  /** What to do. */
  kind: JobKind;
  /** Why the last attempt failed. */
  last_error: string | null;
  /** Extra data. */
  payload: unknown;
  /** Not before this time (unix ms). */
  run_after: number;
  /** Claude Code's session id. */
  session_id: string;
  /** `queued`, `running`, `done` or `failed`. */
  state: string;
  /** The session's transcript, when known. */
  transcript_path: string | null;
  /** The hook event that last queued it. */
  trigger: string;
  /** Unix ms. */
  updated_at: number;
}

/** Kinds of queued work. */
export type JobKind = "transcript" | "compact_summary";

/** `GET /api/jobs`. */
export interface JobsAnswer {
  jobs: Job[];
}

/** A link made: the team's status and where a new password was kept. */
export interface Linked {
  /**
   * Where the password given went (`null`: none given, or it came from
   * the environment).
   */
  password_stored_in: string | null;
  /** The link and counts. */
  team: TeamStatus;
}

/** Totals of LLM calls. */
export interface LlmTotals {
  /** Tokens generated. */
  completion_tokens: number;
  /** Calls that failed (the work fell back to offline processing). */
  failures: number;
  /** Tokens sent. */
  prompt_tokens: number;
  /** Calls that got an answer. */
  requests: number;
}

/** A project's LLM usage: in all, by purpose, and per day. */
export interface LlmUsage {
  /** By UTC day (`YYYY-MM-DD`), oldest first. */
  by_day: Record<string, LlmTotals>;
  /** By purpose (`structure`, `extract`, `merge`). */
  by_purpose: Record<string, LlmTotals>;
  /** Everything. */
  total: LlmTotals;
}

/** One memory on the clusters map: its embedding projected to 2-D, in [-1, 1]. */
export interface MapPointView {
  cluster_id: number | null;
  domain: string;
  id: number;
  memory_type: MemoryType;
  summary: string;
  x: number;
  y: number;
}

/** `GET /api/memories` without `q`: a page of the list. */
export interface MemoriesAnswer {
  limit: number;
  memories: MemoryView[];
  offset: number;
}

/** One memory (after a change, or on its own). */
export interface MemoryAnswer {
  memory: MemoryView;
}

/** How many memories a project holds. */
export interface MemoryCounts {
  archived: number;
  total: number;
}

/** `GET /api/memories/{id}`: the memory and when it was injected. */
export interface MemoryDetail {
  injections: Injection[];
  memory: MemoryView;
}

/** What kind of knowledge a memory holds. */
export type MemoryType = "fact" | "decision" | "bug" | "pattern" | "context" | "preference" | "skill";

/** A memory as every adapter shows it (the dashboard, MCP's `full` answers). */
export interface MemoryView {
  access_count: number;
  archived: boolean;
  cluster_id: number | null;
  confidence: number;
  content: string;
  created_at: number;
  domain: string;
  /** The model its vector was made with; `null`: none yet. */
  embedding_model: string | null;
  evidence_count: number;
  id: number;
  keywords: string[];
  /** Unix milliseconds, like every time of the API. */
  last_accessed_at: number | null;
  /** The consolidated memory it was merged into. */
  merged_into: number | null;
  /** Shared with the project's team by this person. */
  shared: boolean;
  source: Source;
  /**
   * A file it names was deleted or renamed since: it ranks lower until a
   * person confirms it (`POST /api/memories/{id}/confirm`) or the file
   * comes back.
   */
  stale: Stale | null;
  /** The LLM's structured form (`<what>…</what>` sections), when made. */
  structured: string | null;
  summary: string | null;
  /**
   * The newer memory that overtook this one on the same subject; a
   * superseded memory is listed and searchable but not injected.
   */
  superseded_by: number | null;
  tags: string[];
  /** The teammate who wrote it, for a memory pulled from the project's team. */
  team_author?: string | null;
  type: MemoryType;
  updated_at: number;
}

/** `POST /api/clusters/{id}/merge`: the consolidated memory. */
export interface MergeAnswer {
  cluster: number;
  /** The consolidated memory's id. */
  memory: number;
}

/**
 * One model of `GET /api/models`: its catalogue entry and, when
 * installed, its state on disk.
 */
export interface ModelEntry {
  entry: CatalogueEntry;
  id: string;
  installed: InstalledModel | null;
}

/** One file of a catalogue model. */
export interface ModelFile {
  /**
   * The rounded size the Hub shows, for telling a user what a download
   * costs; never used to check anything. 0 when not known.
   */
  approx_bytes: number;
  /**
   * Name inside the installed model directory (`model.onnx`). An ONNX
   * file with external data must keep the name its graph refers to the
   * data by, and the data file must sit next to it under its own name.
   */
  name: string;
  /** Path inside the Hugging Face repository (`onnx/model.onnx`). */
  repo_path: string;
  /** SHA-256 of the content, lower-case hex, when known. */
  sha256: string | null;
  /** Exact size in bytes, when known. */
  size: number | null;
}

/** A loaded embedding model. */
export interface ModelInfo {
  dimension: number;
  id: string;
}

/** Describes one embedding model: how to feed it and how to read it. */
export interface ModelSpec {
  /** Length of the output vectors. */
  dimension: number;
  /**
   * Stable identifier recorded with every vector, including the variant
   * (`all-minilm-l6-v2-int8`): vectors of two variants are not comparable.
   */
  id: string;
  /** Longest input in tokens (special tokens included); longer texts are truncated. */
  max_tokens: number;
  /** The ONNX file inside the model directory. */
  onnx_file: string;
  /** Prepended to stored passages. */
  passage_prefix: string;
  /** How token vectors become one vector. */
  pooling: Pooling;
  /** Prepended to queries. */
  query_prefix: string;
}

/** How trustworthy an installed model is. */
export type ModelState = {
  state: "verified";
} | {
  state: "unverified";
  /** The files without a known SHA-256. */
  unpinned: string[];
} | {
  /** The files that differ. */
  differing: string[];
  state: "local_build";
} | {
  /** What is wrong, one line per file. */
  problems: string[];
  state: "damaged";
} | {
  state: "unmanaged";
};

/** `GET /api/models`. */
export interface ModelsAnswer {
  /** The model in use, or configured for the next start. */
  active: string | null;
  catalogue: ModelEntry[];
  /** The model loaded now. */
  loaded: string | null;
}

/** How a check came out. */
export type Outcome = "ok" | "warn" | "fail";

/** `PATCH /api/memories/{id}`: fields left out stay as they are. */
export interface PatchRequest {
  confidence?: number | null;
  content?: string | null;
  domain?: string | null;
  tags?: string[] | null;
  type?: MemoryType | null;
}

/** `POST /api/pause`, both ways. */
export interface Paused {
  paused: boolean;
}

/** How token vectors are pooled into one vector per text. */
export type Pooling = "cls" | "mean";

/** `POST /api/projects`. */
export interface ProjectAnswer {
  project: ProjectInfo;
}

/** A project folder the engine knows. */
export interface ProjectInfo {
  memories: MemoryCounts | null;
  name: string | null;
  path: string;
  /** Whether its `.claude-memory/` exists. */
  present: boolean;
}

/** `GET /api/projects`. */
export interface ProjectsAnswer {
  projects: ProjectInfo[];
}

/** Where projects are discovered. */
export interface ProjectsConfig {
  /** How deep below a root a project may be. */
  depth: number;
  /** Directories watched for `.claude-memory/` folders (empty: the home directory). */
  roots: string[];
  /** Directory names never descended into. */
  skip: string[];
  /** A git worktree without its own `.claude-memory/` uses its main repository's. */
  worktrees_use_main: boolean;
}

/** `DELETE /api/memories/{id}?purge=true`. */
export interface PurgedAnswer {
  id: number;
  purged: boolean;
}

/** `POST /api/reload`. */
export interface ReloadAnswer {
  /** The model `config.toml` names now. */
  model: string | null;
  /** The model loaded before. */
  previous: string | null;
  /** The re-embedding task, when the model changed. */
  task: string | null;
}

/** Every check, and whether none failed. */
export interface Report {
  checks: Check[];
  ok: boolean;
}

/** What a save did. */
export type SaveAction = "created" | "updated" | "rejected";

/** Save-pipeline settings. */
export interface SaveConfig {
  /** How many full-text candidates the dedupe check compares against. */
  dedupe_candidates: number;
  /**
   * Jaccard similarity of word sets at or above which a save reinforces an
   * existing memory instead of creating one.
   */
  dedupe_threshold: number;
}

/** The result of a save. */
export interface SaveOutcome {
  /** What happened. */
  action: SaveAction;
  /** Whether a vector was stored with it. */
  embedded: boolean;
  /** The memory created or reinforced; absent when rejected. */
  id: number | null;
  /**
   * Why a save was rejected, which memory it duplicated, or that the
   * memory it created was quarantined.
   */
  reason?: string | null;
  /** Kinds of secret that were redacted before storing. */
  redacted?: string[];
}

/** `POST /api/memories`: answered with the save's [`SaveOutcome`]. */
export interface SaveRequest {
  confidence?: number | null;
  content: string;
  domain?: string | null;
  tags?: string[];
  type?: MemoryType | null;
}

/** `GET /api/memories?q=…`. */
export interface SearchAnswer {
  hits: SearchHitView[];
  /** What Claude Code's prompt hook would inject for a prompt like this search. */
  hook: HookPreview;
  /** The retrievers used: a hybrid search without a model is BM25 only. */
  mode: SearchMode;
}

/** Search and ranking settings. */
export interface SearchConfig {
  /**
   * |bm25| at which the BM25 part of weighted fusion saturates at 1, and
   * at which a BM25-only score is ½.
   */
  bm25_scale: number;
  /** Weight of the normalised BM25 score in weighted fusion. */
  bm25_weight: number;
  /** Candidates fetched from each of FTS and the vector index before fusion. */
  candidates: number;
  /**
   * How much age can lower a score: the final score is multiplied by
   * `1 - decay_weight + decay_weight · 0.5^(age / half_life)`.
   */
  decay_weight: number;
  /**
   * Up to this many vectors in a project, KNN scans full-precision
   * vectors exactly; above it, a sign-bit scan picks candidates that are
   * then re-scored exactly.
   */
  exact_scan_limit: number;
  /** Fusion mode. */
  fusion: Fusion;
  /** Half-lives in days by memory type (`skill` never decays). */
  half_life_days: HalfLives;
  /**
   * A hybrid hit gains this share of the best score among the hits drawn
   * from the turns right before and after it in the same session (see
   * `search::boost_neighbours`); 0 turns it off.
   */
  neighbour_weight: number;
  /** Coarse candidates re-scored per wanted result in the quantised scan. */
  rescore_factor: number;
  /** The `k` of reciprocal-rank fusion. */
  rrf_k: number;
  /** Weight of vector similarity in weighted fusion. */
  vector_weight: number;
}

/** A memory a search found, with the scores that placed it. */
export interface SearchHitView {
  access_count: number;
  archived: boolean;
  /** SQLite's BM25 (negative; more negative is better), when the text matched. */
  bm25: number | null;
  cluster_id: number | null;
  confidence: number;
  content: string;
  created_at: number;
  domain: string;
  /** The model its vector was made with; `null`: none yet. */
  embedding_model: string | null;
  evidence_count: number;
  id: number;
  keywords: string[];
  /** Unix milliseconds, like every time of the API. */
  last_accessed_at: number | null;
  /** The consolidated memory it was merged into. */
  merged_into: number | null;
  /** Final score (fusion × age decay); higher is better. */
  score: number;
  /** Shared with the project's team by this person. */
  shared: boolean;
  source: Source;
  /**
   * A file it names was deleted or renamed since: it ranks lower until a
   * person confirms it (`POST /api/memories/{id}/confirm`) or the file
   * comes back.
   */
  stale: Stale | null;
  /** The LLM's structured form (`<what>…</what>` sections), when made. */
  structured: string | null;
  summary: string | null;
  /**
   * The newer memory that overtook this one on the same subject; a
   * superseded memory is listed and searchable but not injected.
   */
  superseded_by: number | null;
  tags: string[];
  /** The teammate who wrote it, for a memory pulled from the project's team. */
  team_author?: string | null;
  type: MemoryType;
  updated_at: number;
  /** Cosine similarity to the query, when vectors were searched. */
  vector_similarity: number | null;
}

/** Which retrievers a search uses. */
export type SearchMode = "hybrid" | "vector" | "bm25";

/** The local service (`claude-memory serve`, the tray app). */
export interface ServiceConfig {
  /** TCP port on 127.0.0.1. */
  port: number;
  /**
   * Seconds between two background syncs of a project linked to a team
   * database (`claude-memory team link`); a teammate's memory arrives
   * within one interval.
   */
  team_sync_secs: number;
}

/** `GET /api/settings`. */
export interface SettingsAnswer {
  /** `config.toml` as it is (defaults where it says nothing). */
  file: Config;
  /** What the running engine uses. */
  running: Config;
}

/** `PUT /api/settings`. */
export interface SettingsSaved {
  /** Some settings take effect at the next start. */
  restart_required: boolean;
  saved: boolean;
}

/** Where a save came from. */
export type Source = "mcp" | "cli" | "hook" | "transcript" | "import" | "merge";

/**
 * Why a memory may be out of date: a file of the project it names was
 * deleted or renamed.
 */
export interface Stale {
  /** When it was flagged, unix milliseconds. */
  at: number;
  /** The project-relative path that went away. */
  path: string;
  /** `deleted`, `renamed to <path>`, or `missing at session start`. */
  reason: string;
}

/** Counts describing one project. */
export interface Stats {
  /** Archived memories (including merged sources). */
  archived: number;
  /** Average confidence of live memories. */
  avg_confidence: number;
  /** Live memories by domain. */
  by_domain: Record<string, number>;
  /** Live memories by source. */
  by_source: Record<string, number>;
  /** Live memories by type. */
  by_type: Record<string, number>;
  /** Clusters by status. */
  clusters: Record<string, number>;
  /** Size of the database file and its WAL, in bytes. */
  db_bytes: number;
  /** Tokens the LLM used for this project. */
  llm: LlmUsage;
  /** Live (not archived) memories. */
  total: number;
  /** Vectors stored per embedding model. */
  vectors: Record<string, number>;
}

/** `GET /api/stats`. */
export interface StatsAnswer {
  injections_per_day: DayCount[];
  stats: Stats;
}

/** `GET /api/status`. */
export interface StatusAnswer {
  /** What structures memories, e.g. "Azure OpenAI deployment `gpt-4o-mini`"; `null`: offline. */
  llm: string | null;
  /** The embedding model loaded; `null`: full-text search only. */
  model: ModelInfo | null;
  paused: boolean;
  port: number;
  /** Projects the engine knows. */
  projects: number;
  /** Whether the setup wizard has been completed. */
  setup_done: boolean;
  uptime_ms: number;
  version: string;
}

/** Which saves are structured into `<what>/<when>/<do>/<warn>`, and how. */
export interface StructureConfig {
  /** `claude-memory save` and the dashboard. */
  cli: boolean;
  /** Imports. */
  import: boolean;
  /** Saves Claude makes through MCP. */
  mcp: boolean;
  /** Without an LLM, or when it fails, use the deterministic offline structurer. */
  offline: boolean;
  /** How long a save waits for the LLM before structuring offline. */
  timeout_ms: number;
  /** Memories mined from transcripts (and other hook-made ones). */
  transcript: boolean;
}

/** A background task started; its progress arrives on `/api/events`. */
export interface TaskAnswer {
  /** `install:<id>` or `activate:<id>`. */
  task: string;
}

/**
 * Where a long task stands: carried as data so no reader has to match
 * the words of a message.
 */
export type TaskState = "running" | "finished" | "failed" | "cancelled";

/** `GET /api/team`: a project's team, as the dashboard shows it. */
export interface TeamAnswer {
  /**
   * The last sync failed (the dashboard says "team offline"); memories
   * still work from the local copy and changes stay queued.
   */
  offline: boolean;
  /** The link and counts; absent when the project has no team. */
  team: TeamStatus | null;
}

/** Counts for `team status`. */
export interface TeamCounts {
  /** Changes waiting to be published. */
  pending: number;
  /** Memories pulled from teammates. */
  pulled: number;
  /** Memories this person shares. */
  shared: number;
}

/** A project's link to its team. */
export interface TeamLink {
  /** Who this person is to the team. */
  author: string;
  /** Why the last sync failed, if it did. */
  last_error: string | null;
  /** The last sync that finished, unix milliseconds. */
  last_sync_at: number | null;
  /** When the project was linked. */
  linked_at: number;
  /** This machine. */
  origin: string;
  /** The team's change number pulled up to. */
  pull_cursor: number;
  /** The confidence from which the rule shares. */
  share_min_confidence: number;
  /** Memory types shared without being marked (empty: only marked ones). */
  share_types: MemoryType[];
  /** The team project's key: a normalised git origin URL or a name. */
  team_key: string;
  /** The team database, without its password. */
  url: string;
}

/** A project's team, as `team status` shows it. */
export interface TeamStatus {
  /** Shared, pulled and pending counts. */
  counts: TeamCounts;
  /** The link. */
  link: TeamLink;
}

/** `GET /api/timeline`: the project's history and the latest call of each hook. */
export interface TimelineAnswer {
  entries: TimelineEntry[];
  hook_calls: HookCall[];
}

/** One entry of a project's history. */
export interface TimelineEntry {
  /** Unix ms. */
  at: number;
  /**
   * An injection's memories (`[{id, score, similarity, reason, type,
   * content}]`), a saved memory, an inference (`{id, delta, confidence,
   * reason, type, content}`), or a job's state, error and mined count.
   */
  detail: unknown;
  /** `injection`, `save`, `inference` or `job`. */
  kind: string;
  /** Claude Code's session, when known. */
  session_id: string | null;
  /**
   * The hook event (injection), the source (save), what was inferred
   * (`followed`, `ignored`, `warned`, `stale`, `fresh`) or the job's kind.
   */
  what: string;
}

/** `POST /api/clusters/{id}/unmerge`: the memories restored. */
export interface UnmergeAnswer {
  cluster: number;
  /** The ids of the memories restored. */
  restored: number[];
}

/** `POST /api/memories/{id}/validate`. */
export interface ValidateRequest {
  is_valid: boolean;
}

/** `POST /api/models/{id}/verify`. */
export interface VerifyAnswer {
  ok: boolean;
  report: VerifyReport;
  state: string;
}

/** The result of re-hashing an installed model. */
export interface VerifyReport {
  /** Every file. */
  files: FileReport[];
  /** The model's id. */
  id: string;
  /** Overall state. */
  state: ModelState;
}
