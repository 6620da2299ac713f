// Model tasks followed from the event stream: installs (`install:<id>`,
// bytes, with the download's own speed and ETA when it reports them) and
// activations (`activate:<id>`, memories re-embedded). A pure reducer, so
// the Models page and the setup wizard show the same thing.

import type { EngineEvent, FeedEvent, TaskState } from './types';

/** A task's `progress` event (tests and early events may leave fields out). */
export type ProgressEvent = Partial<Extract<EngineEvent, { type: 'progress' }>> & { state?: TaskState };

export type TaskKind = 'install' | 'activate';

export interface TaskProgress {
  kind: TaskKind;
  done: number;
  total: number | null;
  message: string;
  /** The task ended well (installed, re-embedded). */
  finished: boolean;
  failed: boolean;
  /** Bytes per second (installs). */
  speed: number | null;
  /** Seconds left, when known. */
  eta: number | null;
  /** When the task was first seen and the last sample, for a speed the events lack. */
  startedAt: number;
  sampleAt: number;
  sampleDone: number;
}

/** `install:bge-m3` → install of bge-m3; other tasks → null. */
export function parseTask(task: unknown): { kind: TaskKind; id: string } | null {
  if (typeof task !== 'string') return null;
  const m = /^(install|activate):(.+)$/.exec(task);
  return m ? { kind: m[1] as TaskKind, id: m[2]! } : null;
}

export function startTask(kind: TaskKind, now: number, message = 'starting'): TaskProgress {
  return { kind, done: 0, total: null, message, finished: false, failed: false, speed: null, eta: null, startedAt: now, sampleAt: now, sampleDone: 0 };
}

export function isRunning(p: TaskProgress | undefined): boolean {
  return !!p && !p.finished && !p.failed;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * The task's state after one of its `progress` events. Byte counts and
 * totals carry over when an event leaves them out; speed and ETA come from
 * the event's `detail` (`bytes_per_sec`, `eta_secs`) or else from the
 * progress since the last sample.
 */
export function applyProgress(prev: TaskProgress | undefined, kind: TaskKind, e: ProgressEvent, now: number): TaskProgress {
  const base = prev && prev.kind === kind && isRunning(prev) ? prev : startTask(kind, now, '');
  const detail = e.detail && typeof e.detail === 'object' ? (e.detail as Record<string, unknown>) : {};
  const total = num(e.total) ?? base.total;
  const message = typeof e.message === 'string' ? e.message : kind === 'install' ? (detailMessage(detail) ?? base.message) : base.message;
  // How the task ended is data (`state`), never read from the words.
  const finished = e.state === 'finished';
  const failed = e.state === 'failed' || e.state === 'cancelled';
  // Progress only grows within a task; the engine's closing event says
  // `done: 0` (it only carries the outcome), and a finished task did it all.
  let done = Math.max(base.done, num(e.done) ?? 0);
  if (finished && total !== null) done = total;

  let speed = num(detail.bytes_per_sec) ?? null;
  let eta = num(detail.eta_secs) ?? null;
  let { sampleAt, sampleDone } = base;
  if (speed === null && done > base.sampleDone && now > base.sampleAt) {
    const measured = ((done - base.sampleDone) * 1000) / (now - base.sampleAt);
    // Smooth over a few events so a single burst does not swing the estimate.
    speed = base.speed === null ? measured : base.speed * 0.7 + measured * 0.3;
    sampleAt = now;
    sampleDone = done;
  } else if (speed === null) {
    speed = base.speed;
  }
  if (eta === null && total !== null && speed && speed > 0) eta = Math.max(0, (total - done) / speed);
  if (finished || failed) eta = null;
  return { kind, done, total, message, finished, failed, speed, eta, startedAt: base.startedAt, sampleAt, sampleDone };
}

/** The words for a download event without a message of its own. */
function detailMessage(detail: Record<string, unknown>): string | null {
  switch (detail.event) {
    case 'started':
      return 'downloading';
    case 'progress':
      return typeof detail.file === 'string' ? `downloading ${detail.file}` : 'downloading';
    case 'resuming':
      return `connection lost, resuming${typeof detail.reason === 'string' ? ` (${detail.reason})` : ''}`;
    case 'file_verified':
      return typeof detail.file === 'string' ? `checked ${detail.file}` : 'checked';
    default:
      return null;
  }
}

/** A failure reported as an `error` event naming its task: the task and its message. */
export function parseTaskError(e: FeedEvent): { kind: TaskKind; id: string; message: string } | null {
  if (e.type !== 'error') return null;
  const t = parseTask(e.task);
  return t ? { ...t, message: e.message } : null;
}

/** `1.5 MiB/s`; null → ''. */
export function speedText(bytesPerSec: number | null): string {
  if (bytesPerSec === null || !Number.isFinite(bytesPerSec) || bytesPerSec <= 0) return '';
  const units = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s'];
  let v = bytesPerSec;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return `${u === 0 || v >= 10 ? Math.round(v) : v.toFixed(1)} ${units[u]}`;
}

/** Seconds left as `about 5 s`, `about 3 min`, `about 1 h 20 min`; null → ''. */
export function etaText(secs: number | null): string {
  if (secs === null || !Number.isFinite(secs) || secs < 0) return '';
  const s = Math.ceil(secs);
  if (s < 60) return `about ${s} s left`;
  const min = Math.round(s / 60);
  if (min < 60) return `about ${min} min left`;
  const h = Math.floor(min / 60);
  return `about ${h} h${min % 60 ? ` ${min % 60} min` : ''} left`;
}
