// Formatting helpers shared by the pages.

/** `0.8123` → `0.81`; null/undefined → `—`. */
export function score(value: number | null | undefined, digits = 2): string {
  return value === null || value === undefined || Number.isNaN(value) ? '—' : value.toFixed(digits);
}

/** `0.75` → `75 %`. */
export function percent(value: number | null | undefined): string {
  return value === null || value === undefined || Number.isNaN(value) ? '—' : `${Math.round(value * 100)} %`;
}

/** A byte count as `512 B`, `1.5 KiB`, `20 MiB`, `1.2 GiB`. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n) || n < 0) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const text = unit === 0 || value >= 10 ? Math.round(value).toString() : value.toFixed(1);
  return `${text} ${units[unit]}`;
}

/** A duration in ms as `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 24) return min % 60 ? `${h} h ${min % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** How long ago `then` (ms since the epoch) was, from `now`: `just now`, `5 min ago`, `3 d ago`. */
export function ago(then: number | null | undefined, now = Date.now()): string {
  if (then === null || then === undefined) return 'never';
  const diff = now - then;
  if (diff < 45_000) return 'just now';
  return `${duration(diff)} ago`;
}

/** A timestamp (ms) as a local `YYYY-MM-DD HH:MM`. */
export function dateTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The last part of a path (the project's name), else the path. */
export function baseName(path: string): string {
  const parts = path.split(/[\\/]/).filter(Boolean);
  return parts[parts.length - 1] ?? path;
}

/** `"a, b ,, c"` → `["a", "b", "c"]`. */
export function splitList(text: string): string[] {
  return text
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Entries of a count map, largest first (ties by name). */
export function sortedCounts(map: Record<string, number> | null | undefined): [string, number][] {
  return Object.entries(map ?? {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** One line about an engine event, for the activity feed. */
export function describeEvent(e: { type: string; [k: string]: unknown }): string {
  const project = typeof e.project === 'string' ? baseName(e.project) : null;
  const where = project ? ` in ${project}` : '';
  switch (e.type) {
    case 'saved':
      return e.action === 'rejected'
        ? `A memory was rejected${where}`
        : `Memory #${String(e.id)} ${String(e.action ?? 'saved')}${where}`;
    case 'injected': {
      const ids = Array.isArray(e.memory_ids) ? e.memory_ids : [];
      return `${ids.length} ${ids.length === 1 ? 'memory' : 'memories'} injected (${String(e.event)})${where}`;
    }
    case 'job_queued':
      return `Job #${String(e.job_id)} queued: ${String(e.kind)}${where}`;
    case 'progress': {
      const total = typeof e.total === 'number' ? e.total : null;
      const done = typeof e.done === 'number' ? e.done : 0;
      // Installs count bytes; other tasks (re-embedding) count items.
      const size = String(e.task).startsWith('install:') ? bytes : String;
      const part = total ? ` ${percent(done / total)} (${size(done)} of ${size(total)})` : '';
      const note = typeof e.message === 'string' ? ` ${e.message}` : '';
      return `${String(e.task)}:${note}${part}`;
    }
    case 'project':
      return `Project ${e.present === false ? 'gone' : 'found'}: ${String(e.project ?? '')}`;
    case 'error':
      return `Error: ${String(e.message)}`;
    case 'lagged':
      return `The feed skipped ${String(e.missed)} events`;
    default:
      return `${e.type}${where}`;
  }
}

/** Why a hook let a memory through, for people. */
export function passedBecause(m: { reason: string | null; similarity: number | null }): string {
  const sim = m.similarity === null || m.similarity === undefined ? '' : `similarity ${score(m.similarity)}`;
  switch (m.reason) {
    case 'similar':
      return `close in meaning (${sim})`;
    case 'shared_words':
      return `shares the prompt's words${sim ? ` (${sim})` : ''}`;
    case 'briefing':
      return 'session briefing';
    default:
      return sim || 'reason not recorded';
  }
}

/** The headline of one timeline entry. */
export function describeEntry(e: { kind: string; what: string; detail: unknown }): string {
  switch (e.kind) {
    case 'injection': {
      const n = Array.isArray(e.detail) ? e.detail.length : 0;
      return `${e.what}: ${n} ${n === 1 ? 'memory' : 'memories'} injected`;
    }
    case 'save': {
      const d = e.detail as Record<string, unknown>;
      return `Memory #${String(d.id)} saved (${String(d.type)}, from ${e.what})${d.archived ? ', since archived' : ''}`;
    }
    case 'job': {
      const d = e.detail as Record<string, unknown>;
      const job = e.what === 'compact_summary' ? 'Compact summary' : 'Transcript';
      const mined = typeof d.mined === 'number' && d.state === 'done' ? `, ${d.mined} memories mined in this session` : '';
      const error = d.error && d.state !== 'done' ? `: ${String(d.error)}` : '';
      return `${job} job #${String(d.id)} ${String(d.state)}${mined}${error}`;
    }
    case 'inference': {
      const d = e.detail as Record<string, unknown>;
      const delta = typeof d.delta === 'number' && d.delta !== 0 ? `, confidence ${d.delta > 0 ? '+' : ''}${d.delta.toFixed(2)}` : '';
      const what: Record<string, string> = {
        followed: 'followed',
        ignored: 'ignored',
        warned: 'warned before a failure',
        stale: 'flagged stale',
        fresh: 'no longer stale',
      };
      return `Memory #${String(d.id)} ${what[e.what] ?? e.what}${delta}: ${String(d.reason)}`;
    }
    default:
      return e.kind;
  }
}
