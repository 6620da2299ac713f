import { describe, expect, it } from 'vitest';
import {
  advance,
  backups,
  blocker,
  changedFiles,
  goBack,
  initialState,
  modelNextLabel,
  previousStep,
  requestKey,
  setupRequests,
  STEPS,
  type WizardState,
} from '../src/lib/wizard';
import type { SetupReport } from '../src/lib/types';

function report(project: string | null, dry: boolean, backup: string | null = null): SetupReport {
  return {
    operation: 'setup',
    scope: 'local',
    dry_run: dry,
    project,
    data_dir: project ? { path: `${project}/.claude-memory`, action: 'created' } : null,
    files: [
      { path: `${project}/.mcp.json`, parts: ['mcp_server'], action: 'created', backup: null, diff: '+{}' },
      { path: `${project}/.claude/settings.local.json`, parts: ['hooks', 'mcp_approval'], action: backup ? 'updated' : 'unchanged', backup, diff: '' },
    ],
    notes: [],
  };
}

describe('the setup wizard', () => {
  it('walks the steps in order', () => {
    let s: WizardState = initialState();
    expect(s.step).toBe('model');
    s = advance(s);
    expect(s.step).toBe('llm');
    s = advance(s);
    expect(s.step).toBe('projects');
    expect(blocker(s)).toMatch(/Choose at least one project/);
    expect(advance(s)).toBe(s);
    s = { ...s, selected: ['/a', '/b'] };
    s = advance(s);
    expect(s.step).toBe('review');
    expect(blocker(s)).toMatch(/Working out/);
    s = { ...s, plans: { '/a': report('/a', true) } };
    expect(blocker(s)).not.toBeNull();
    s = { ...s, plans: { ...s.plans, '/b': report('/b', true) } };
    expect(blocker(s)).toBeNull();
    s = advance(s);
    expect(s.step).toBe('apply');
    expect(blocker(s)).toMatch(/Applying/);
    s = { ...s, applied: { '/a': report('/a', false), '/b': report('/b', false) } };
    s = advance(s);
    expect(s.step).toBe('done');
    expect(advance(s)).toBe(s);
  });

  it('blocks on failed dry runs and applies', () => {
    const s: WizardState = { ...initialState(), step: 'review', selected: ['/a'], planErrors: { '/a': 'not JSON' } };
    expect(blocker(s)).toMatch(/cannot be made/);
    const t: WizardState = { ...initialState(), step: 'apply', selected: ['/a'], applyErrors: { '/a': 'denied' } };
    expect(blocker(t)).toMatch(/failed/);
  });

  it('forgets stale dry runs when the projects change', () => {
    const s: WizardState = { ...initialState(), step: 'projects', selected: ['/a'], plans: { '/old': report('/old', true) } };
    expect(advance(s).plans).toEqual({});
  });

  it('goes back, but not past the start nor once changes are applied', () => {
    expect(previousStep('model')).toBeNull();
    expect(previousStep('llm')).toBe('model');
    expect(previousStep('review')).toBe('projects');
    expect(previousStep('apply')).toBeNull();
    expect(previousStep('done')).toBeNull();
    const s: WizardState = { ...initialState(), step: 'done' };
    expect(goBack(s)).toBe(s);
    expect(goBack({ ...initialState(), step: 'llm' }).step).toBe('model');
    expect(STEPS.map((x) => x.id)).toEqual(['model', 'llm', 'projects', 'review', 'apply', 'done']);
  });

  it('makes one setup call per project, whatever the scope', () => {
    expect(setupRequests(['/a', ' /a ', '/b', ''], 'shared', true)).toEqual([
      { project: '/a', scope: 'shared', dry_run: true },
      { project: '/b', scope: 'shared', dry_run: true },
    ]);
    expect(setupRequests([], 'local', true)).toEqual([]);
    expect(setupRequests([], 'user', false)).toEqual([]);
    expect(requestKey({ project: '/a', scope: 'user', dry_run: false })).toBe('/a');
    const s: WizardState = { ...initialState(), step: 'projects', scope: 'user' };
    expect(blocker(s)).toMatch(/Choose at least one project/);
  });

  it('says when the model step skips', () => {
    expect(modelNextLabel({ activeModel: null, modelBusy: false })).toMatch(/^Skip — full-text \(BM25\)/);
    expect(modelNextLabel({ activeModel: null, modelBusy: true })).toMatch(/download continues/);
    expect(modelNextLabel({ activeModel: 'bge-m3', modelBusy: false })).toBe('Next');
  });

  it('lists backups and counts changed files', () => {
    const reports = [report('/a', false, '/a/.claude/settings.local.json.claude-memory.bak'), report('/b', false)];
    expect(backups(reports)).toEqual(['/a/.claude/settings.local.json.claude-memory.bak']);
    expect(changedFiles(reports)).toBe(3);
  });
});
