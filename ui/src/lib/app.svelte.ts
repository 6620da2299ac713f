// State shared by the pages: the API client, the projects, the selected
// project, the live event feed and the theme.

import { Api } from './api';
import { applyProgress, parseTask, parseTaskError, startTask, type TaskKind, type TaskProgress } from './progress';
import { streamEvents } from './sse';
import type { FeedEvent, ProjectInfo, Status } from './types';
import { effectiveTheme, loadTheme, type ThemeChoice } from './theme';

export interface FeedItem {
  seq: number;
  at: number;
  event: FeedEvent;
}

const PROJECT_KEY = 'claude-memory.project';

class AppState {
  api = $state<Api | null>(null);
  unauthorized = $state(false);
  projects = $state<ProjectInfo[]>([]);
  projectsError = $state<string | null>(null);
  status = $state<Status | null>(null);
  project = $state<string>(loadProject());
  feed = $state<FeedItem[]>([]);
  stream = $state<'connecting' | 'open' | 'closed' | 'unauthorized' | 'off'>('off');
  streamError = $state<string | null>(null);
  theme = $state<ThemeChoice>(loadTheme());
  systemDark = $state(false);
  /** Model installs and activations by task (`install:<id>`, `activate:<id>`), from the event stream. */
  tasks = $state<Record<string, TaskProgress>>({});
  /** Each listener gets every event (the Models page follows installs). */
  private listeners = new Set<(e: FeedEvent) => void>();
  private seq = 0;
  private abort: AbortController | null = null;

  get dark(): boolean {
    return this.theme === 'system' ? this.systemDark : effectiveTheme(this.theme) === 'dark';
  }

  connect(token: string): void {
    const api = new Api(token);
    api.onUnauthorized = () => {
      this.unauthorized = true;
    };
    this.api = api;
    this.unauthorized = false;
    void this.refreshProjects();
    this.startStream();
  }

  async refreshProjects(): Promise<void> {
    if (!this.api) return;
    try {
      const [projects, status] = await Promise.all([this.api.projects(), this.api.status()]);
      this.projects = projects.projects;
      this.status = status;
      this.projectsError = null;
      if (!this.projects.some((p) => p.path === this.project)) {
        const first = this.projects.find((p) => p.present) ?? this.projects[0];
        this.selectProject(first ? first.path : '');
      }
    } catch (e) {
      this.projectsError = e instanceof Error ? e.message : String(e);
    }
  }

  selectProject(path: string): void {
    this.project = path;
    try {
      sessionStorage.setItem(PROJECT_KEY, path);
    } catch {
      // Not remembered.
    }
  }

  /** Marks a model task as started (before its first event arrives), or failed to start. */
  startTask(kind: TaskKind, id: string, failure?: string): void {
    const task = startTask(kind, Date.now());
    this.tasks[`${kind}:${id}`] = failure ? { ...task, message: failure, failed: true } : task;
  }

  private track(event: FeedEvent): void {
    if (event.type === 'progress') {
      const t = parseTask(event.task);
      if (!t) return;
      const key = `${t.kind}:${t.id}`;
      this.tasks[key] = applyProgress(this.tasks[key], t.kind, event, Date.now());
    } else {
      const f = parseTaskError(event);
      if (!f) return;
      const key = `${f.kind}:${f.id}`;
      const prev = this.tasks[key] ?? startTask(f.kind, Date.now());
      this.tasks[key] = { ...prev, message: f.message, failed: true, eta: null };
    }
  }

  on(listener: (e: FeedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private startStream(): void {
    this.abort?.abort();
    const api = this.api;
    if (!api) return;
    const abort = new AbortController();
    this.abort = abort;
    void streamEvents({
      url: api.url('/events'),
      headers: api.headers(),
      signal: abort.signal,
      onState: (state, error) => {
        this.stream = state;
        this.streamError = error ?? null;
        if (state === 'unauthorized') this.unauthorized = true;
      },
      onMessage: (message) => {
        let event: FeedEvent;
        try {
          const data: unknown = JSON.parse(message.data);
          event = data && typeof data === 'object' && 'type' in data ? (data as FeedEvent) : { type: 'unknown', name: message.event };
        } catch {
          event = { type: 'unknown', name: message.event, raw: message.data };
        }
        this.seq += 1;
        this.feed = [{ seq: this.seq, at: Date.now(), event }, ...this.feed].slice(0, 500);
        if (event.type === 'project' || event.type === 'saved') void this.refreshProjects();
        this.track(event);
        for (const l of this.listeners) l(event);
      },
    });
  }
}

function loadProject(): string {
  try {
    return sessionStorage.getItem(PROJECT_KEY) ?? '';
  } catch {
    return '';
  }
}

export const app = new AppState();
