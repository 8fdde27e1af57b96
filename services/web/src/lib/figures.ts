/** Fitting the API's Plotly figures to their cards: short run labels and the legend under
 * the plot instead of beside it (the axes' automargin is `Figure`'s). */

import type { PlotlyFigure } from './types';

type Trace = Record<string, unknown>;

const relabel = (values: unknown, labels: Map<string, string>) =>
  Array.isArray(values) ? values.map((v) => labels.get(String(v)) ?? String(v)) : values;

/**
 * `figure` with run names shown as their short `labels` (run name → label): trace names
 * (the legend), heatmap columns (tick labels; the hover keeps the full name) and scatter
 * point texts (from their `customdata`, the run names); the legend goes below the plot.
 */
export function fitFigure(figure: PlotlyFigure, labels: Map<string, string>): PlotlyFigure {
  const layout: Record<string, unknown> = { ...figure.layout };
  const data = (figure.data as Trace[]).map((trace) => {
    const out: Trace = { ...trace };
    const name = typeof trace.name === 'string' ? labels.get(trace.name) : undefined;
    if (name) {
      out.name = name;
      out.hovertemplate ??= `${trace.name}<br>%{x}, %{y}<extra></extra>`;
    }
    if (trace.type === 'heatmap' && Array.isArray(trace.x)) {
      layout.xaxis = { ...(layout.xaxis as object), tickvals: trace.x, ticktext: relabel(trace.x, labels) };
    }
    if (trace.type === 'scatter' && Array.isArray(trace.customdata) && Array.isArray(trace.text)) {
      out.text = relabel(trace.customdata, labels);
      out.cliponaxis = false;
    }
    return out;
  });
  // under the axis title (Plotly widens the bottom margin for it)
  layout.legend = { orientation: 'h', x: 0, y: -0.28, yanchor: 'top', ...(layout.legend as object) };
  return { data, layout };
}
