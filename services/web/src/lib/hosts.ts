// Hosts, their jobs, health and events (docs/hosts.md "API"): shapes and the logic the
// Hosts page and the header badge share.

import { apiFetch } from './api';
import type { components } from './api-types';

type Schemas = components['schemas'];

/** One GPU as the bootstrap's ``nvidia-smi --query-gpu`` task reported it. */
export type GpuFact = Schemas['GpuFact'];
/** What the bootstrap gathered on a host. */
export type HostFacts = Schemas['HostFacts'];
export type HostJob = Schemas['HostJobOut'];
/** A GPU as a health check saw it (NVML's readings where a driver answers). */
export type GpuReading = Schemas['GpuInfo'];
export type HostCheck = Schemas['HostCheckOut'];
export type ContainerCheck = Schemas['ContainerCheckOut'];
export type Host = Schemas['HostOut'];
/** One Ansible event of a job (scrubbed by the backend). */
export type JobEvent = Schemas['JobEvent'];
export type JobEvents = Schemas['JobEvents'];
export type HostEvent = Schemas['HostEventOut'];

export const ACTIVE_JOB_STATUSES: readonly string[] = ['queued', 'running'];

/** Host event kinds that count as "a container failed". */
export const CONTAINER_FAILURE_KINDS: readonly string[] = ['container_failed', 'container_oom_killed'];

/** How long a container failure counts on the header badge. */
export const RECENT_MS = 15 * 60 * 1000;

/** What the header badge shows: hosts not answering and containers failed lately. */
export function unhealthyCounts(
  hosts: readonly Host[],
  events: readonly HostEvent[],
  now: number = Date.now(),
): { hosts: number; containers: number } {
  const down = hosts.filter((h) => h.status === 'unavailable' || h.status === 'failed').length;
  const containers = events.filter(
    (e) => CONTAINER_FAILURE_KINDS.includes(e.kind) && now - Date.parse(e.created_at) <= RECENT_MS,
  ).length;
  return { hosts: down, containers };
}

const HOST_TONES: Record<string, string> = {
  new: 'muted',
  bootstrapping: 'running',
  available: 'ok',
  unavailable: 'bad',
  failed: 'bad',
  queued: 'info',
  running: 'running',
  successful: 'ok',
  canceled: 'warn',
};

/** The badge tone of a host or job status. */
export function hostTone(status: string): string {
  return HOST_TONES[status] ?? 'muted';
}

/** The log line tone of an Ansible event: amber when it changed something, red on failure. */
export function eventTone(event: JobEvent): 'failed' | 'changed' | 'ok' | 'skipped' | 'task' | 'info' {
  if (event.status === 'failed' || event.status === 'unreachable') return 'failed';
  if (event.status === 'changed' || event.changed) return 'changed';
  if (event.status === 'ok') return 'ok';
  if (event.status === 'skipped') return 'skipped';
  if (event.event === 'playbook_on_task_start') return 'task';
  return 'info';
}

/** The field a 422 message names: ``field 'x.y': ...`` or a validation line
 * ``body.x: ...``; the first part of the path, or null. */
export function fieldOf(message: string): string | null {
  const quoted = /field '([^']+)'/.exec(message);
  const path = quoted ? quoted[1] : /^body\.([A-Za-z0-9_.]+):/.exec(message)?.[1];
  return path ? path.split('.')[0] : null;
}

export function hostPath(name: string, rest = ''): string {
  return `/api/v1/hosts/${encodeURIComponent(name)}${rest}`;
}

export const POLL_WAIT_S = 10;

/** Follow a job's events by long polling ``GET /host-jobs/{id}/events?after=&wait=``;
 * ``onEvents`` gets each batch in order. Resolves when the job has finished (or ``signal``
 * aborts); a failed call is retried after ``retryMs``. */
export async function followJob(
  jobId: string,
  onEvents: (events: JobEvent[]) => void,
  signal: AbortSignal,
  { waitS = POLL_WAIT_S, retryMs = 1000 }: { waitS?: number; retryMs?: number } = {},
): Promise<void> {
  let after = 0;
  while (!signal.aborted) {
    let batch: JobEvents;
    try {
      batch = await apiFetch<JobEvents>(
        `/api/v1/host-jobs/${encodeURIComponent(jobId)}/events?after=${after}&wait=${waitS}`,
        { signal },
      );
    } catch (exc) {
      if (signal.aborted) return;
      if ((exc as { status?: number }).status === 404) throw exc;
      await new Promise((r) => setTimeout(r, retryMs));
      continue;
    }
    if (batch.events.length) {
      after = batch.events[batch.events.length - 1].seq;
      onEvents(batch.events);
    }
    if (batch.finished) return;
  }
}
