import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import type { ReactNode } from 'react';
import { auth } from '../lib/api';
import type { Host, HostCheck, HostEvent, HostJob, JobEvent } from '../lib/hosts';
import { HostsBadge } from '../components/HostsBadge';
import { JobLog } from '../components/JobLog';
import { healthFigure } from '../components/HealthChart';
import { AddHostForm, HostsPage, hostBody } from './HostsPage';

// Plotly needs a real canvas: the chart's figure is tested as data (healthFigure)
vi.mock('../components/Plot', () => ({ Figure: () => <div data-testid="figure" /> }));

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** A fetch answering by "METHOD path" (query string dropped); calls are recorded. */
function routes(table: Record<string, (init: RequestInit) => Response>) {
  const calls: { key: string; url: string; body?: string }[] = [];
  const mock = vi.fn(async (url: string, init: RequestInit = {}) => {
    const key = `${init.method ?? 'GET'} ${url.split('?')[0]}`;
    calls.push({ key, url, body: init.body as string | undefined });
    const handler = table[key];
    return handler ? handler(init) : json(404, { detail: `no route ${key}` });
  });
  vi.stubGlobal('fetch', mock);
  return calls;
}

function wrap(node: ReactNode, path = '/') {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>{node}</MemoryRouter>
    </QueryClientProvider>,
  );
}

const HOST: Host = {
  name: 'local',
  address: '127.0.0.1',
  connection: 'local',
  ssh_user: null,
  ssh_port: 22,
  ssh_key: null,
  agent_port: 8101,
  agent_name: null,
  agent_url: null,
  status: 'new',
  status_message: '',
  healthy: false,
  facts: null,
  facts_at: null,
  last_seen_at: null,
  last_check: null,
  last_job: null,
};

const JOB: HostJob = {
  id: '0123456789abcdef',
  host: 'local',
  kind: 'bootstrap',
  check: true,
  status: 'running',
  rc: null,
  changed: null,
  failures: [],
  message: '',
  created_at: '2025-01-01T00:00:00Z',
  started_at: '2025-01-01T00:00:01Z',
  finished_at: null,
};

const ev = (seq: number, rest: Partial<JobEvent>): JobEvent => ({
  seq,
  event: 'runner_on_ok',
  changed: false,
  message: '',
  created_at: '2025-01-01T00:00:02Z',
  ...rest,
});

beforeEach(() => auth.loggedIn());
afterEach(() => vi.unstubAllGlobals());

describe('HostsBadge', () => {
  it('is red with the counts when a host is down or a container failed, and links to Hosts', async () => {
    const now = Date.now();
    const events: HostEvent[] = [
      { id: 1, host: 'gpu-1', kind: 'container_oom_killed', message: 'oom', created_at: new Date(now - 60_000).toISOString() },
    ];
    routes({
      'GET /api/v1/hosts': () => json(200, [HOST, { ...HOST, name: 'gpu-1', status: 'unavailable' }]),
      'GET /api/v1/host-events': () => json(200, events),
    });
    wrap(<HostsBadge />);
    const badge = await screen.findByTestId('hosts-badge');
    await waitFor(() => expect(badge).toHaveTextContent('1 down · 1 failed'));
    expect(badge).toHaveAttribute('data-bad', 'true');
    expect(badge).toHaveClass('hosts-badge-bad');
    expect(badge).toHaveAttribute('href', '/hosts');
  });

  it('is quiet when every host answers', async () => {
    routes({
      'GET /api/v1/hosts': () => json(200, [{ ...HOST, status: 'available', healthy: true }]),
      'GET /api/v1/host-events': () => json(200, []),
    });
    wrap(<HostsBadge />);
    const badge = await screen.findByTestId('hosts-badge');
    expect(badge).toHaveAttribute('data-bad', 'false');
    expect(badge).toHaveTextContent('1 hosts ok');
  });
});

describe('JobLog', () => {
  it('shows task names, changed in amber and failed in red', () => {
    render(
      <JobLog
        events={[
          ev(1, { event: 'playbook_on_task_start', task: 'Install Docker' }),
          ev(2, { status: 'changed', changed: true, host: 'local', task: 'Install Docker', message: 'installed' }),
          ev(3, { event: 'runner_on_failed', status: 'failed', host: 'local', task: 'Start agent', message: 'boom' }),
        ]}
      />,
    );
    const lines = screen.getByTestId('job-log').children;
    expect(lines[0]).toHaveTextContent('TASK [Install Docker]');
    expect(lines[1]).toHaveClass('job-changed');
    expect(lines[1]).toHaveTextContent('installed');
    expect(lines[2]).toHaveClass('job-failed');
    expect(lines[2]).toHaveTextContent('boom');
  });
});

describe('healthFigure', () => {
  it('plots latency, then each GPU memory and temperature, oldest first', () => {
    const checks: HostCheck[] = [
      { checked_at: '2025-01-01T00:00:10Z', status: 'ok', latency_ms: 4, disk_free_bytes: 1, running: 0, message: '', gpus: [{ id: '0', busy: false, memory_used_mb: 900, temperature_c: 51 }] },
      { checked_at: '2025-01-01T00:00:00Z', status: 'ok', latency_ms: 3, disk_free_bytes: 1, running: 0, message: '', gpus: [{ id: '0', busy: false, memory_used_mb: 100, temperature_c: 40 }] },
    ];
    const figure = healthFigure(checks);
    const traces = figure.data as { name: string; x: string[]; y: number[] }[];
    expect(traces.map((t) => t.name)).toEqual(['latency ms', 'GPU 0 MB used', 'GPU 0 °C']);
    expect(traces[0].y).toEqual([3, 4]);
    expect(traces[1].y).toEqual([100, 900]);
    expect(traces[2].y).toEqual([40, 51]);
    // a host without GPUs: latency only
    expect(healthFigure([{ ...checks[0], gpus: [] }]).data).toHaveLength(1);
  });
});

