import { lazy, Suspense } from 'react';
import { useSearchParams } from 'react-router-dom';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { apiFetch } from '../lib/api';
import type { Analytics, ExperimentDetail } from '../lib/types';
import { ErrorBox } from '../components/ErrorBox';

const Figure = lazy(() => import('../components/Plot').then((m) => ({ default: m.Figure })));

const FIGURES: { key: string; title: string; hint: string }[] = [
  { key: 'leaderboard', title: 'Leaderboard', hint: 'quality metric per run' },
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
  const data = query.data;
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
        {query.isFetching && <span className="muted small">loading…</span>}
      </div>
      <ErrorBox error={query.error} />
      {data && shown.length + extra.length === 0 && (
        <div className="empty">No results to compare yet — figures appear once runs are evaluated.</div>
      )}
      <div className="figures">
        <Suspense fallback={<div className="muted">Loading charts…</div>}>
          {shown.map((f) => (
            <div key={f.key} className="card figure-card" data-testid={`figure-${f.key}`}>
              <Figure figure={data!.figures[f.key]} />
              <div className="muted small figure-hint">
                <strong>{f.title}:</strong> {f.hint}
              </div>
            </div>
          ))}
          {extra.map((k) => (
            <div key={k} className="card figure-card" data-testid={`figure-${k}`}>
              <Figure figure={data!.figures[k]} />
            </div>
          ))}
        </Suspense>
      </div>
    </div>
  );
}
