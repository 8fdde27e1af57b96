import { useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { apiFetch } from '../lib/api';
import type { ContainerCheck, Host, HostCheck, HostFacts, HostJob } from '../lib/hosts';
import { hostPath, hostTone } from '../lib/hosts';
import { useJobEvents } from '../lib/useJobEvents';
import { bytes, dateTime, duration, relativeTime } from '../lib/format';
import { ErrorBox } from '../components/ErrorBox';
import { JobLog } from '../components/JobLog';
import { HealthChart } from '../components/HealthChart';

/** One host: bootstrap / dry run with the job's live log, facts, health and containers. */
export function HostDetail({ host }: { host: Host }) {
  const client = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const jobs = useQuery({
    queryKey: ['host-jobs', host.name],
    queryFn: ({ signal }) => apiFetch<HostJob[]>(hostPath(host.name, '/jobs?limit=10'), { signal }),
    refetchInterval: 3000,
  });
  const job = jobs.data?.[0];
  const refresh = () => {
    void client.invalidateQueries({ queryKey: ['hosts'] });
    void client.invalidateQueries({ queryKey: ['host-jobs', host.name] });
  };
  const live = useJobEvents(job?.id, refresh);
  const running = job != null && ['queued', 'running'].includes(job.status);
  const start = async (check: boolean) => {
    setError(null);
    try {
      await apiFetch<HostJob>(hostPath(host.name, '/bootstrap'), {
        method: 'POST',
        body: JSON.stringify({ check }),
        contentType: 'application/json',
      });
      refresh();
    } catch (exc) {
      setError(exc);
    }
  };
  const cancel = async (id: string) => {
    try {
      await apiFetch<HostJob>(`/api/v1/host-jobs/${id}/cancel`, { method: 'POST' });
      refresh();
    } catch (exc) {
      setError(exc);
    }
  };
  return (
    <div className="card host-detail" data-testid="host-detail">
      <div className="page-head">
        <h2>
          {host.name}{' '}
          <span className={`badge badge-${hostTone(host.status)}`} data-status={host.status}>
            {host.status}
          </span>
        </h2>
        <div className="row-actions">
          <button className="primary" disabled={running} onClick={() => void start(false)}>
            Bootstrap
          </button>
          <button disabled={running} onClick={() => void start(true)}>
            Check (dry run)
          </button>
          {running && job && (
            <button className="danger" onClick={() => void cancel(job.id)}>
              Cancel
            </button>
          )}
        </div>
      </div>
      {host.status_message && <div className="message">{host.status_message}</div>}
      <ErrorBox error={error} title="not started" />
      <div className="host-grid">
        <div className="host-col">
          <h3>Job</h3>
          {job ? (
            <JobSummary job={job} />
          ) : (
            <div className="muted small">Never bootstrapped: press Bootstrap, or Check for a dry run.</div>
          )}
          {live.error && <ErrorBox error={live.error} title="log" />}
          {job && <JobLog events={live.events} />}
        </div>
        <div className="host-col">
          <h3>Facts</h3>
          <FactsView facts={host.facts} at={host.facts_at} />
        </div>
      </div>
      <HealthSection host={host.name} />
      <ContainersSection host={host.name} />
    </div>
  );
}

function JobSummary({ job }: { job: HostJob }) {
  return (
    <div className="job-summary" data-testid="job-summary">
      <span className={`badge badge-${hostTone(job.status)}`} data-testid="job-status" data-status={job.status}>
        {job.status}
      </span>{' '}
      <span className="small">
        {job.check ? 'dry run' : 'bootstrap'} · {dateTime(job.created_at)}
        {job.started_at && ` · ${duration(job.started_at, job.finished_at)}`}
        {job.changed != null && ` · ${job.changed} changed`}
        {job.rc != null && ` · rc ${job.rc}`}
      </span>
      {job.message && <div className="small">{job.message}</div>}
      {job.failures.length > 0 && (
        <ul className="failures">
          {job.failures.map((f) => (
            <li key={f} className="bad small">
              {f}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function FactsView({ facts, at }: { facts: HostFacts | null; at: string | null }) {
  if (!facts) return <div className="muted small">No facts yet: they are gathered by a bootstrap or a dry run.</div>;
  const rows: [string, string][] = [
    ['Distribution', [facts.distro, facts.distro_version].filter(Boolean).join(' ') || '—'],
    ['Kernel', facts.kernel ?? '—'],
    ['CPUs', facts.cpus == null ? '—' : `${facts.cpus}${facts.architecture ? ` (${facts.architecture})` : ''}`],
    ['Memory', facts.memory_mb == null ? '—' : `${(facts.memory_mb / 1024).toFixed(1)} GiB`],
    [
      'Disk free',
      facts.disk_free_bytes == null ? '—' : `${bytes(facts.disk_free_bytes)}${facts.cache_path ? ` on ${facts.cache_path}` : ''}`,
    ],
    ['Docker', facts.docker_version ?? 'not installed'],
  ];
  return (
    <div data-testid="host-facts">
      <table className="facts">
        <tbody>
          {rows.map(([k, v]) => (
            <tr key={k}>
              <th>{k}</th>
              <td>{v}</td>
            </tr>
          ))}
          <tr>
            <th>GPUs</th>
            <td>
              {facts.gpus?.length
                ? facts.gpus.map((g) => (
                    <div key={g.index}>
                      #{g.index} {g.name}
                      {g.memory_total_mb != null && ` · ${g.memory_total_mb} MB`}
                      {g.driver_version && ` · driver ${g.driver_version}`}
                    </div>
                  ))
                : 'none'}
            </td>
          </tr>
        </tbody>
      </table>
      <div className="muted small">gathered {relativeTime(at)}</div>
    </div>
  );
}

function HealthSection({ host }: { host: string }) {
  const checks = useQuery({
    queryKey: ['host-health', host],
    queryFn: ({ signal }) => apiFetch<HostCheck[]>(hostPath(host, '/health?limit=200'), { signal }),
    refetchInterval: 5000,
  });
  const rows = checks.data ?? [];
  return (
    <div className="host-section">
      <h3>Health</h3>
      <ErrorBox error={checks.error} />
      <HealthChart checks={rows} />
      {rows.length > 0 && (
        <table className="table compact" data-testid="health-table">
          <thead>
            <tr>
              <th>Checked</th>
              <th>Status</th>
              <th className="num">Latency</th>
              <th className="num">Disk free</th>
              <th>GPUs</th>
              <th className="num">Running</th>
              <th>Message</th>
            </tr>
          </thead>
          <tbody>
            {rows.slice(0, 5).map((c) => (
              <tr key={c.checked_at}>
                <td className="small">{dateTime(c.checked_at)}</td>
                <td>
                  <span className={`badge badge-${c.status === 'ok' ? 'ok' : 'bad'}`}>{c.status}</span>
                </td>
                <td className="num small">{c.latency_ms == null ? '—' : `${c.latency_ms.toFixed(0)} ms`}</td>
                <td className="num small">{c.disk_free_bytes == null ? '—' : bytes(c.disk_free_bytes)}</td>
                <td className="small">
                  {c.gpus.length
                    ? c.gpus
                        .map((g) =>
                          [
                            g.memory_used_mb != null ? `${g.memory_used_mb}/${g.memory_total_mb ?? '?'} MB` : null,
                            g.temperature_c != null ? `${g.temperature_c} °C` : null,
                          ]
                            .filter(Boolean)
                            .join(' '),
                        )
                        .join('; ')
                    : '—'}
                </td>
                <td className="num small">{c.running}</td>
                <td className="small clip">{c.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function ContainersSection({ host }: { host: string }) {
  const rows = useQuery({
    queryKey: ['host-containers', host],
    queryFn: ({ signal }) => apiFetch<ContainerCheck[]>(hostPath(host, '/containers?limit=50'), { signal }),
    refetchInterval: 5000,
  });
  return (
    <div className="host-section">
      <h3>Containers</h3>
      <ErrorBox error={rows.error} />
      {rows.data && rows.data.length === 0 && <div className="muted small">No stage containers seen yet.</div>}
      {rows.data && rows.data.length > 0 && (
        <table className="table compact" data-testid="containers-table">
          <thead>
            <tr>
              <th>Seen</th>
              <th>Container</th>
              <th>State</th>
              <th className="num">Restarts</th>
              <th className="num">Exit code</th>
              <th>OOM killed</th>
            </tr>
          </thead>
          <tbody>
            {rows.data.map((c) => {
              const failed = c.oom_killed || (c.exit_code != null && c.exit_code !== 0);
              return (
                <tr key={`${c.container_id}-${c.checked_at}`} className={failed ? 'failed-row' : ''}>
                  <td className="small">{dateTime(c.checked_at)}</td>
                  <td className="small mono" title={c.container_id}>
                    {c.name}
                  </td>
                  <td className="small">{c.state}</td>
                  <td className="num small">{c.restarts}</td>
                  <td className={`num small ${failed ? 'bad' : ''}`}>{c.exit_code ?? '—'}</td>
                  <td className={`small ${c.oom_killed ? 'bad strong' : ''}`}>{c.oom_killed ? 'yes' : 'no'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}
