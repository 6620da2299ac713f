// The clusters map: the engine's 2-D projection of a project's memories,
// grouped into one Chart.js dataset per cluster with a stable colour each
// (clusters in id order take the palette in turn; unclustered points are grey).

import type { MapPoint } from './types';

export interface MapDataset {
  /** The cluster's theme (or `Cluster 3`), or `Unclustered`. */
  label: string;
  clusterId: number | null;
  color: string;
  points: MapPoint[];
}

/**
 * Points with both coordinates in [-1, 1]. The engine promises that range;
 * should a point fall outside (or be NaN), everything is scaled by the
 * largest magnitude and NaN becomes 0, so the chart's fixed axes still hold.
 */
export function normalisePoints(points: MapPoint[]): MapPoint[] {
  const finite = (v: number) => (Number.isFinite(v) ? v : 0);
  let max = 0;
  for (const p of points) max = Math.max(max, Math.abs(finite(p.x)), Math.abs(finite(p.y)));
  const scale = max > 1 ? 1 / max : 1;
  return points.map((p) => ({ ...p, x: finite(p.x) * scale, y: finite(p.y) * scale }));
}

/** Cluster id → colour: the palette in cluster id order, wrapping round. */
export function clusterColors(points: MapPoint[], palette: string[]): Map<number, string> {
  const ids = [...new Set(points.map((p) => p.cluster_id).filter((c): c is number => c !== null))].sort((a, b) => a - b);
  const colors = new Map<number, string>();
  ids.forEach((id, i) => colors.set(id, palette.length ? palette[i % palette.length]! : '#888'));
  return colors;
}

/** A cluster's legend label: its theme when known (cut to `max`), else its id. */
export function clusterLabel(id: number, theme: string | undefined, max = 32): string {
  const t = theme?.trim();
  if (!t) return `Cluster ${id}`;
  return t.length > max ? `${t.slice(0, max - 1).trimEnd()}…` : t;
}

/** One dataset per cluster (in id order, named by `themes`), then the unclustered points, grey. */
export function mapDatasets(points: MapPoint[], palette: string[], grey: string, themes: Record<number, string> = {}): MapDataset[] {
  const normal = normalisePoints(points);
  const colors = clusterColors(normal, palette);
  const byCluster = new Map<number | null, MapPoint[]>();
  for (const p of normal) {
    const list = byCluster.get(p.cluster_id) ?? [];
    list.push(p);
    byCluster.set(p.cluster_id, list);
  }
  const out: MapDataset[] = [...colors.entries()].map(([id, color]) => ({
    label: clusterLabel(id, themes[id]),
    clusterId: id,
    color,
    points: byCluster.get(id) ?? [],
  }));
  const loose = byCluster.get(null);
  if (loose?.length) out.push({ label: 'Unclustered', clusterId: null, color: grey, points: loose });
  return out;
}

/** A point's tooltip: its summary (cut to a readable length), then `#id · type · domain`. */
export function pointLabel(p: MapPoint, max = 90): string[] {
  const summary = p.summary.length > max ? `${p.summary.slice(0, max - 1).trimEnd()}…` : p.summary;
  return [summary, `#${p.id} · ${p.memory_type} · ${p.domain}`];
}
