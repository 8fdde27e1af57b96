import { useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { apiFetch } from '../lib/api';
import type { ComparePage, ExperimentDetail, MetricInfo, Run, SamplePage } from '../lib/types';
import { ErrorBox } from '../components/ErrorBox';
import { SampleImages } from '../components/SampleImages';
import { Answer } from '../components/AnswerDiff';
import { Pager } from './ExperimentsPage';
import { directionArrow, directionWords, improves, metricValue, num } from '../lib/format';
import { useMetricsSchema } from '../lib/useMetricsSchema';
import { shortLabels } from '../lib/labels';

const PAGE = 25;

function runLabel(run: Run): string {
  return `${run.model} · ${run.task}${run.prompt && run.prompt !== 'default' ? ` · ${run.prompt}` : ''}`;
}

export function SamplesPanel({ detail }: { detail: ExperimentDetail }) {
  const [params, setParams] = useSearchParams();
  const runs = detail.runs;
  const mode = params.get('mode') === 'compare' ? 'compare' : 'run';
  const set = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v == null || v === '') next.delete(k);
      else next.set(k, v);
    }
    setParams(next, { replace: true });
  };
  if (runs.length === 0) return <div className="empty">No runs yet.</div>;
  return (
    <div>
      <div className="filters">
        <div className="segmented">
          <button className={mode === 'run' ? 'active' : ''} onClick={() => set({ mode: null })}>
            One run
          </button>
          <button
            className={mode === 'compare' ? 'active' : ''}
            disabled={runs.length < 2}
            title={runs.length < 2 ? 'needs two runs' : 'the same samples in two runs'}
            onClick={() => set({ mode: 'compare' })}
          >
            Compare two runs
          </button>
        </div>
      </div>
      {mode === 'run' ? (
        <RunSamples detail={detail} runId={params.get('run') ?? String(runs[0].id)} onRun={(r) => set({ run: r })} />
      ) : (
        <CompareSamples
          detail={detail}
          a={params.get('a') ?? String(runs[0].id)}
          b={params.get('b') ?? String(runs[1]?.id ?? runs[0].id)}
          onChange={(a, b) => set({ a, b })}
        />
      )}
    </div>
  );
}

function RunSelect({
  runs,
  value,
  onChange,
  label,
}: {
  runs: Run[];
  value: string;
  onChange: (v: string) => void;
  label: string;
}) {
  return (
    <label className="inline">
      <span className="label">{label}</span>
      <select value={value} onChange={(e) => onChange(e.target.value)} aria-label={label}>
        {runs.map((r) => (
          <option key={r.id} value={String(r.id)}>
            {runLabel(r)}
          </option>
        ))}
      </select>
    </label>
  );
}

function Metric({ name, value }: { name: string; value: number | null | undefined }) {
  return (
    <div className="metric">
      <span className="muted">{name}</span> <span className="mono">{metricValue(value)}</span>
    </div>
  );
}