describe('AddHostForm', () => {
  it('posts the host (key as a reference) and shows a 422 next to its field', async () => {
    const message = "field 'ssh_key': no key 'gpu-fleet' in the keys folder";
    const calls = routes({ 'POST /api/v1/hosts': () => json(422, { detail: message }) });
    wrap(<AddHostForm />);
    fireEvent.change(screen.getByPlaceholderText('gpu-01'), { target: { value: 'gpu-1' } });
    fireEvent.change(screen.getByPlaceholderText('10.0.0.5'), { target: { value: '10.1.2.3' } });
    fireEvent.change(screen.getByPlaceholderText('ubuntu'), { target: { value: 'ops' } });
    fireEvent.change(screen.getByPlaceholderText('gpu-fleet'), { target: { value: 'gpu-fleet' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add host' }));
    const error = await screen.findByTestId('error-ssh_key');
    expect(error).toHaveTextContent(message);
    expect(JSON.parse(calls[0].body!)).toEqual({
      name: 'gpu-1',
      address: '10.1.2.3',
      connection: 'ssh',
      ssh_user: 'ops',
      ssh_port: 22,
      ssh_key: 'gpu-fleet',
    });
    expect(screen.getByText(/key itself is never uploaded/)).toBeInTheDocument();
  });

  it('leaves out empty optional fields', () => {
    expect(hostBody({ name: 'a', address: 'b', connection: 'local', ssh_user: '', ssh_port: '', ssh_key: '' })).toEqual({
      name: 'a',
      address: 'b',
      connection: 'local',
    });
  });
});

describe('HostsPage', () => {
  it('runs a dry run and shows its live log, then the facts', async () => {
    let jobs: HostJob[] = [];
    let host = HOST;
    const batches = [
      { events: [ev(1, { event: 'playbook_on_task_start', task: 'Gathering Facts' })], finished: false },
      { events: [ev(2, { status: 'ok', host: 'local', task: 'Gathering Facts', message: 'ok' })], finished: false },
      { events: [], finished: true },
    ];
    const calls = routes({
      'GET /api/v1/hosts': () => json(200, [host]),
      'GET /api/v1/hosts/local/jobs': () => json(200, jobs),
      'GET /api/v1/hosts/local/health': () => json(200, []),
      'GET /api/v1/hosts/local/containers': () =>
        json(200, [
          { checked_at: '2025-01-01T00:00:00Z', container_id: 'c1', name: 'vlmhb-stage-1', task_id: 't', state: 'exited', restarts: 2, exit_code: 137, oom_killed: true },
        ]),
      'POST /api/v1/hosts/local/bootstrap': () => {
        jobs = [JOB];
        return json(202, JOB);
      },
      'GET /api/v1/host-jobs/0123456789abcdef/events': () => {
        const batch = batches.shift()!;
        if (batch.finished) {
          jobs = [{ ...JOB, status: 'successful', rc: 0, changed: 0, finished_at: '2025-01-01T00:00:03Z' }];
          host = {
            ...HOST,
            facts: { distro: 'Debian', distro_version: '12', kernel: '6.1.0', cpus: 2, memory_mb: 24576, disk_free_bytes: 5 * 2 ** 30, cache_path: '/var/cache/vlmhb', docker_version: '28.0.1', gpus: [{ index: 0, name: 'NVIDIA H100', memory_total_mb: 81559, driver_version: '550.54' }] },
            facts_at: '2025-01-01T00:00:03Z',
          };
        }
        return json(200, batch);
      },
    });
    wrap(
      <Routes>
        <Route path="/hosts/:name?" element={<HostsPage />} />
      </Routes>,
      '/hosts/local',
    );
    const detail = await screen.findByTestId('host-detail');
    expect(within(detail).getByText(/Never bootstrapped/)).toBeInTheDocument();
    // the container history: an OOM-killed exit
    const containers = await screen.findByTestId('containers-table');
    expect(within(containers).getByText('137')).toHaveClass('bad');
    expect(within(containers).getByText('yes')).toBeInTheDocument();
    fireEvent.click(within(detail).getByRole('button', { name: 'Check (dry run)' }));
    const log = await screen.findByTestId('job-log', {}, { timeout: 5000 });
    await waitFor(() => expect(log.children).toHaveLength(2), { timeout: 5000 });
    expect(log).toHaveTextContent('TASK [Gathering Facts]');
    const facts = await screen.findByTestId('host-facts', {}, { timeout: 5000 });
    expect(facts).toHaveTextContent('Debian 12');
    expect(facts).toHaveTextContent('6.1.0');
    expect(facts).toHaveTextContent('24.0 GiB');
    expect(facts).toHaveTextContent('5.0 GiB on /var/cache/vlmhb');
    expect(facts).toHaveTextContent('28.0.1');
    expect(facts).toHaveTextContent('NVIDIA H100 · 81559 MB · driver 550.54');
    await waitFor(() => expect(screen.getByTestId('job-status')).toHaveAttribute('data-status', 'successful'));
    const post = calls.find((c) => c.key === 'POST /api/v1/hosts/local/bootstrap')!;
    expect(JSON.parse(post.body!)).toEqual({ check: true });
    const polls = calls.filter((c) => c.key.endsWith('/events')).map((c) => c.url);
    expect(polls[0]).toBe('/api/v1/host-jobs/0123456789abcdef/events?after=0&wait=10');
    expect(polls[1]).toBe('/api/v1/host-jobs/0123456789abcdef/events?after=1&wait=10');
  });
});
