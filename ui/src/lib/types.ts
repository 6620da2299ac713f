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
