// A small client for the engine's `/api`: every call sends the bearer
// token; an error answer becomes an ApiError carrying the engine's message.

import type {
  ClusterMapAnswer,
  ClustersAnswer,
  LlmAnswer,
  LlmRequest,
  LlmTestAnswer,
  MemoriesAnswer,
  MemoryAnswer,
  MemoryDetail,
  ModelsAnswer,
  ProjectAnswer,
  ProjectsAnswer,
  SearchAnswer,
  SettingsAnswer,
  SetupReport,
  SetupRequest,
  StatsAnswer,
  Status,
  TimelineAnswer,
  DoctorReport,
} from './types';
import type { Linked, TeamAnswer } from './api-types';

/** What linking a project to a team asks (`POST /api/team/link`). */
export interface LinkInput {
  url: string;
  password?: string | null;
  name?: string | null;
  author?: string | null;
  share_types?: string[];
  min_confidence?: number | null;
}

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

export type Params = Record<string, string | number | boolean | null | undefined>;

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** `?a=1&b=x` from params, leaving out null, undefined and empty strings. */
export function queryString(params: Params = {}): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === '') continue;
    q.set(key, String(value));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** The memory search and list parameters the Memories page sends. */
export interface MemoryQuery {
  project: string;
  q?: string;
  type?: string;
  domain?: string;
  min_confidence?: number | null;
  archived?: boolean;
  /** List only: memories with this tag (`quarantined`, for review). */
  tag?: string;
  /** List only: memories flagged stale (a file they name went away). */
  stale?: boolean;
  mode?: 'hybrid' | 'bm25' | 'vector';
  limit?: number;
  offset?: number;
}

export class Api {
  readonly base: string;
  private readonly token: string;
  private readonly fetchImpl: FetchLike;
  /** Called on every 401 (the token is wrong or gone). */
  onUnauthorized: (() => void) | null = null;

  constructor(token: string, base = '', fetchImpl?: FetchLike) {
    this.base = base.replace(/\/$/, '');
    this.token = token;
    this.fetchImpl = fetchImpl ?? ((input, init) => fetch(input, init));
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  url(path: string, params?: Params): string {
    return `${this.base}/api${path}${queryString(params)}`;
  }

  async request<T>(method: string, path: string, params?: Params, body?: unknown, signal?: AbortSignal): Promise<T> {
    const init: RequestInit = {
      method,
      headers: this.headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      signal,
    };
    if (body !== undefined) init.body = JSON.stringify(body);
    let response: Response;
    try {
      response = await this.fetchImpl(this.url(path, params), init);
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw new ApiError(0, `The engine does not answer (${e instanceof Error ? e.message : String(e)}). Is \`claude-memory serve\` running?`);
    }
    const text = await response.text();
    let data: unknown = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      if (response.status === 401) this.onUnauthorized?.();
      const message =
        data && typeof data === 'object' && 'error' in data && typeof (data as { error: unknown }).error === 'string'
          ? (data as { error: string }).error
          : `${response.status} ${response.statusText || 'error'}`;
      throw new ApiError(response.status, message);
    }
    return data as T;
  }

