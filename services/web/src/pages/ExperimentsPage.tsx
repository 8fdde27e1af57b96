import { useState } from 'react';
import { Link } from 'react-router-dom';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { apiFetch } from '../lib/api';
import type { ExperimentPage } from '../lib/types';
import { StatusBadge } from '../components/StatusBadge';
import { ProgressBar } from '../components/ProgressBar';
import { ErrorBox } from '../components/ErrorBox';
import { DeleteExperiment, deletedText } from '../components/DeleteExperiment';
import { dateTime, relativeTime } from '../lib/format';

const STATUSES = ['ACCEPTED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'INTERRUPTED'];
const PAGE = 25;

export function ExperimentsPage() {
  const [name, setName] = useState('');
  const [status, setStatus] = useState('');
  const [offset, setOffset] = useState(0);
  const [notice, setNotice] = useState('');
  const params = new URLSearchParams({ offset: String(offset), limit: String(PAGE), sort: '-created_at' });
  if (name.trim()) params.set('name', name.trim());
  if (status) params.set('status', status);
  const query = useQuery({
    queryKey: ['experiments', params.toString()],
    queryFn: ({ signal }) => apiFetch<ExperimentPage>(`/api/v1/experiments?${params}`, { signal }),
    refetchInterval: 2000,
    placeholderData: keepPreviousData,
  });
  const page = query.data;
  return (
    <section>
      <div className="page-head">
        <h1>Experiments</h1>
        <Link to="/new" className="button primary">
          + New experiment
        </Link>
      </div>
      <div className="filters">
        <input
          placeholder="Filter by name"
          value={name}
          onChange={(e) => {
            setName(e.target.value);
            setOffset(0);
          }}
        />
        <select
          value={status}
          onChange={(e) => {
            setStatus(e.target.value);
            setOffset(0);
          }}
          aria-label="status filter"
        >
          <option value="">all statuses</option>
          {STATUSES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <span className="muted small live-dot" title="refreshed every 2 s">
          {query.isFetching ? '↻' : '●'} live
        </span>
      </div>
      <ErrorBox error={query.error} />
      {notice && (
        <div className="message notice" role="status" data-testid="notice">
          {notice}{' '}
          <button type="button" className="link-button" onClick={() => setNotice('')} aria-label="dismiss">
            ×
          </button>
        </div>
      )}
      {page && page.items.length === 0 && (
        <div className="empty">
          No experiments yet. <Link to="/new">Submit one</Link> — paste an experiment YAML.
        </div>
      )}
      {page && page.items.length > 0 && (
        <table className="table" data-testid="experiments-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Status</th>
              <th>Models</th>
              <th style={{ width: '22%' }}>Progress (stages)</th>
              <th>Created</th>
              <th>Updated</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {page.items.map((e) => (
              <tr key={e.id}>
                <td>
                  <Link to={`/experiments/${e.id}`} className="strong">
                    {e.name}
                  </Link>
                  <div className="muted small mono">{e.id.slice(0, 12)}</div>
                  {e.message && ['FAILED', 'INTERRUPTED', 'CANCELLED'].includes(e.status) && (
                    <div className="muted small clip" title={e.message}>
                      {e.message}
                    </div>
                  )}
                </td>
                <td>
                  <StatusBadge status={e.status} title={e.message} />
                </td>
                <td>
                  <div className="chips">
                    {e.models.map((m) => (
                      <span key={m} className="chip">
                        {m}
                      </span>
                    ))}
                  </div>
                </td>
                <td>
                  <ProgressBar
                    done={e.stages_done}
                    total={e.stages_total || null}
                    fraction={e.progress}
                    tone={e.status === 'FAILED' ? 'bad' : undefined}
                  />
                </td>
                <td title={dateTime(e.created_at)}>{relativeTime(e.created_at)}</td>
                <td title={dateTime(e.updated_at)}>{relativeTime(e.updated_at)}</td>
                <td>
                  <DeleteExperiment small experiment={e} onDeleted={(r) => setNotice(deletedText(e.name, r))} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {page && page.total > PAGE && (
        <Pager offset={offset} limit={PAGE} total={page.total} onChange={setOffset} />
      )}
    </section>
  );
}

export function Pager({
  offset,
  limit,
  total,
  onChange,
}: {
  offset: number;
  limit: number;
  total: number;
  onChange: (offset: number) => void;
}) {
  const last = Math.min(offset + limit, total);
  return (
    <div className="pager">
      <button disabled={offset === 0} onClick={() => onChange(Math.max(0, offset - limit))}>
        ← Prev
      </button>
      <span>
        {total === 0 ? 0 : offset + 1}–{last} of {total}
      </span>
      <button disabled={last >= total} onClick={() => onChange(offset + limit)}>
        Next →
      </button>
    </div>
  );
}
