import type { MetricInfo } from './types';

export function relativeTime(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toLocaleString();
}

export function duration(start: string | null, end: string | null): string {
  if (!start) return '';
  const ms = (end ? Date.parse(end) : Date.now()) - Date.parse(start);
  if (!(ms >= 0)) return '';
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export function num(value: number | null | undefined, digits = 3): string {
  if (value == null || Number.isNaN(value)) return '—';
  if (Number.isInteger(value)) return String(value);
  return value.toFixed(digits);
}

/**
 * A metric's value, one format everywhere (tables, deltas, charts): 3 decimals under 100,
 * 1 decimal under 1000, none above; `—` when missing.
 */
export function metricValue(value: number | null | undefined): string {
  if (value == null || !Number.isFinite(value)) return '—';
  const size = Math.abs(value);
  return value.toFixed(size < 100 ? 3 : size < 1000 ? 1 : 0);
}

/** `better →` (higher is better), `← better` (lower is better) or nothing: the hint under a
 * horizontal axis where values grow to the right. */
export function betterHint(info: MetricInfo | undefined): string {
  const higher = info?.higher_is_better;
  return higher == null ? '' : higher ? 'better →' : '← better';
}

/**
 * Whether a change of `delta` in a metric is an improvement, by the metric's direction in
 * the API's metric metadata (`info`, from `/experiments/{id}/metrics-schema`); null when the
 * metric has no direction or is not described. Never guessed from the metric's name.
 */
export function improves(info: MetricInfo | undefined, delta: number): boolean | null {
  const higher = info?.higher_is_better;
  if (higher == null || delta === 0) return null;
  return higher ? delta > 0 : delta < 0;
}

/** `↑` (higher is better), `↓` (lower is better) or nothing. */
export function directionArrow(info: MetricInfo | undefined): string {
  const higher = info?.higher_is_better;
  return higher == null ? '' : higher ? '↑' : '↓';
}

/** `higher is better` / `lower is better`, undefined without a direction. */
export function directionWords(info: MetricInfo | undefined): string | undefined {
  const higher = info?.higher_is_better;
  return higher == null ? undefined : `${higher ? 'higher' : 'lower'} is better`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}
