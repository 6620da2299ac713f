// Unified diffs (as setup's dry run returns them) split into lines that the
// page colours: file headers, hunk headers, additions, deletions, context.

export type DiffKind = 'header' | 'hunk' | 'add' | 'del' | 'context' | 'note';

export interface DiffLine {
  kind: DiffKind;
  text: string;
}

/**
 * Classifies each line of a unified diff. `---`/`+++` are file headers only
 * before a hunk starts (inside a hunk, `--- x` is a deleted line `-- x`);
 * `\ No newline at end of file` is a note. A trailing newline adds no line.
 */
export function classifyDiff(diff: string): DiffLine[] {
  if (!diff) return [];
  const lines = diff.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const out: DiffLine[] = [];
  let inHunk = false;
  for (const text of lines) {
    let kind: DiffKind;
    if (text.startsWith('@@')) {
      kind = 'hunk';
      inHunk = true;
    } else if (!inHunk && (text.startsWith('--- ') || text.startsWith('+++ '))) {
      kind = 'header';
    } else if (text.startsWith('\\')) {
      kind = 'note';
    } else if (text.startsWith('+')) {
      kind = 'add';
    } else if (text.startsWith('-')) {
      kind = 'del';
    } else {
      kind = 'context';
    }
    out.push({ kind, text });
  }
  return out;
}

/** Lines added and removed, as `+3 −1`. */
export function diffStat(lines: DiffLine[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const l of lines) {
    if (l.kind === 'add') added += 1;
    else if (l.kind === 'del') removed += 1;
  }
  return { added, removed };
}
