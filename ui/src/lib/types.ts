// The dashboard's names for the engine's `/api` types. Everything the engine
// answers with is generated from the Rust wire types into `api-types.ts`
// (checked by `cargo test --workspace --test api_types`); only what the Rust
// side keeps as free-form JSON is described by hand below.

export type {
  CancelAnswer,
  Check as DoctorCheck,
  Cluster,
  ClusterMapAnswer,
  ClustersAnswer,
  Config,
  CatalogueEntry,
  EngineEvent,
  HookCall,
  Injection,
  MapPointView as MapPoint,
  MemoriesAnswer,
  MemoryAnswer,
  MemoryDetail,
  MemoryType,
  MemoryView as Memory,
  ModelEntry,
  ModelsAnswer,
  ProjectAnswer,
  ProjectInfo,
  ProjectsAnswer,
  Report as DoctorReport,
  SearchAnswer,
  SearchHitView as SearchHit,
  SettingsAnswer,
  Stats,
  StatsAnswer,
  StatusAnswer as Status,
  TaskState,
  TimelineAnswer,
  TimelineEntry,
} from './api-types';

import type { Config, EngineEvent } from './api-types';

/** One memory of a hook answer in the timeline (an injection entry's `detail`). */
export interface TimelineMemory {
  id: number;
  score: number | null;
  similarity: number | null;
  /** Why it passed the gate: similar, shared_words or briefing (null: recorded before this was kept). */
  reason: string | null;
  type: string;
  content: string;
}

/** What the event stream delivers: the engine's events, a note that some
 * were missed, or (from a newer engine) one this dashboard does not know. */
export type FeedEvent =
  | EngineEvent
  | { type: 'lagged'; missed: number }
  | { type: 'unknown'; name: string; raw?: string };

/** A save entry's `detail` in the timeline. */
export interface TimelineSave {
  id: number;
  content: string;
}

/** config.toml as JSON: known sections are edited in the form, the rest kept as they are. */
export type ConfigFile = Record<string, Record<string, unknown>>;

/** The settings as the form edits them: section by section, by name. */
export function configFile(config: Config): ConfigFile {
  return config as unknown as ConfigFile;
}

/** The LLM provider (`[llm.provider]`): one shape per kind. */
export type LlmProvider =
  | { kind: 'none' }
  | { kind: 'azure'; endpoint: string; deployment: string; api_version: string }
  | { kind: 'openai'; model: string; base_url: string | null }
  | { kind: 'compatible'; base_url: string; model: string }
  | { kind: 'anthropic'; model: string; base_url: string | null }
  | { kind: 'claude-code'; model: string | null; command: string | null };

export type LlmKind = LlmProvider['kind'];

export interface LlmConfig {
  provider: LlmProvider;
  timeout_ms: number;
  max_retries: number;
  concurrency: number;
  temperature: number;
  retry_base_ms: number;
  /** Tokens a day in all projects together; 0: no limit. */
  daily_tokens: number;
  /** Tokens a day in any one project; 0: no limit. */
  project_daily_tokens: number;
}

/** GET and PUT /api/llm. The key itself never comes back, only whether there is one. */
export interface LlmAnswer {
  config: LlmConfig;
  key: { present: boolean; source: 'keychain' | 'env' | 'file' | null };
  /** What structures memories now, e.g. "Azure OpenAI deployment `gpt-4o-mini`"; null: offline. */
  active: string | null;
  usage: { requests: number; prompt_tokens: number; completion_tokens: number };
  /** Tokens used today (UTC) in all projects, as the daily limit counts them. */
  today_tokens: number;
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
