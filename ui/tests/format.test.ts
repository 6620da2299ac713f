import { describe, expect, it } from 'vitest';
import { ago, baseName, bytes, describeEntry, describeEvent, duration, passedBecause, percent, score, sortedCounts, splitList } from '../src/lib/format';
import { memoryLink, projectOf, routeOf, routeParams } from '../src/lib/router';

describe('format', () => {
  it('scores and percents', () => {
    expect(score(0.81234)).toBe('0.81');
    expect(score(0.81234, 3)).toBe('0.812');
    expect(score(null)).toBe('—');
    expect(percent(0.755)).toBe('76 %');
    expect(percent(undefined)).toBe('—');
  });

  it('bytes', () => {
    expect(bytes(0)).toBe('0 B');
    expect(bytes(512)).toBe('512 B');
    expect(bytes(1536)).toBe('1.5 KiB');
    expect(bytes(20 * 1024 * 1024)).toBe('20 MiB');
    expect(bytes(-1)).toBe('—');
  });

  it('durations and ages', () => {
    expect(duration(5_000)).toBe('5 s');
    expect(duration(12 * 60_000)).toBe('12 min');
    expect(duration(3 * 3_600_000 + 5 * 60_000)).toBe('3 h 5 min');
    expect(duration(2 * 86_400_000)).toBe('2 d');
    expect(ago(1_000, 1_000 + 10_000)).toBe('just now');
    expect(ago(0, 3 * 86_400_000)).toBe('3 d ago');
    expect(ago(null)).toBe('never');
  });

  it('names, lists and counts', () => {
    expect(baseName('/home/me/proj/')).toBe('proj');
    expect(baseName('C:\\code\\app')).toBe('app');
    expect(splitList(' a, b ,, c\nd ')).toEqual(['a', 'b', 'c', 'd']);
    expect(sortedCounts({ b: 2, a: 2, c: 5 })).toEqual([
      ['c', 5],
      ['a', 2],
      ['b', 2],
    ]);
    expect(sortedCounts(undefined)).toEqual([]);
  });

  it('describes events', () => {
    expect(describeEvent({ type: 'saved', project: '/x/proj', id: 4, action: 'created' })).toBe('Memory #4 created in proj');
    expect(describeEvent({ type: 'saved', project: '/x/proj', id: null, action: 'rejected' })).toBe('A memory was rejected in proj');
    expect(describeEvent({ type: 'injected', project: '/p', event: 'UserPromptSubmit', memory_ids: [1, 2] })).toBe(
      '2 memories injected (UserPromptSubmit) in p',
    );
    expect(describeEvent({ type: 'progress', task: 'install:m', done: 512, total: 1024 })).toBe('install:m: 50 % (512 B of 1.0 KiB)');
    expect(describeEvent({ type: 'progress', task: 'activate:m', done: 15, total: 30, message: 're-embedding' })).toBe('activate:m: re-embedding 50 % (15 of 30)');
    expect(describeEvent({ type: 'error', message: 'boom' })).toBe('Error: boom');
    expect(describeEvent({ type: 'project', project: '/p', present: false })).toBe('Project gone: /p');
  });

  it('routes', () => {
    expect(routeOf('#/memories')).toBe('/memories');
    expect(routeOf('#/models?x=1')).toBe('/models');
    expect(routeOf('#/nope')).toBe('/');
    expect(routeOf('')).toBe('/');
    expect(routeOf('#/setup')).toBe('/setup');
    expect(routeParams('#/memories?id=12').get('id')).toBe('12');
    expect(routeParams('#/memories').get('id')).toBeNull();
  });

  it('reads the project a link selects, absolute paths only', () => {
    expect(projectOf('#/memories?project=%2Fhome%2Fme%2Fa%20b%26c')).toBe('/home/me/a b&c');
    expect(projectOf('#/memories?project=/srv/shop')).toBe('/srv/shop');
    expect(projectOf('#/memories?project=C%3A%5Cwork%5Cshop')).toBe('C:\\work\\shop');
    expect(projectOf('#/memories?project=relative/dir')).toBeNull();
    expect(projectOf('#/memories')).toBeNull();
    expect(memoryLink(7)).toBe('#/memories?id=7');
    expect(routeOf(memoryLink(7))).toBe('/memories');
  });
});

describe('timeline', () => {
  it('says why a memory passed the gate', () => {
    expect(passedBecause({ reason: 'similar', similarity: 0.4231 })).toBe('close in meaning (similarity 0.42)');
    expect(passedBecause({ reason: 'shared_words', similarity: null })).toBe("shares the prompt's words");
    expect(passedBecause({ reason: 'briefing', similarity: null })).toBe('session briefing');
    expect(passedBecause({ reason: null, similarity: null })).toBe('reason not recorded');
  });

  it('describes each kind of entry', () => {
    expect(describeEntry({ kind: 'injection', what: 'UserPromptSubmit', detail: [{}, {}] })).toBe('UserPromptSubmit: 2 memories injected');
    expect(describeEntry({ kind: 'save', what: 'mcp', detail: { id: 4, type: 'bug', archived: 0 } })).toBe('Memory #4 saved (bug, from mcp)');
    expect(describeEntry({ kind: 'inference', what: 'followed', detail: { id: 5, delta: 0.05, reason: 'ran `pnpm test` after it was injected' } })).toBe(
      'Memory #5 followed, confidence +0.05: ran `pnpm test` after it was injected',
    );
    expect(describeEntry({ kind: 'inference', what: 'stale', detail: { id: 6, delta: null, reason: 'src/a.rs: deleted' } })).toBe(
      'Memory #6 flagged stale: src/a.rs: deleted',
    );
    expect(describeEntry({ kind: 'job', what: 'transcript', detail: { id: 2, state: 'done', mined: 3 } })).toBe(
      'Transcript job #2 done, 3 memories mined in this session',
    );
    expect(describeEntry({ kind: 'job', what: 'transcript', detail: { id: 3, state: 'failed', error: 'no such file' } })).toBe(
      'Transcript job #3 failed: no such file',
    );
  });
});
