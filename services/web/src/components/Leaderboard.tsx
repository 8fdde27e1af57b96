import { lazy } from 'react';
import { directionWords, metricValue } from '../lib/format';
import type { MetricPanel } from '../lib/leaderboard';
import type { PlotlyFigure } from '../lib/types';

const Figure = lazy(() => import('./Plot').then((m) => ({ default: m.Figure })));

const BAR_PX = 26;

/** A panel's horizontal bars: best run on top, the value printed beside each bar, the full
 * run name on hover; the value axis is the metric's own. */
export function panelFigure(panel: MetricPanel): PlotlyFigure {
  const higher = panel.info?.higher_is_better;
  return {
    data: [
      {
        type: 'bar',
        orientation: 'h',
        x: panel.bars.map((b) => b.value),
        y: panel.bars.map((b) => b.label),
        customdata: panel.bars.map((b) => b.run),
        text: panel.bars.map((b) => metricValue(b.value)),
        textposition: 'outside',
        cliponaxis: false,
        marker: { color: higher == null ? '#868e96' : '#4c6ef5' },
        hovertemplate: `%{customdata}<br>${panel.metric} %{text}<extra></extra>`,
      },
    ],
    layout: {
      height: 70 + BAR_PX * panel.bars.length,
      margin: { l: 10, r: 40, t: 8, b: 34 },
      showlegend: false,
      bargap: 0.25,
      xaxis: { range: panel.range, zeroline: true, fixedrange: true, nticks: 4, tickangle: 0 },
      yaxis: { autorange: 'reversed', automargin: true, fixedrange: true },
    },
  };
}

/** One small panel per metric (its own axis, a `better →` / `← better` hint). */
export function Leaderboard({ panels, title }: { panels: MetricPanel[]; title: string }) {
  if (!panels.length) return null;
  return (
    <>
    <h3>{title}</h3>
    <div className="metric-panels" data-testid="leaderboard">
      {panels.map((panel) => (
        <div key={panel.metric} className="card metric-panel" data-testid="metric-panel" data-metric={panel.metric}>
          <div className="metric-panel-head">
            <span className="strong" title={panel.info?.description || undefined}>
              {panel.metric}
            </span>
            {panel.info?.unit && <span className="muted small"> ({panel.info.unit})</span>}
            <span className="muted small metric-panel-hint" title={directionWords(panel.info)}>
              {panel.hint || 'no direction'}
            </span>
          </div>
          <Figure figure={panelFigure(panel)} />
        </div>
      ))}
    </div>
    </>
  );
}