function RunSamples({
  detail,
  runId,
  onRun,
}: {
  detail: ExperimentDetail;
  runId: string;
  onRun: (r: string) => void;
}) {
  const [offset, setOffset] = useState(0);
  const [errorsOnly, setErrorsOnly] = useState(false);
  const query = useQuery({
    queryKey: ['samples', detail.id, runId, offset, errorsOnly, detail.stages_done],
    queryFn: ({ signal }) =>
      apiFetch<SamplePage>(
        `/api/v1/experiments/${detail.id}/runs/${encodeURIComponent(runId)}/samples?offset=${offset}&limit=${PAGE}${errorsOnly ? '&errors_only=true' : ''}`,
        { signal },
      ),
    placeholderData: keepPreviousData,
  });
  const page = query.data;
  return (
    <div>
      <div className="filters">
        <RunSelect
          runs={detail.runs}
          value={runId}
          label="Run"
          onChange={(r) => {
            setOffset(0);
            onRun(r);
          }}
        />
        <label className="inline small">
          <input
            type="checkbox"
            checked={errorsOnly}
            onChange={(e) => {
              setOffset(0);
              setErrorsOnly(e.target.checked);
            }}
          />{' '}
          only samples with errors
        </label>
        {page && <span className="muted small">{page.total} samples</span>}
      </div>
      <ErrorBox error={query.error} />
      {page && page.items.length === 0 && <div className="empty">No samples (yet).</div>}
      {page && page.items.length > 0 && (
        <div className="table-scroll">
        <table className="table samples" data-testid="samples-table">
          <thead>
            <tr>
              <th>Image</th>
              <th>Question</th>
              <th>Ground truth</th>
              <th>Answer</th>
              <th>Metrics</th>
              <th>Latency</th>
            </tr>
          </thead>
          <tbody>
            {page.items.map((s) => {
              return (
                <tr key={s.id} data-testid="sample-row">
                  <td>
                    <SampleImages images={s} id={s.id} />
                    <div className="muted small mono">#{s.id}</div>
                  </td>
                  <td>
                    {s.question}
                    {(s.doc_class || s.question_type) && (
                      <div className="muted small">
                        {s.doc_class} · {s.question_type}
                      </div>
                    )}
                  </td>
                  <td className="mono">{s.ground_truth}</td>
                  <td className="mono">
                    <Answer answer={s.answer} truth={s.ground_truth} />
                    {s.error && <div className="bad small">{s.error}</div>}
                  </td>
                  <td>
                    {Object.entries(s.metrics).map(([m, v]) => (
                      <Metric key={m} name={m} value={v} />
                    ))}
                  </td>
                  <td className="nowrap">
                    {num(s.timings.latency_ms, 0)} ms
                    {s.timings.ttft_ms != null && (
                      <div className="muted small">TTFT {num(s.timings.ttft_ms, 0)} ms</div>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        </div>
      )}
      {page && page.total > PAGE && <Pager offset={offset} limit={PAGE} total={page.total} onChange={setOffset} />}
    </div>
  );
}

/** A metric's change, green when it improves and red when it worsens by the metric's
 * direction (`info`); uncoloured for a metric without one. */
export function Delta({ info, value }: { info: MetricInfo | undefined; value: number | null | undefined }) {
  if (value == null) return <span className="muted">—</span>;
  if (Math.abs(value) < 1e-12) return <span className="muted">±0</span>;
  const better = improves(info, value);
  return (
    <span className={better == null ? '' : better ? 'good' : 'bad'} data-testid="delta">
      {value > 0 ? '+' : ''}
      {metricValue(value)}
    </span>
  );
}

function CompareSamples({
  detail,
  a,
  b,
  onChange,
}: {
  detail: ExperimentDetail;
  a: string;
  b: string;
  onChange: (a: string, b: string) => void;
}) {
  const [offset, setOffset] = useState(0);
  const [onlyDifferent, setOnlyDifferent] = useState(false);
  const same = a === b;
  const query = useQuery({
    queryKey: ['compare', a, b, offset, onlyDifferent, detail.stages_done],
    queryFn: ({ signal }) =>
      apiFetch<ComparePage>(
        `/api/v1/samples/compare?runs=${a},${b}&offset=${offset}&limit=${PAGE}${onlyDifferent ? '&only_different=true' : ''}`,
        { signal },
      ),
    enabled: !same,
    placeholderData: keepPreviousData,
  });
  const page = query.data;
  const schema = useMetricsSchema(detail).data?.metrics ?? {};
  const labels = shortLabels(detail.runs);
  const head = (side: string, id: string) => {
    const run = detail.runs.find((r) => String(r.id) === id);
    return (
      <th className="clip" title={run?.name}>
        {side}: {run ? labels.get(run.name) : `run ${id}`}
      </th>
    );
  };
  return (
    <div>
      <div className="filters">
        <RunSelect runs={detail.runs} value={a} label="Baseline (A)" onChange={(v) => { setOffset(0); onChange(v, b); }} />
        <RunSelect runs={detail.runs} value={b} label="Candidate (B)" onChange={(v) => { setOffset(0); onChange(a, v); }} />
        <label className="inline small">
          <input
            type="checkbox"
            checked={onlyDifferent}
            onChange={(e) => {
              setOffset(0);
              setOnlyDifferent(e.target.checked);
            }}
          />{' '}
          only samples whose answers differ
        </label>
        {page && !same && <span className="muted small">{page.total} samples</span>}
      </div>
      {same && <div className="empty">Pick two different runs.</div>}
      <ErrorBox error={query.error} />
      {!same && page && page.items.length > 0 && (
        <div className="table-scroll">
        <table className="table samples" data-testid="compare-table">
          <thead>
            <tr>
              <th>Image</th>
              <th>Question</th>
              <th>Ground truth</th>
              {head('A', a)}
              {head('B', b)}
              {page.metrics.map((m) => (
                <th key={m} className="num" title={directionWords(schema[m])}>
                  {m}
                  {directionArrow(schema[m])} A → B (Δ)
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {page.items.map((row) => {
              const ansA = row.answers[a];
              const ansB = row.answers[b];
              return (
                <tr key={row.id} className={ansA !== ansB ? 'differs' : ''} data-testid="compare-row">
                  <td>
                    <SampleImages images={row} id={row.id} />
                  </td>
                  <td>
                    {row.question}
                    <div className="muted small">
                      #{row.id} {row.doc_class && `· ${row.doc_class}`}
                    </div>
                  </td>
                  <td className="mono">{row.ground_truth}</td>
                  <td className="mono">
                    <Answer answer={ansA} truth={row.ground_truth} />
                  </td>
                  <td className="mono">
                    <Answer answer={ansB} truth={row.ground_truth} />
                  </td>
                  {page.metrics.map((m) => (
                    <td key={m} className="num nowrap">
                      <span className="mono">
                        {metricValue(row.metrics[m]?.[a])} → {metricValue(row.metrics[m]?.[b])}
                      </span>{' '}
                      (<Delta info={schema[m]} value={row.deltas[m]?.[b]} />)
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
        </div>
      )}
      {!same && page && page.items.length === 0 && <div className="empty">No samples to compare.</div>}
      {!same && page && page.total > PAGE && (
        <Pager offset={offset} limit={PAGE} total={page.total} onChange={setOffset} />
      )}
    </div>
  );
}