  get<T>(path: string, params?: Params, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, params, undefined, signal);
  }

  status(): Promise<Status> {
    return this.get('/status');
  }
  projects(): Promise<ProjectsAnswer> {
    return this.get('/projects');
  }
  /** Registers a folder as a project (an absolute path to an existing directory). */
  addProject(path: string): Promise<ProjectAnswer> {
    return this.request('POST', '/projects', undefined, { path });
  }
  stats(project: string): Promise<StatsAnswer> {
    return this.get('/stats', { project });
  }
  /** `claude-memory doctor`'s checks, as the engine sees them. */
  doctor(): Promise<DoctorReport> {
    return this.get('/doctor');
  }
  /** The project's history, newest first (one session's with `session`). */
  timeline(project: string, session?: string | null, limit = 200): Promise<TimelineAnswer> {
    return this.get('/timeline', { project, session: session || undefined, limit });
  }
  /** A search when `q` is given (scores per hit), else a page of the list. */
  memories(query: MemoryQuery, signal?: AbortSignal): Promise<SearchAnswer | MemoriesAnswer> {
    const { min_confidence, archived, stale, ...rest } = query;
    return this.get(
      '/memories',
      { ...rest, min_confidence: min_confidence ?? undefined, archived: archived ? true : undefined, stale: stale ? true : undefined },
      signal,
    );
  }
  memory(project: string, id: number): Promise<MemoryDetail> {
    return this.get(`/memories/${id}`, { project });
  }
  update(project: string, id: number, patch: Record<string, unknown>): Promise<MemoryAnswer> {
    return this.request('PATCH', `/memories/${id}`, { project }, patch);
  }
  validate(project: string, id: number, isValid: boolean): Promise<MemoryAnswer> {
    return this.request('POST', `/memories/${id}/validate`, { project }, { is_valid: isValid });
  }
  archive(project: string, id: number): Promise<MemoryAnswer> {
    return this.request('DELETE', `/memories/${id}`, { project });
  }
  restore(project: string, id: number): Promise<MemoryAnswer> {
    return this.request('POST', `/memories/${id}/restore`, { project });
  }
  /** Makes a superseded memory live again (injected by hooks). */
  unsupersede(project: string, id: number): Promise<MemoryAnswer> {
    return this.request('POST', `/memories/${id}/unsupersede`, { project });
  }
  /** Shares a memory with the project's team (from the next sync), or stops sharing it. */
  share(project: string, id: number, shared: boolean): Promise<MemoryAnswer> {
    return this.request('POST', `/memories/${id}/${shared ? 'share' : 'unshare'}`, { project });
  }
  /** The project's team link and whether its last sync failed. */
  team(project: string): Promise<TeamAnswer> {
    return this.get('/team', { project });
  }
  /** Links the project to a team database; the password goes to the keychain. */
  linkTeam(project: string, body: LinkInput): Promise<Linked> {
    return this.request('POST', '/team/link', { project }, body);
  }
  /** Unlinks the project from its team (its memories stay). */
  unlinkTeam(project: string): Promise<TeamAnswer> {
    return this.request('DELETE', '/team', { project });
  }
  /** Syncs with the team now. */
  syncTeam(project: string): Promise<TeamAnswer> {
    return this.request('POST', '/team/sync', { project });
  }
  /** Confirms a memory flagged stale still holds: it ranks as before. */
  confirm(project: string, id: number): Promise<MemoryAnswer> {
    return this.request('POST', `/memories/${id}/confirm`, { project });
  }
  clusters(project: string): Promise<ClustersAnswer> {
    return this.get('/clusters', { project });
  }
  /** The project's memories projected to 2-D, with their clusters. */
  clusterMap(project: string): Promise<ClusterMapAnswer> {
    return this.get('/clusters/map', { project });
  }
  models(): Promise<ModelsAnswer> {
    return this.get('/models');
  }
  installModel(id: string, from?: string): Promise<{ task: string }> {
    return this.request('POST', `/models/${encodeURIComponent(id)}/install`, undefined, from ? { from } : {});
  }
  /** Makes an installed model the active one; re-embedding progress arrives on the event stream. */
  activateModel(id: string): Promise<{ task: string }> {
    return this.request('POST', `/models/${encodeURIComponent(id)}/activate`);
  }
  /** Re-hashes an installed model's files; `ok` is false when one is missing or changed. */
  verifyModel(id: string): Promise<{ ok: boolean; state: string }> {
    return this.request('POST', `/models/${encodeURIComponent(id)}/verify`);
  }
  cancelModel(id: string): Promise<{ cancelled: boolean }> {
    return this.request('POST', `/models/${encodeURIComponent(id)}/cancel`);
  }
  llm(): Promise<LlmAnswer> {
    return this.get('/llm');
  }
  saveLlm(body: LlmRequest): Promise<LlmAnswer> {
    return this.request('PUT', '/llm', undefined, body);
  }
  /** Tests the given (unsaved) settings, or the saved ones without a body. */
  testLlm(body?: LlmRequest): Promise<LlmTestAnswer> {
    return this.request('POST', '/llm/test', undefined, body);
  }
  /** Connects Claude Code to a project (or, dry, says exactly what that would change). */
  setup(body: SetupRequest): Promise<SetupReport> {
    return this.request('POST', '/setup', undefined, body);
  }
  /** Marks the first run's setup as complete. */
  setupDone(): Promise<{ ok: boolean }> {
    return this.request('POST', '/setup/done');
  }
  settings(): Promise<SettingsAnswer> {
    return this.get('/settings');
  }
  saveSettings(file: unknown): Promise<{ saved: boolean; restart_required: boolean }> {
    return this.request('PUT', '/settings', undefined, file);
  }
  pause(paused: boolean): Promise<{ paused: boolean }> {
    return this.request('POST', '/pause', undefined, { paused });
  }
}

/** Whether an answer of GET /memories is a search (it has `hits`). */
export function isSearch(answer: SearchAnswer | MemoriesAnswer): answer is SearchAnswer {
  return 'hits' in answer;
}
