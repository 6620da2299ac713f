import { describe, expect, it } from 'vitest';
import { classifyDiff, diffStat } from '../src/lib/diff';

describe('classifyDiff', () => {
  it('classifies headers, hunks, additions, deletions, context and notes', () => {
    const diff = [
      '--- /p/.mcp.json',
      '+++ /p/.mcp.json',
      '@@ -1,3 +1,4 @@',
      ' {',
      '-  "a": 1',
      '+  "a": 1,',
      '+  "mcpServers": {}',
      '--- this was a deleted line starting with two dashes',
      '+++ and an added one starting with two pluses',
      '\\ No newline at end of file',
      '',
    ].join('\n');
    expect(classifyDiff(diff).map((l) => l.kind)).toEqual(['header', 'header', 'hunk', 'context', 'del', 'add', 'add', 'del', 'add', 'note']);
  });

  it('handles a created file and an empty diff', () => {
    const created = '--- /dev/null\n+++ /p/.claude/settings.local.json\n@@ -0,0 +1,2 @@\n+{\n+}\n';
    const lines = classifyDiff(created);
    expect(lines[0]).toEqual({ kind: 'header', text: '--- /dev/null' });
    expect(diffStat(lines)).toEqual({ added: 2, removed: 0 });
    expect(classifyDiff('')).toEqual([]);
  });
});
