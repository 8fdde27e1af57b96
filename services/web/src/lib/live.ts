// Live experiment state: the WebSocket snapshot, then events applied to it.

import { useCallback, useEffect, useRef, useState } from 'react';
import { apiFetch, auth, wsUrl } from './api';
import type { ExperimentDetail, LiveMessage, LogLine, Stage } from './types';
import { SUCCESSFUL_STAGE_STATES, TERMINAL_STAGE_STATES, TERMINAL_STATUSES } from './types';

/** Whether ``state`` is one of ``states`` (the backend's sets, from the OpenAPI schema). */
const isIn = (states: readonly string[], state: string | null | undefined): boolean =>
  state != null && states.includes(state);

type EventMessage = Extract<LiveMessage, { type: 'event' }>;

/** Apply one live event to the experiment. ``refresh`` asks for a REST re-read: the event
 * named something the snapshot does not have, or it may have produced artifacts. */
export function applyEvent(
  detail: ExperimentDetail,
  message: EventMessage,
): { detail: ExperimentDetail; refresh: boolean } {
  const { event } = message;
  const next: ExperimentDetail = {
    ...detail,
    status: message.experiment_status ?? detail.status,
    progress: message.progress ?? detail.progress,
  };
  let refresh = false;
  if (event.type === 'status' || (event.type === 'state' && !event.task_id)) {
    next.message = event.message ?? '';
    if (isIn(TERMINAL_STATUSES, event.state)) refresh = true;
    if (event.type === 'status') refresh = true;
    return { detail: next, refresh };
  }
  if (!event.task_id || (event.type !== 'state' && event.type !== 'progress')) {
    return { detail: next, refresh };
  }
  const update = (stage: Stage): Stage => {
    const s = { ...stage };
    if (event.type === 'state' && event.state) {
      s.state = event.state;
      if (event.message) s.message = event.message;
    }
    if (event.type === 'state' && event.attempt != null) {
      if (event.attempt !== s.attempt) {
        // a new try: its placement comes with it (or later); the backend knows its cap
        refresh = true;
        s.attempt = event.attempt;
        s.host = event.host ?? null;
        s.gpu_ids = event.gpu_ids ?? null;
        if (event.attempt === 0) s.max_attempts = null;
      } else {
        if (event.host != null) s.host = event.host;
        if (event.gpu_ids != null) s.gpu_ids = event.gpu_ids;
      }
    }
    if (event.done != null) s.done = event.done;
    if (event.total != null) s.total = event.total;
    return s;
  };
  let found = false;
  next.runs = detail.runs.map((run) => {
    if (!run.stages.some((s) => s.task_id === event.task_id)) return run;
    found = true;
    const stages = run.stages.map((s) => (s.task_id === event.task_id ? update(s) : s));
    const r = { ...run, stages };
    if (event.stage === 'inference' && event.type === 'progress') {
      r.done = event.done ?? r.done;
      r.total = event.total ?? r.total;
    }
    return r;
  });
  if (!found && detail.experiment_stages.some((s) => s.task_id === event.task_id)) {
    found = true;
    next.experiment_stages = detail.experiment_stages.map((s) =>
      s.task_id === event.task_id ? update(s) : s,
    );
  }
  if (!found) refresh = true;
  if (event.type === 'state' && isIn(TERMINAL_STAGE_STATES, event.state)) {
    refresh = true; // finished stages bring artifacts (reports, answers)
  }
  next.stages_done = countDone(next);
  next.samples_done = next.runs.reduce((sum, r) => sum + (r.done ?? 0), 0);
  next.samples_total = next.runs.reduce((sum, r) => sum + (r.total ?? 0), 0);
  return { detail: next, refresh };
}

/** Log lines kept per stage for the live tail. */
export const LOG_TAIL = 200;

/** Live log lines by stage task id. */
export type StageLogs = Record<string, LogLine[]>;

/** ``logs`` with a ``log`` event's line appended to its stage's tail (other events: as is). */
export function appendLog(logs: StageLogs, message: EventMessage): StageLogs {
  const { event } = message;
  if (event.type !== 'log' || !event.task_id) return logs;
  const line: LogLine = { seq: message.seq, ts: event.ts ?? 0, message: event.message ?? '' };
  const tail = [...(logs[event.task_id] ?? []), line].slice(-LOG_TAIL);
  return { ...logs, [event.task_id]: tail };
}

