import { lazy, Suspense } from 'react';
import type { HostCheck } from '../lib/hosts';
import type { PlotlyFigure } from '../lib/types';

// Plotly is big: loaded with the first chart (as on the Compare tab)
const Figure = lazy(() => import('./Plot').then((m) => ({ default: m.Figure })));

/** The traces of a host's health history (oldest first): latency, then per GPU its memory
 * used and temperature where the checks reported them. */
export function healthFigure(checks: readonly HostCheck[]): PlotlyFigure {
  const ordered = [...checks].sort((a, b) => Date.parse(a.checked_at) - Date.parse(b.checked_at));
  const x = ordered.map((c) => c.checked_at);
  const data: Record<string, unknown>[] = [
    { type: 'scatter', mode: 'lines+markers', name: 'latency ms', x, y: ordered.map((c) => c.latency_ms) },
  ];
  const gpuIds = [...new Set(ordered.flatMap((c) => c.gpus.map((g) => String(g.id ?? g.name ?? '?'))))];
  for (const id of gpuIds) {
    const reading = (c: HostCheck) => c.gpus.find((g) => String(g.id ?? g.name ?? '?') === id);
    const memory = ordered.map((c) => reading(c)?.memory_used_mb ?? null);
    const temperature = ordered.map((c) => reading(c)?.temperature_c ?? null);
    if (memory.some((v) => v != null)) {
      data.push({ type: 'scatter', mode: 'lines', name: `GPU ${id} MB used`, x, y: memory, yaxis: 'y2' });
    }
    if (temperature.some((v) => v != null)) {
      data.push({ type: 'scatter', mode: 'lines', name: `GPU ${id} °C`, x, y: temperature, yaxis: 'y3' });
    }
  }
  return {
    data,
    layout: {
      height: 260,
      margin: { l: 50, r: 90, t: 20, b: 40 },
      legend: { orientation: 'h', y: -0.25 },
      yaxis: { title: { text: 'ms' }, rangemode: 'tozero' },
      yaxis2: { title: { text: 'MB' }, overlaying: 'y', side: 'right', rangemode: 'tozero' },
      yaxis3: { overlaying: 'y', side: 'right', anchor: 'free', position: 1, showticklabels: false },
    },
  };
}

export function HealthChart({ checks }: { checks: readonly HostCheck[] }) {
  if (!checks.length) return <div className="muted small">No health checks yet.</div>;
  return (
    <Suspense fallback={<div className="muted small">Loading chart…</div>}>
      <Figure figure={healthFigure(checks)} height={260} />
    </Suspense>
  );
}
