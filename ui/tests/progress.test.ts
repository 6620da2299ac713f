import { describe, expect, it } from 'vitest';
import { applyProgress, etaText, isRunning, parseTask, parseTaskError, speedText, startTask } from '../src/lib/progress';

const MiB = 1024 * 1024;

describe('model task progress', () => {
  it('recognises install and activate tasks', () => {
    expect(parseTask('install:bge-m3')).toEqual({ kind: 'install', id: 'bge-m3' });
    expect(parseTask('activate:all-minilm-l6-v2')).toEqual({ kind: 'activate', id: 'all-minilm-l6-v2' });
    expect(parseTask('reembed')).toBeNull();
    expect(parseTask(3)).toBeNull();
  });

  it("uses the download's own speed and ETA", () => {
    let t = applyProgress(undefined, 'install', { type: 'progress', task: 'install:m', state: 'running', done: 0, total: null, message: 'started' }, 0);
    expect(t.message).toBe('started');
    t = applyProgress(t, 'install', {
      type: 'progress',
      task: 'install:m',
      state: 'running',
      done: 10 * MiB,
      total: 100 * MiB,
      message: null,
      detail: { event: 'progress', file: 'model.onnx', bytes: 10 * MiB, total_bytes: 100 * MiB, bytes_per_sec: 2 * MiB, eta_secs: 45 },
    }, 1000);
    expect(t).toMatchObject({ done: 10 * MiB, total: 100 * MiB, speed: 2 * MiB, eta: 45, message: 'downloading model.onnx' });
    expect(isRunning(t)).toBe(true);
  });

  it('measures speed and ETA when the events carry none', () => {
    let t = startTask('install', 0);
    t = applyProgress(t, 'install', { type: 'progress', task: 'install:m', state: 'running', done: 0, total: 1000 }, 0);
    t = applyProgress(t, 'install', { type: 'progress', task: 'install:m', state: 'running', done: 100 }, 1000);
    expect(t.total).toBe(1000);
    expect(t.speed).toBe(100);
    expect(t.eta).toBe(9);
  });

  it('ends a task when its event says it finished, failed or was cancelled', () => {
    const installed = applyProgress(startTask('install', 0), 'install', { type: 'progress', task: 'install:m', state: 'finished', done: 0, message: 'installed' }, 5);
    expect(installed.finished).toBe(true);
    expect(installed.eta).toBeNull();
    let a = applyProgress(undefined, 'activate', { type: 'progress', task: 'activate:m', state: 'running', done: 0, total: 30, message: 're-embedding' }, 0);
    a = applyProgress(a, 'activate', { type: 'progress', task: 'activate:m', state: 'running', done: 15, total: 30, message: 're-embedding' }, 1000);
    expect(a).toMatchObject({ done: 15, total: 30, finished: false, eta: 1 });
    // The engine's closing event carries only the outcome: done 0, no total.
    a = applyProgress(a, 'activate', { type: 'progress', task: 'activate:m', state: 'finished', done: 0, total: null, message: 'done', detail: null }, 2000);
    expect(a).toMatchObject({ finished: true, done: 30, total: 30 });
    const running = applyProgress(undefined, 'activate', { type: 'progress', task: 'activate:m', state: 'running', done: 12, total: 30, message: 're-embedding' }, 0);
    const failed = applyProgress(running, 'activate', { type: 'progress', task: 'activate:m', state: 'failed', done: 0, total: null, message: 'activating m: disk full' }, 3000);
    expect(failed).toMatchObject({ failed: true, done: 12, total: 30 });
    const cancelled = applyProgress(startTask('install', 0), 'install', { type: 'progress', task: 'install:m', state: 'cancelled', done: 0, message: 'cancelled' }, 5);
    expect(cancelled).toMatchObject({ failed: true, finished: false });
    // Words are not outcomes: a running task whose message reads "done" or "failed" runs on.
    for (const message of ['done', 'installed', 'failed: nothing']) {
      const t = applyProgress(startTask('install', 0), 'install', { type: 'progress', task: 'install:m', state: 'running', done: 1, message }, 5);
      expect(isRunning(t)).toBe(true);
    }
  });

  it('starts afresh after a task ended', () => {
    const ended = { ...startTask('install', 0), done: 500, finished: true };
    const again = applyProgress(ended, 'install', { type: 'progress', task: 'install:m', state: 'running', done: 0, message: 'started' }, 10);
    expect(again).toMatchObject({ done: 0, finished: false, startedAt: 10 });
  });

  it('reads failures from error events by their task', () => {
    expect(parseTaskError({ type: 'error', message: 'installing bge-m3: checksum mismatch', task: 'install:bge-m3' })).toEqual({
      kind: 'install',
      id: 'bge-m3',
      message: 'installing bge-m3: checksum mismatch',
    });
    expect(parseTaskError({ type: 'error', message: 'no runtime', task: 'activate:m' })?.kind).toBe('activate');
    expect(parseTaskError({ type: 'error', message: 'installing x: looks like a task', task: null })).toBeNull();
    expect(parseTaskError({ type: 'saved', project: '/p', id: 1, action: 'created' })).toBeNull();
  });

  it('formats speed and ETA', () => {
    expect(speedText(512)).toBe('512 B/s');
    expect(speedText(1.5 * MiB)).toBe('1.5 MiB/s');
    expect(speedText(null)).toBe('');
    expect(speedText(0)).toBe('');
    expect(etaText(4.2)).toBe('about 5 s left');
    expect(etaText(170)).toBe('about 3 min left');
    expect(etaText(4800)).toBe('about 1 h 20 min left');
    expect(etaText(null)).toBe('');
  });
});
