import { lazy, Suspense, useMemo } from 'react';
import { useSearchParams } from 'react-router-dom';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { apiFetch } from '../lib/api';
import type { Analytics, ExperimentDetail } from '../lib/types';
import { ErrorBox } from '../components/ErrorBox';
import { Leaderboard } from '../components/Leaderboard';
import { fitFigure } from '../lib/figures';
import { shortLabels } from '../lib/labels';
import { metricPanels } from '../lib/leaderboard';
import { useMetricsSchema } from '../lib/useMetricsSchema';

const Figure = lazy(() => import('../components/Plot').then((m) => ({ default: m.Figure })));

const FIGURES: { key: string; title: string; hint: string }[] = [
  { key: 'quality_latency', title: 'Quality vs latency', hint: 'the Pareto front links the runs no other run beats on both' },
  { key: 'heatmap', title: 'By document class', hint: 'metric per document class × run' },
  { key: 'latency', title: 'Latency distribution', hint: 'per-request latency of each run' },
];

export function ComparePanel({ detail }: { detail: ExperimentDetail }) {
  const [params, setParams] = useSearchParams();
  const metric = params.get('metric') ?? '';
  const query = useQuery({
    // re-read when stages finish: new results change the figures
    queryKey: ['analytics', detail.id, metric, detail.stages_done, detail.status],
    queryFn: ({ signal }) =>
      apiFetch<Analytics>(
        `/api/v1/analytics/${detail.id}${metric ? `?metric=${encodeURIComponent(metric)}` : ''}`,
        { signal },
      ),
    placeholderData: keepPreviousData,
  });
  const schema = useMetricsSchema(detail).data?.metrics;
  const data = query.data;
  const labels = useMemo(() => shortLabels(detail.runs), [detail.runs]);
  const panels = useMemo(
    () =>
      data && schema
        ? metricPanels(data.leaderboard, [...data.quality_metrics, ...data.timing_metrics], schema, labels)
        : [],
    [data, schema, labels],
  );
  const shown = FIGURES.filter((f) => data?.figures[f.key]);
  const extra = data ? Object.keys(data.figures).filter((k) => !FIGURES.some((f) => f.key === k)) : [];
  return (
    <div>
      <div className="filters">
        <label className="label" htmlFor="metric">
          Quality metric
        </label>
        <select
          id="metric"
          value={metric}
          onChange={(e) => setParams(e.target.value ? { metric: e.target.value } : {}, { replace: true })}
        >
          <option value="">default</option>
          {data?.quality_metrics.map((m) => (
            <option key={m}>{m}</option>
          ))}
        </select>
        <span className="muted small">for the scatter and the heatmap</span>
        {query.isFetching && <span className="muted small">loading…</span>}
      </div>
      <ErrorBox error={query.error} />
      {data && panels.length + shown.length + extra.length === 0 && (
        <div className="empty">No results to compare yet — figures appear once runs are evaluated.</div>
      )}
      <Suspense fallback={<div className="muted">Loading charts…</div>}>
        {panels.length > 0 && (
          <p className="muted small">
            Leaderboard: each metric's macro value per run on its own axis, best first; hover a bar for the run.
          </p>
        )}
        <Leaderboard title="Quality" panels={panels.filter((p) => data?.quality_metrics.includes(p.metric))} />
        <Leaderboard title="Speed and load" panels={panels.filter((p) => !data?.quality_metrics.includes(p.metric))} />
        <div className="figures">
          {shown.map((f) => (
            <div key={f.key} className="card figure-card" data-testid={`figure-${f.key}`}>
              <Figure figure={fitFigure(data!.figures[f.key], labels)} />
              <div className="muted small figure-hint">
                <strong>{f.title}:</strong> {f.hint}
              </div>
            </div>
          ))}
          {extra.map((k) => (
            <div key={k} className="card figure-card" data-testid={`figure-${k}`}>
              <Figure figure={fitFigure(data!.figures[k], labels)} />
            </div>
          ))}
        </div>
      </Suspense>
    </div>
  );
}
