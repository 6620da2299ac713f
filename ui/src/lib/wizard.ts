// The setup wizard's steps and the rules for moving between them, apart from
// the page so they can be tested: which step follows, when "Next" is allowed
// (and why not), and which setup calls the chosen projects and scope make.

import type { SetupReport, SetupRequest, SetupScope } from './types';

export const STEPS = [
  { id: 'model', label: 'Embedding model' },
  { id: 'llm', label: 'LLM provider' },
  { id: 'projects', label: 'Projects' },
  { id: 'review', label: 'Review changes' },
  { id: 'apply', label: 'Apply' },
  { id: 'done', label: 'Done' },
] as const;

export type StepId = (typeof STEPS)[number]['id'];

export const SCOPES: { scope: SetupScope; label: string; help: string }[] = [
  {
    scope: 'local',
    label: 'This project, only you',
    help: 'Hooks in .claude/settings.local.json (not committed) and the MCP server in .mcp.json, approved for you.',
  },
  {
    scope: 'shared',
    label: 'This project, the whole team',
    help: 'Hooks in .claude/settings.json, which you commit; the MCP server in .mcp.json.',
  },
  {
    scope: 'user',
    label: 'Every project, only you',
    help: 'Hooks in ~/.claude/settings.json and the MCP server in ~/.claude.json; the chosen projects get their data folder.',
  },
];

/** What the steps' rules look at. */
export interface WizardState {
  step: StepId;
  /** The active model, if any. */
  activeModel: string | null;
  /** A model is downloading or being activated. */
  modelBusy: boolean;
  /** The projects ticked, by absolute path. */
  selected: string[];
  scope: SetupScope;
  /** Dry runs by request key (see `requestKey`), once they all came back. */
  plans: Record<string, SetupReport>;
  /** Dry runs that failed, by request key. */
  planErrors: Record<string, string>;
  /** Applied reports by request key. */
  applied: Record<string, SetupReport>;
  applyErrors: Record<string, string>;
}

export function initialState(): WizardState {
  return {
    step: 'model',
    activeModel: null,
    modelBusy: false,
    selected: [],
    scope: 'local',
    plans: {},
    planErrors: {},
    applied: {},
    applyErrors: {},
  };
}

export function stepIndex(step: StepId): number {
  return STEPS.findIndex((s) => s.id === step);
}

/**
 * The setup calls for the chosen projects and scope, one per project (the
 * engine's setup always names a project; with `user` scope the first call
 * changes the user's files and the others find them done).
 */
export function setupRequests(selected: string[], scope: SetupScope, dryRun: boolean): SetupRequest[] {
  const projects = [...new Set(selected.map((p) => p.trim()).filter(Boolean))];
  return projects.map((project) => ({ project, scope, dry_run: dryRun }));
}

/** A request's key in `plans`/`applied`: its project. */
export function requestKey(r: SetupRequest): string {
  return r.project;
}

/** Why the wizard cannot move on from its step; null when it can. */
export function blocker(s: WizardState): string | null {
  switch (s.step) {
    case 'projects':
      if (setupRequests(s.selected, s.scope, true).length === 0) return 'Choose at least one project.';
      return null;
    case 'review': {
      const wanted = setupRequests(s.selected, s.scope, true).map(requestKey);
      if (wanted.some((k) => s.planErrors[k])) return 'Some changes cannot be made; see the errors above.';
      if (wanted.some((k) => !s.plans[k])) return 'Working out the changes…';
      return null;
    }
    case 'apply': {
      const wanted = setupRequests(s.selected, s.scope, false).map(requestKey);
      if (wanted.some((k) => s.applyErrors[k])) return 'Some changes failed; see the errors above.';
      if (wanted.some((k) => !s.applied[k])) return 'Applying…';
      return null;
    }
    case 'done':
      return 'Setup is complete.';
    default:
      return null;
  }
}

/** The step after this one. */
export function nextStep(step: StepId): StepId {
  const i = stepIndex(step);
  return STEPS[Math.min(i + 1, STEPS.length - 1)]!.id;
}

/** The step before this one; once changes are applied there is no going back. */
export function previousStep(step: StepId): StepId | null {
  if (step === 'model' || step === 'apply' || step === 'done') return null;
  return STEPS[stepIndex(step) - 1]!.id;
}

/**
 * Moves on if the rules allow. Leaving the projects step forgets earlier dry
 * runs (the choice may have changed); leaving review forgets applied results.
 */
export function advance(s: WizardState): WizardState {
  if (blocker(s) !== null) return s;
  const step = nextStep(s.step);
  if (s.step === 'projects') return { ...s, step, plans: {}, planErrors: {} };
  if (s.step === 'review') return { ...s, step, applied: {}, applyErrors: {} };
  return { ...s, step };
}

export function goBack(s: WizardState): WizardState {
  const step = previousStep(s.step);
  return step ? { ...s, step } : s;
}

/** The label of the model step's forward button: skipping is said out loud. */
export function modelNextLabel(s: Pick<WizardState, 'activeModel' | 'modelBusy'>): string {
  if (s.activeModel) return 'Next';
  if (s.modelBusy) return 'Next (the download continues)';
  return 'Skip — full-text (BM25) search until a model is ready';
}

/** Every backup the applied reports made. */
export function backups(reports: SetupReport[]): string[] {
  return reports.flatMap((r) => r.files.map((f) => f.backup).filter((b): b is string => !!b));
}

/** How many files a set of reports changes (or would). */
export function changedFiles(reports: SetupReport[]): number {
  return reports.reduce((n, r) => n + r.files.filter((f) => f.action !== 'unchanged').length, 0);
}
