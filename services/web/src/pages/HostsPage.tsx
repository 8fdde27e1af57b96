import { useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, apiFetch } from '../lib/api';
import type { Host } from '../lib/hosts';
import { fieldOf, hostTone } from '../lib/hosts';
import { bytes, relativeTime } from '../lib/format';
import { ErrorBox } from '../components/ErrorBox';
import { HostDetail } from './HostDetail';

/** The Hosts page: every host, the "Add host" form, and one host's detail. */
export function HostsPage() {
  const { name } = useParams();
  const hosts = useQuery({
    queryKey: ['hosts'],
    queryFn: ({ signal }) => apiFetch<Host[]>('/api/v1/hosts', { signal }),
    refetchInterval: 5000,
  });
  const selected = hosts.data?.find((h) => h.name === name);
  return (
    <section>
      <div className="page-head">
        <h1>Hosts</h1>
      </div>
      <ErrorBox error={hosts.error} title="cannot list hosts" />
      <HostsTable hosts={hosts.data} selected={name} />
      {name && !selected && hosts.data && <div className="empty">Host {name} not found.</div>}
      {selected && <HostDetail host={selected} />}
      <AddHostForm />
    </section>
  );
}

export function HostsTable({ hosts, selected }: { hosts: Host[] | undefined; selected?: string }) {
  if (!hosts) return <div className="muted">Loading…</div>;
  if (!hosts.length) return <div className="empty">No hosts yet: add one below.</div>;
  return (
    <table className="table" data-testid="hosts-table">
      <thead>
        <tr>
          <th>Name</th>
          <th>Address</th>
          <th>Status</th>
          <th>Agent</th>
          <th>GPUs</th>
          <th className="num">Disk free</th>
          <th>Last seen</th>
        </tr>
      </thead>
      <tbody>
        {hosts.map((h) => {
          const gpus = h.facts?.gpus ?? [];
          const disk = h.last_check?.disk_free_bytes ?? h.facts?.disk_free_bytes;
          return (
            <tr key={h.name} data-testid="host-row" className={h.name === selected ? 'selected' : ''}>
              <td>
                <Link to={`/hosts/${encodeURIComponent(h.name)}`} className="strong">
                  {h.name}
                </Link>
              </td>
              <td className="mono small">
                {h.address} <span className="muted">({h.connection})</span>
              </td>
              <td>
                <span className={`badge badge-${hostTone(h.status)}`} data-status={h.status} title={h.status_message}>
                  {h.status}
                </span>
                {h.status_message && <div className="muted small clip">{h.status_message}</div>}
              </td>
              <td className="small">{h.agent_url ? <span className="mono">{h.agent_name ?? h.agent_url}</span> : '—'}</td>
              <td className="small">{gpus.length ? gpus.map((g) => g.name).join(', ') : '—'}</td>
              <td className="num small">{disk == null ? '—' : bytes(disk)}</td>
              <td className="small">{relativeTime(h.last_seen_at)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

interface HostDraft {
  name: string;
  address: string;
  connection: string;
  ssh_user: string;
  ssh_port: string;
  ssh_key: string;
}

const EMPTY: HostDraft = { name: '', address: '', connection: 'ssh', ssh_user: '', ssh_port: '22', ssh_key: '' };

/** The body of ``POST /hosts`` for a draft (empty optional fields left out). */
export function hostBody(draft: HostDraft): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: draft.name.trim(),
    address: draft.address.trim(),
    connection: draft.connection,
  };
  if (draft.ssh_user.trim()) body.ssh_user = draft.ssh_user.trim();
  if (draft.ssh_port.trim()) body.ssh_port = Number(draft.ssh_port);
  if (draft.ssh_key.trim()) body.ssh_key = draft.ssh_key.trim();
  return body;
}

export function AddHostForm() {
  const client = useQueryClient();
  const [draft, setDraft] = useState<HostDraft>(EMPTY);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const field = error ? fieldOf(error.message) : null;
  const set = (key: keyof HostDraft) => (e: { target: { value: string } }) =>
    setDraft({ ...draft, [key]: e.target.value });
  const fieldError = (key: string) =>
    field === key && error ? (
      <div className="field-error" role="alert" data-testid={`error-${key}`}>
        {error.message}
      </div>
    ) : null;
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await apiFetch<Host>('/api/v1/hosts', {
        method: 'POST',
        body: JSON.stringify(hostBody(draft)),
        contentType: 'application/json',
      });
      setDraft(EMPTY);
      await client.invalidateQueries({ queryKey: ['hosts'] });
    } catch (exc) {
      setError(exc instanceof ApiError ? exc : new ApiError(0, String(exc)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card add-host" onSubmit={submit} aria-label="Add host">
      <h3>Add host</h3>
      <div className="form-grid">
        <label>
          <span className="label">Name</span>
          <input value={draft.name} onChange={set('name')} required placeholder="gpu-01" />
          {fieldError('name')}
        </label>
        <label>
          <span className="label">Address</span>
          <input value={draft.address} onChange={set('address')} required placeholder="10.0.0.5" />
          {fieldError('address')}
        </label>
        <label>
          <span className="label">Connection</span>
          <select value={draft.connection} onChange={set('connection')}>
            <option value="ssh">ssh</option>
            <option value="local">local (this server)</option>
            <option value="docker">docker (a container)</option>
          </select>
          {fieldError('connection')}
        </label>
        <label>
          <span className="label">SSH user</span>
          <input value={draft.ssh_user} onChange={set('ssh_user')} placeholder="ubuntu" />
          {fieldError('ssh_user')}
        </label>
        <label>
          <span className="label">SSH port</span>
          <input value={draft.ssh_port} onChange={set('ssh_port')} inputMode="numeric" />
          {fieldError('ssh_port')}
        </label>
        <label>
          <span className="label">Key reference</span>
          <input value={draft.ssh_key} onChange={set('ssh_key')} placeholder="gpu-fleet" />
          <div className="hint">
            A name of a key file in the server's keys folder (VLMHB_SSH_KEYS_DIR). The key itself is never
            uploaded, stored or shown.
          </div>
          {fieldError('ssh_key')}
        </label>
      </div>
      {error && !field && <ErrorBox error={error} title="not added" />}
      <div className="row-actions">
        <button type="submit" className="primary" disabled={busy}>
          Add host
        </button>
      </div>
    </form>
  );
}
