import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { auth } from './api';
import type { Host, HostEvent, JobEvent } from './hosts';
import { eventTone, fieldOf, followJob, hostTone, unhealthyCounts } from './hosts';

const host = (name: string, status: string): Host => ({
  name,
  address: '127.0.0.1',
  connection: 'local',
  ssh_user: null,
  ssh_port: 22,
  ssh_key: null,
  agent_port: 8101,
  agent_name: null,
  agent_url: null,
  status,
  status_message: '',
  healthy: status === 'available',
  facts: null,
  facts_at: null,
  last_seen_at: null,
  last_check: null,
  last_job: null,
});

const NOW = Date.parse('2025-01-01T12:00:00Z');
const event = (id: number, kind: string, minutesAgo: number): HostEvent => ({
  id,
  host: 'gpu-1',
  kind,
  message: '',
  created_at: new Date(NOW - minutesAgo * 60_000).toISOString(),
});

describe('unhealthyCounts', () => {
  it('counts unavailable/failed hosts and container failures of the last 15 min', () => {
    const hosts = [host('a', 'available'), host('b', 'unavailable'), host('c', 'failed'), host('d', 'new')];
    const events = [
      event(1, 'container_failed', 2),
      event(2, 'container_oom_killed', 14),
      event(3, 'container_failed', 16), // too old
      event(4, 'host_unavailable', 1), // a host event, counted through the host's status
    ];
    expect(unhealthyCounts(hosts, events, NOW)).toEqual({ hosts: 2, containers: 2 });
    expect(unhealthyCounts([host('a', 'available')], [], NOW)).toEqual({ hosts: 0, containers: 0 });
  });
});

describe('tones', () => {
  it('colours host and job states', () => {
    expect(hostTone('available')).toBe('ok');
    expect(hostTone('unavailable')).toBe('bad');
    expect(hostTone('running')).toBe('running');
    expect(hostTone('whatever')).toBe('muted');
  });

  it('marks changed events amber and failed ones red', () => {
    const base = { seq: 1, created_at: '2025-01-01T00:00:00Z', changed: false, message: '' };
    expect(eventTone({ ...base, event: 'runner_on_ok', status: 'changed', changed: true })).toBe('changed');
    expect(eventTone({ ...base, event: 'runner_on_ok', status: 'ok', changed: true })).toBe('changed');
    expect(eventTone({ ...base, event: 'runner_on_failed', status: 'failed' })).toBe('failed');
    expect(eventTone({ ...base, event: 'runner_on_unreachable', status: 'unreachable' })).toBe('failed');
    expect(eventTone({ ...base, event: 'playbook_on_task_start', task: 'Gather facts' })).toBe('task');
    expect(eventTone({ ...base, event: 'playbook_on_stats' })).toBe('info');
  });
});

describe('fieldOf', () => {
  it('finds the field a 422 names', () => {
    expect(fieldOf("field 'ssh_key': 'id_rsa' is not a key in /keys")).toBe('ssh_key');
    expect(fieldOf("field 'connection': 'local' is not allowed here")).toBe('connection');
    expect(fieldOf("body.name: String should match pattern '^[A-Za-z0-9]'")).toBe('name');
    expect(fieldOf('host gpu-1 exists')).toBeNull();
  });
});

describe('followJob', () => {
  beforeEach(() => auth.loggedIn());
  afterEach(() => vi.unstubAllGlobals());

  const ev = (seq: number, status: JobEvent['status'] = 'ok'): JobEvent => ({
    seq,
    event: 'runner_on_ok',
    status,
    task: `t${seq}`,
    changed: false,
    message: '',
    created_at: '2025-01-01T00:00:00Z',
  });

  it('long polls after the last seq until the job has finished', async () => {
    const answers = [
      { events: [ev(1), ev(2, 'changed')], finished: false },
      { events: [], finished: false }, // a wait that timed out
      { events: [ev(3, 'failed')], finished: false },
      { events: [], finished: true },
    ];
    const fetchMock = vi.fn(async () =>
      new Response(JSON.stringify(answers.shift()), { status: 200, headers: { 'content-type': 'application/json' } }),
    );
    vi.stubGlobal('fetch', fetchMock);
    const seen: number[][] = [];
    await followJob('0123456789abcdef', (batch) => seen.push(batch.map((e) => e.seq)), new AbortController().signal, {
      waitS: 7,
    });
    expect(seen).toEqual([[1, 2], [3]]);
    const urls = (fetchMock.mock.calls as unknown as [string][]).map((c) => c[0]);
    expect(urls).toEqual([
      '/api/v1/host-jobs/0123456789abcdef/events?after=0&wait=7',
      '/api/v1/host-jobs/0123456789abcdef/events?after=2&wait=7',
      '/api/v1/host-jobs/0123456789abcdef/events?after=2&wait=7',
      '/api/v1/host-jobs/0123456789abcdef/events?after=3&wait=7',
    ]);
  });

  it('retries after a failed call, and gives up on a 404', async () => {
    const answers: (() => Response)[] = [
      () => new Response('bad gateway', { status: 502 }),
      () => new Response(JSON.stringify({ events: [ev(1)], finished: false }), { status: 200, headers: { 'content-type': 'application/json' } }),
      () => new Response(JSON.stringify({ detail: "job 'x' not found" }), { status: 404, headers: { 'content-type': 'application/json' } }),
    ];
    vi.stubGlobal('fetch', vi.fn(async () => answers.shift()!()));
    const seen: number[] = [];
    await expect(
      followJob('0123456789abcdef', (b) => seen.push(...b.map((e) => e.seq)), new AbortController().signal, { retryMs: 1 }),
    ).rejects.toMatchObject({ status: 404 });
    expect(seen).toEqual([1]);
  });
});
