import { describe, expect, it } from 'vitest';
import { LOG_TAIL, appendLog, applyEvent, mergeLog } from './live';
import type { StageLogs } from './live';
import type { ExperimentDetail, LiveMessage, Stage } from './types';

const stage = (task_id: string, name: string, state = 'PENDING'): Stage => ({
  task_id, stage: name, run_name: 'r1', state, message: '', done: null, total: null,
  started_at: null, finished_at: null, attempt: null, max_attempts: null, host: null, gpu_ids: null,
});

const base: ExperimentDetail = {
  id: 'e1', name: 'demo', status: 'RUNNING', message: '', models: ['m'], config_format: 'yaml',
  progress: 0, stages_total: 4, stages_done: 0, attempts: 1, created_at: '', updated_at: '',
  started_at: null, finished_at: null,
  runs: [{ id: 1, name: 'r1', model: 'm', task: 'vqa', prompt: 'default', state: 'RUNNING',
    done: null, total: null,
    stages: [stage('t1', 'inference'), stage('t2', 'evaluation'), stage('t3', 'report')] }],
  experiment_stages: [{ ...stage('t4', 'experiment_report'), run_name: null }],
  artifacts: [], samples_done: 0, samples_total: 0, last_seq: 5,
};

type Ev = Extract<LiveMessage, { type: 'event' }>;
const msg = (event: Ev['event'], extra: Partial<Ev> = {}): Ev => ({
  type: 'event', seq: 6, experiment_id: 'e1', experiment_status: 'RUNNING', progress: 0, event, ...extra,
});

describe('applyEvent', () => {
  it('applies progress to the stage and the run', () => {
    const { detail, refresh } = applyEvent(base, msg({ type: 'progress', task_id: 't1', stage: 'inference', done: 4, total: 10 }));
    expect(detail.runs[0].stages[0]).toMatchObject({ done: 4, total: 10 });
    expect(detail.runs[0]).toMatchObject({ done: 4, total: 10 });
    expect(detail.samples_done).toBe(4);
    expect(refresh).toBe(false);
    expect(base.runs[0].stages[0].done).toBeNull(); // not mutated
  });

  it('applies stage states; a finished stage asks for artifacts', () => {
    const running = applyEvent(base, msg({ type: 'state', task_id: 't2', state: 'RUNNING' }));
    expect(running.detail.runs[0].stages[1].state).toBe('RUNNING');
    expect(running.refresh).toBe(false);
    const done = applyEvent(running.detail, msg({ type: 'state', task_id: 't4', state: 'COMPLETED', message: '1 run(s)' }, { progress: 0.25 }));
    expect(done.detail.experiment_stages[0]).toMatchObject({ state: 'COMPLETED', message: '1 run(s)' });
    expect(done.detail.stages_done).toBe(1);
    expect(done.detail.progress).toBe(0.25);
    expect(done.refresh).toBe(true);
  });

  it("uses the backend's stage sets: a skipped stage is finished and brings artifacts", () => {
    const skipped = applyEvent(base, msg({ type: 'state', task_id: 't2', state: 'SKIPPED' }));
    expect(skipped.detail.runs[0].stages[1].state).toBe('SKIPPED');
    expect(skipped.detail.stages_done).toBe(1);
    expect(skipped.refresh).toBe(true);
    const interrupted = applyEvent(base, msg({ type: 'state', task_id: 't1', state: 'INTERRUPTED' }));
    expect(interrupted.refresh).toBe(true);
    expect(interrupted.detail.stages_done).toBe(0); // finished, but not done
  });

  it('updates the experiment status and asks for a re-read on unknown tasks', () => {
    const finished = applyEvent(base, msg({ type: 'state', task_id: null, state: 'COMPLETED' }, { experiment_status: 'COMPLETED', progress: 1 }));
    expect(finished.detail.status).toBe('COMPLETED');
    expect(finished.refresh).toBe(true);
    const unknown = applyEvent(base, msg({ type: 'state', task_id: 'new', state: 'PENDING' }));
    expect(unknown.refresh).toBe(true);
    const logLine = applyEvent(base, msg({ type: 'log', task_id: 't1', message: 'hello' }));
    expect(logLine.refresh).toBe(false);
  });
});

describe('tries and logs', () => {
  it('moves the stage to a new try and its host, placing the open try in place', () => {
    const placed = applyEvent(base, msg({ type: 'state', task_id: 't1', state: 'RUNNING', attempt: 0, host: 'a', gpu_ids: ['0'] }));
    expect(placed.detail.runs[0].stages[0]).toMatchObject({ attempt: 0, host: 'a', gpu_ids: ['0'] });
    const again = applyEvent(placed.detail, msg({ type: 'state', task_id: 't1', state: 'RUNNING', attempt: 0 }));
    expect(again.detail.runs[0].stages[0]).toMatchObject({ attempt: 0, host: 'a' }); // kept
    expect(again.refresh).toBe(false);
    const retry = applyEvent(again.detail, msg({ type: 'state', task_id: 't1', state: 'RUNNING', attempt: 1, message: 'retry 1 of 2 after an infrastructure failure: x' }));
    expect(retry.detail.runs[0].stages[0]).toMatchObject({ attempt: 1, host: null, gpu_ids: null });
    expect(retry.refresh).toBe(true); // the cap and the history come from the backend
  });

  it('keeps the last lines of each stage and merges them after the stored ones', () => {
    let logs: StageLogs = {};
    for (let seq = 1; seq <= LOG_TAIL + 5; seq += 1) {
      logs = appendLog(logs, msg({ type: 'log', task_id: 't1', message: `line ${seq}`, ts: seq }, { seq }));
    }
    expect(logs.t1).toHaveLength(LOG_TAIL);
    expect(logs.t1[LOG_TAIL - 1]).toEqual({ seq: LOG_TAIL + 5, ts: LOG_TAIL + 5, message: `line ${LOG_TAIL + 5}` });
    const progress = msg({ type: 'progress', task_id: 't1', done: 1, total: 2 });
    expect(appendLog(logs, progress)).toBe(logs);
    const merged = mergeLog([{ seq: LOG_TAIL + 3, ts: 0, message: 'stored' }], logs.t1);
    expect(merged.map((l) => l.seq)).toEqual([LOG_TAIL + 3, LOG_TAIL + 4, LOG_TAIL + 5]);
  });
});
