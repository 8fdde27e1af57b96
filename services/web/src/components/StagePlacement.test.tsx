import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, within } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StagePlacement, placementText, tryText } from './StagePlacement';
import { AttemptHistory, attemptsUrl } from './AttemptHistory';
import { StageLogView, logsUrl } from './StageLogView';
import { auth } from '../lib/api';
import type { Stage, StageAttempts, StageLog } from '../lib/types';
import { TERMINAL_STAGE_STATES } from '../lib/types';

const RETRY = 'retry 1 of 2 after an infrastructure failure: worker lost (agent a unreachable)';

const stage = (fields: Partial<Stage> = {}): Stage => ({
  task_id: 't1', stage: 'inference', run_name: 'r1', state: 'RUNNING', message: '', done: null,
  total: null, started_at: '2026-12-02T10:00:00Z', finished_at: null, attempt: 0,
  max_attempts: null, host: null, gpu_ids: null, ...fields,
});

// a finished state from the backend's own set, not a name written here
const FINISHED = TERMINAL_STAGE_STATES[0];

const ATTEMPTS: StageAttempts = {
  task_id: 't1', stage: 'inference', run_name: 'r1',
  attempts: [
    { attempt: 0, host: 'a', gpu_ids: ['0'], state: 'FAILED', message: RETRY,
      started_at: '2026-12-02T10:00:00Z', finished_at: '2026-12-02T10:01:00Z' },
    { attempt: 1, host: 'b', gpu_ids: ['1'], state: 'RUNNING', message: '',
      started_at: '2026-12-02T10:01:05Z', finished_at: null },
  ],
};

function withQueries(node: React.ReactNode) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(<QueryClientProvider client={client}>{node}</QueryClientProvider>);
}

function respond(routes: Record<string, unknown>) {
  const fetchMock = vi.fn(async (url: string) => {
    const body = routes[url];
    return new Response(JSON.stringify(body ?? { detail: 'nope' }), {
      status: body ? 200 : 404,
      headers: { 'content-type': 'application/json' },
    });
  });
  vi.stubGlobal('fetch', fetchMock);
  return fetchMock;
}

function open(summary: string) {
  const details = screen.getByText(summary).closest('details') as HTMLDetailsElement;
  details.open = true;
  fireEvent(details, new Event('toggle'));
}

describe('stage placement', () => {
  it('names the host and GPUs, or local, and the try when retried', () => {
    expect(placementText({ host: null, gpu_ids: null })).toBe('local');
    expect(placementText({ host: 'gpu-2', gpu_ids: ['0', '3'] })).toBe('gpu-2 · GPU 0,3');
    expect(placementText({ host: 'cpu-1', gpu_ids: [] })).toBe('cpu-1');
    expect(tryText({ attempt: 0, max_attempts: null })).toBe('');
    expect(tryText({ attempt: 1, max_attempts: 3 })).toBe('try 2 of 3');
    expect(tryText({ attempt: 2, max_attempts: null })).toBe('try 3');
  });

  it('renders nothing before a try, then where it runs', () => {
    const { container } = render(<StagePlacement stage={stage({ attempt: null })} />);
    expect(container).toBeEmptyDOMElement();
    render(<StagePlacement stage={stage({ attempt: 1, max_attempts: 3, host: 'b', gpu_ids: ['1'] })} />);
    expect(screen.getByTestId('stage-placement')).toHaveTextContent('b · GPU 1 · try 2 of 3');
  });

  it('shows local for a stage the local executor runs', () => {
    render(<StagePlacement stage={stage()} />);
    expect(screen.getByTestId('stage-placement')).toHaveTextContent(/^local$/);
  });
});

describe('attempt history', () => {
  beforeEach(() => auth.loggedIn());
  afterEach(() => vi.unstubAllGlobals());

  it('reads the tries when opened and shows each one with its reason', async () => {
    const fetchMock = respond({ [attemptsUrl('e1', 't1')]: ATTEMPTS });
    withQueries(<AttemptHistory experimentId="e1" stage={stage({ attempt: 1, host: 'b' })} />);
    expect(fetchMock).not.toHaveBeenCalled(); // nothing read until opened
    open('tries');
    const rows = await screen.findAllByTestId('attempt');
    expect(rows).toHaveLength(2);
    expect(rows[0]).toHaveTextContent('try 1');
    expect(rows[0]).toHaveTextContent('a · GPU 0');
    expect(within(rows[0]).getByText(RETRY)).toBeInTheDocument();
    expect(rows[1]).toHaveTextContent('try 2');
    expect(rows[1]).toHaveTextContent('b · GPU 1');
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });
});

describe('stage log', () => {
  beforeEach(() => auth.loggedIn());
  afterEach(() => vi.unstubAllGlobals());

  it('shows the stored lines, then the live ones after them', async () => {
    const stored: StageLog = {
      task_id: 't1', lines: [{ seq: 4, ts: 1, message: 'loading model' }], file_url: null, file_tail: [],
    };
    respond({ [logsUrl('e1', 't1')]: stored });
    const live = [
      { seq: 4, ts: 1, message: 'loading model' },
      { seq: 9, ts: 2, message: 'answered 1/1' },
    ];
    withQueries(<StageLogView experimentId="e1" stage={stage()} live={live} />);
    open('log ●');
    await screen.findByText(/loading model/);
    expect(screen.getByTestId('stage-log').textContent).toBe('loading model\nanswered 1/1');
  });

  it("falls back to the log file's tail for a finished stage", async () => {
    const stored: StageLog = {
      task_id: 't1', lines: [], file_url: '/api/v1/artifacts/x/r1/logs/inference.log',
      file_tail: ['INFO started', 'INFO done'],
    };
    respond({ [logsUrl('e1', 't1')]: stored });
    withQueries(<StageLogView experimentId="e1" stage={stage({ state: FINISHED })} live={[]} />);
    open('log');
    expect((await screen.findByTestId('stage-log-file')).textContent).toBe('INFO started\nINFO done');
    expect(screen.getByText('full log file ↗')).toHaveAttribute('href', stored.file_url);
  });
});
