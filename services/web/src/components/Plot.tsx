import createPlotlyComponent from 'react-plotly.js/factory';
import Plotly from 'plotly.js-dist-min';
import type { PlotlyFigure } from '../lib/types';

const PlotComponent = createPlotlyComponent(Plotly);

/** A Plotly figure from the API (``figure.to_plotly_json()``), sized to its card; its axes
 * make room for their tick labels. */
export function Figure({ figure, height = 420 }: { figure: PlotlyFigure; height?: number }) {
  const layout = {
    ...figure.layout,
    autosize: true,
    height: (figure.layout.height as number | undefined) ?? height,
    width: undefined,
    margin: { l: 60, r: 20, t: 50, b: 60, ...((figure.layout.margin as object) ?? {}) },
    xaxis: { automargin: true, ...((figure.layout.xaxis as object) ?? {}) },
    yaxis: { automargin: true, ...((figure.layout.yaxis as object) ?? {}) },
  };
  return (
    <PlotComponent
      data={figure.data}
      layout={layout}
      config={{ responsive: true, displaylogo: false }}
      useResizeHandler
      style={{ width: '100%' }}
    />
  );
}
