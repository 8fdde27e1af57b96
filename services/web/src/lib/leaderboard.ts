/** The leaderboard as one small panel per metric: each with its own axis and direction. */

import { betterHint } from './format';
import type { LeaderboardRow, MetricInfo } from './types';

export interface PanelBar {
  run: string;
  label: string;
  value: number;
}

export interface MetricPanel {
  metric: string;
  info: MetricInfo | undefined;
  /** best first by the metric's direction (leaderboard order without one) */
  bars: PanelBar[];
  /** the value axis: the metric's declared range, open ends from the values */
  range: [number, number];
  /** `better →`, `← better` or '' */
  hint: string;
}

/** The axis of a metric: its declared `range` where both ends are finite, else from 0 (or
 * the smallest value, if negative) to a little above the largest value. */
export function axisRange(values: number[], info: MetricInfo | undefined): [number, number] {
  const [lo, hi] = info?.range ?? [null, null];
  const min = Math.min(0, ...values);
  const max = Math.max(...values);
  const low = lo ?? min;
  const high = hi ?? (max > low ? low + (max - low) * 1.15 : low + 1);
  return [Math.min(low, min), Math.max(high, max)];
}

/**
 * One panel per metric of `metrics` that some run has a value of, the runs' bars labelled
 * by `labels` (run name → short label, the run name where missing).
 */
export function metricPanels(
  rows: LeaderboardRow[],
  metrics: string[],
  schema: Record<string, MetricInfo>,
  labels: Map<string, string>,
): MetricPanel[] {
  const panels: MetricPanel[] = [];
  for (const metric of metrics) {
    const info = schema[metric];
    const bars = rows
      .map((r) => ({ run: r.run, label: labels.get(r.run) ?? r.run, value: r.values[metric] }))
      .filter((b): b is PanelBar => b.value != null && Number.isFinite(b.value));
    if (!bars.length) continue;
    const higher = info?.higher_is_better;
    if (higher != null) bars.sort((x, y) => (higher ? y.value - x.value : x.value - y.value));
    panels.push({ metric, info, bars, range: axisRange(bars.map((b) => b.value), info), hint: betterHint(info) });
  }
  return panels;
}
