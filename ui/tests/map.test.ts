import { describe, expect, it } from 'vitest';
import { clusterColors, clusterLabel, mapDatasets, normalisePoints, pointLabel } from '../src/lib/map';
import type { MapPoint } from '../src/lib/types';

const p = (id: number, x: number, y: number, cluster_id: number | null): MapPoint => ({
  id,
  x,
  y,
  cluster_id,
  memory_type: 'bug',
  domain: 'general',
  summary: `memory ${id}`,
});

describe('the clusters map', () => {
  it('keeps points inside [-1, 1] as they are', () => {
    const pts = [p(1, -1, 1, null), p(2, 0.5, -0.25, 3)];
    expect(normalisePoints(pts)).toEqual(pts);
  });

  it('scales points outside [-1, 1] back in and puts NaN at 0', () => {
    const out = normalisePoints([p(1, 4, -2, null), p(2, Number.NaN, 1, null)]);
    expect(out.map((q) => [q.x, q.y])).toEqual([[1, -0.5], [0, 0.25]]);
  });

  it('colours clusters in id order from the palette, wrapping round', () => {
    const colors = clusterColors([p(1, 0, 0, 9), p(2, 0, 0, 2), p(3, 0, 0, null), p(4, 0, 0, 5), p(5, 0, 0, 2)], ['red', 'blue']);
    expect([...colors.entries()]).toEqual([[2, 'red'], [5, 'blue'], [9, 'red']]);
  });

  it('makes one dataset per cluster and a grey one for the rest', () => {
    const sets = mapDatasets([p(1, 0, 0, 7), p(2, 0.1, 0.1, null), p(3, 0.2, 0.2, 7), p(4, 0, 0, 1)], ['c1', 'c2'], 'grey');
    expect(sets.map((s) => [s.label, s.color, s.points.map((q) => q.id)])).toEqual([
      ['Cluster 1', 'c1', [4]],
      ['Cluster 7', 'c2', [1, 3]],
      ['Unclustered', 'grey', [2]],
    ]);
    expect(mapDatasets([], ['c'], 'grey')).toEqual([]);
    expect(mapDatasets([p(1, 0, 0, 7)], ['c'], 'grey', { 7: 'sqlx migrations' })[0]?.label).toBe('sqlx migrations');
  });

  it('names clusters by their theme, cut to fit the legend', () => {
    expect(clusterLabel(3, undefined)).toBe('Cluster 3');
    expect(clusterLabel(3, '  ')).toBe('Cluster 3');
    expect(clusterLabel(3, 'a'.repeat(50), 10)).toBe(`${'a'.repeat(9)}…`);
  });

  it('labels a point with its summary, cut, and its type', () => {
    const long = { ...p(12, 0, 0, null), summary: 'x'.repeat(200) };
    const [summary, meta] = pointLabel(long, 20);
    expect(summary).toHaveLength(20);
    expect(summary!.endsWith('…')).toBe(true);
    expect(meta).toBe('#12 · bug · general');
  });
});