/** A stage's stored log lines followed by the live ones newer than them, last ``LOG_TAIL``. */
export function mergeLog(stored: readonly LogLine[], live: readonly LogLine[]): LogLine[] {
  const last = stored.length ? stored[stored.length - 1].seq : 0;
  return [...stored, ...live.filter((l) => l.seq > last)].slice(-LOG_TAIL);
}

function countDone(detail: ExperimentDetail): number {
  const stages = [...detail.runs.flatMap((r) => r.stages), ...detail.experiment_stages];
  if (stages.length === 0) return detail.stages_done;
  return Math.max(detail.stages_done, stages.filter((s) => isIn(SUCCESSFUL_STAGE_STATES, s.state)).length);
}

export type Connection = 'connecting' | 'live' | 'reconnecting' | 'not-found';

export interface LiveState {
  detail: ExperimentDetail | undefined;
  connection: Connection;
  seq: number;
  error: string;
  /** the log lines that arrived over the socket, by stage task id */
  logs: StageLogs;
  refresh: () => void;
}

/** The experiment over WS /api/v1/ws/{id}: snapshot, then events; reconnects with
 * ``since=<last seq>``; reads the detail over REST when the socket is down. */
export function useLiveExperiment(experimentId: string): LiveState {
  const [detail, setDetail] = useState<ExperimentDetail>();
  const [connection, setConnection] = useState<Connection>('connecting');
  const [error, setError] = useState('');
  const [seq, setSeq] = useState(0);
  const [logs, setLogs] = useState<StageLogs>({});
  const seqRef = useRef(0);
  const detailRef = useRef<ExperimentDetail | undefined>(undefined);
  const commit = useCallback((d: ExperimentDetail | undefined) => {
    detailRef.current = d;
    setDetail(d);
  }, []);
  const refreshTimer = useRef<number | undefined>(undefined);

  const refresh = useCallback(() => {
    window.clearTimeout(refreshTimer.current);
    refreshTimer.current = window.setTimeout(() => {
      apiFetch<ExperimentDetail>(`/api/v1/experiments/${encodeURIComponent(experimentId)}`)
        .then((d) => {
          commit(d);
          setError('');
        })
        .catch((e: Error) => setError(e.message));
    }, 150);
  }, [experimentId, commit]);

  useEffect(() => {
    let ws: WebSocket | undefined;
    let stopped = false;
    let retry: number | undefined;
    let attempts = 0;
    seqRef.current = 0;
    commit(undefined);
    setLogs({});
    setConnection('connecting');

    const connect = () => {
      ws = new WebSocket(wsUrl(experimentId, seqRef.current));
      ws.onmessage = (ev: MessageEvent<string>) => {
        const message = JSON.parse(ev.data) as LiveMessage;
        attempts = 0;
        if (message.type === 'snapshot') {
          seqRef.current = message.seq;
          setSeq(message.seq);
          commit(message.experiment);
          setConnection('live');
          setError('');
          return;
        }
        if (message.type !== 'event' || message.seq <= seqRef.current) return;
        seqRef.current = message.seq;
        setSeq(message.seq);
        setLogs((previous) => appendLog(previous, message));
        const current = detailRef.current;
        if (!current) return;
        const result = applyEvent(current, message);
        commit(result.detail);
        if (result.refresh) refresh();
      };
      ws.onclose = (ev: CloseEvent) => {
        if (stopped) return;
        if (ev.code === 4404) {
          setConnection('not-found');
          setError(`experiment ${experimentId} not found`);
          return;
        }
        if (ev.code === 4401) auth.requireToken();
        setConnection('reconnecting');
        refresh();
        attempts += 1;
        retry = window.setTimeout(connect, Math.min(1000 * attempts, 5000));
      };
    };
    connect();
    const unsubscribe = auth.subscribe(() => {
      // logged in again: reconnect at once (the new session cookie goes along)
      if (!auth.tokenNeeded && ws && ws.readyState !== WebSocket.OPEN) {
        window.clearTimeout(retry);
        ws.onclose = null;
        ws.close();
        connect();
      }
    });
    return () => {
      stopped = true;
      unsubscribe();
      window.clearTimeout(retry);
      window.clearTimeout(refreshTimer.current);
      ws?.close();
    };
  }, [experimentId, refresh, commit]);

  // while the socket is down, keep the page current over REST
  useEffect(() => {
    if (connection !== 'reconnecting') return;
    const timer = window.setInterval(refresh, 3000);
    return () => window.clearInterval(timer);
  }, [connection, refresh]);

  return { detail, connection, seq, error, logs, refresh };
}
