// The shapes of the engine's `/api` answers (see crates/cm-server/src/api.rs).

export interface Memory {
  id: number;
  content: string;
  structured: string | null;
  summary: string | null;
  type: string;
  domain: string;
  tags: string[];
  keywords: string[];
  confidence: number;
  evidence_count: number;
  access_count: number;
  last_accessed_at: number | null;
  created_at: number;
  updated_at: number;
  source: string;
  embedding_model: string | null;
  archived: boolean;
  merged_into: number | null;
  cluster_id: number | null;
}

export interface SearchHit extends Memory {
  score: number;
  vector_similarity: number | null;
  bm25: number | null;
}

export interface SearchAnswer {
  hits: SearchHit[];
  mode: 'hybrid' | 'bm25' | 'vector';
  /** What Claude Code's prompt hook would inject for a prompt like this search. */
  hook?: { injects: number[]; limit: number; min_similarity: number };
}

export interface MemoriesAnswer {
  memories: Memory[];
  limit: number;
  offset: number;
}

export interface MemoryAnswer {
  memory: Memory;
}

export interface Injection {
  session_id: string;
  event: string;
  memory_id: number;
  score: number | null;
  created_at: number;
}

/** One memory of a hook answer in the timeline. */
export interface TimelineMemory {
  id: number;
  score: number | null;
  similarity: number | null;
  /** Why it passed the gate: similar, shared_words or briefing (null: recorded before this was kept). */
  reason: string | null;
  type: string;
  content: string;
}

export interface TimelineEntry {
  kind: 'injection' | 'save' | 'job';
  at: number;
  session_id: string | null;
  /** The hook event, the save's source, or the job's kind. */
  what: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  detail: any;
}

export interface HookCall {
  event: string;
  session_id: string | null;
  outcome: string;
  injected: number;
  at: number;
}

export interface TimelineAnswer {
  entries: TimelineEntry[];
  hook_calls: HookCall[];
}

export interface DoctorCheck {
  name: string;
  outcome: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

export interface MemoryDetail {
  memory: Memory;
  injections: Injection[];
}

export interface Status {
  version: string;
  uptime_ms: number;
  port: number;
  paused: boolean;
  projects: number;
  model: { id: string; dimension: number } | null;
  /** The LLM that structures memories, e.g. "Azure OpenAI deployment `gpt-4o-mini`"; null: offline. */
  llm?: string | null;
  /** Whether the setup wizard has been completed (absent from older engines). */
  setup_done?: boolean;
}

export interface ProjectInfo {
  path: string;
  name: string | null;
  present: boolean;
  memories: { total: number; archived: number } | null;
}

export interface ProjectsAnswer {
  projects: ProjectInfo[];
}

export interface ProjectAnswer {
  project: ProjectInfo;
}

export interface Stats {
  total: number;
  archived: number;
  by_type: Record<string, number>;
  by_domain: Record<string, number>;
  by_source: Record<string, number>;
  clusters: Record<string, number>;
  avg_confidence: number;
  vectors: Record<string, number>;
  db_bytes: number;
}

export interface StatsAnswer {
  stats: Stats;
  injections_per_day: { day: string; count: number }[];
}

export interface Cluster {
  id: number;
  theme: string;
  domain: string;
  member_count: number;
  avg_confidence: number;
  status: string;
}

export interface ClustersAnswer {
  clusters: Cluster[];
}

export interface ModelEntry {
  id: string;
  entry: Record<string, unknown>;
  installed: { state: string; size_on_disk: number } | null;
}

export interface ModelsAnswer {
  catalogue: ModelEntry[];
  active: string | null;
  loaded: string | null;
}

/** config.toml as JSON: known sections are edited in the form, the rest kept as they are. */
export type ConfigFile = Record<string, Record<string, unknown>>;

export interface SettingsAnswer {
  file: ConfigFile;
  running: ConfigFile;
}

/** One event of GET /api/events. */
export interface EngineEvent {
  type: string;
  [key: string]: unknown;
}

/** The LLM provider (`[llm.provider]`): one shape per kind. */
export type LlmProvider =
  | { kind: 'none' }
  | { kind: 'azure'; endpoint: string; deployment: string; api_version: string }
  | { kind: 'openai'; model: string; base_url: string | null }
  | { kind: 'compatible'; base_url: string; model: string };

export type LlmKind = LlmProvider['kind'];

export interface LlmConfig {
  provider: LlmProvider;
  timeout_ms: number;
  max_retries: number;
  concurrency: number;
  temperature: number;
  retry_base_ms: number;
}

/** GET and PUT /api/llm. The key itself never comes back, only whether there is one. */
export interface LlmAnswer {
  config: LlmConfig;
  key: { present: boolean; source: 'keychain' | 'env' | 'file' | null };
  /** What structures memories now, e.g. "Azure OpenAI deployment `gpt-4o-mini`"; null: offline. */
  active: string | null;
  usage: { requests: number; prompt_tokens: number; completion_tokens: number };
}

/** The body of PUT /api/llm and POST /api/llm/test. */
export interface LlmRequest {
  config: LlmConfig;
  /** Absent: keep the stored key. Never empty. */
  api_key?: string;
  clear_key?: boolean;
}

export interface LlmTestAnswer {
  ok: boolean;
  message: string;
  latency_ms: number;
}

export type SetupScope = 'local' | 'shared' | 'user';

export type FileAction = 'created' | 'updated' | 'unchanged' | 'removed';

export interface SetupFileReport {
  path: string;
  parts: string[];
  action: FileAction;
  backup: string | null;
  diff: string;
}

/** What POST /api/setup did, or in a dry run would do. */
export interface SetupReport {
  operation: 'setup' | 'uninstall';
  scope: SetupScope;
  dry_run: boolean;
  project: string | null;
  data_dir: { path: string; action: FileAction } | null;
  files: SetupFileReport[];
  notes: string[];
}

export interface SetupRequest {
  project: string;
  scope: SetupScope;
  dry_run: boolean;
}

/** One memory on the clusters map: its embedding projected to 2-D, in [-1, 1]. */
export interface MapPoint {
  id: number;
  x: number;
  y: number;
  cluster_id: number | null;
  memory_type: string;
  domain: string;
  summary: string;
}

export interface ClusterMapAnswer {
  model: string | null;
  points: MapPoint[];
}
