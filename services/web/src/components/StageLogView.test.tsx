import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { LOG_POLL_MS, StageLogView, atBottom, logsUrl } from './StageLogView';
import { auth } from '../lib/api';
import type { LogLine, Stage, StageLog } from '../lib/types';

const stage: Stage = {
  task_id: 't1', stage: 'inference', run_name: 'r1', state: 'RUNNING', message: '', done: null,
  total: null, started_at: '2026-12-02T10:00:00Z', finished_at: null, attempt: 0,
  max_attempts: null, host: null, gpu_ids: null,
};

/** A tall log box: 100 px shown of 500 (jsdom lays nothing out). */
function tallBoxes() {
  const scrollHeight = vi.spyOn(HTMLElement.prototype, 'scrollHeight', 'get').mockReturnValue(500);
  const clientHeight = vi.spyOn(HTMLElement.prototype, 'clientHeight', 'get').mockReturnValue(100);
  return () => {
    scrollHeight.mockRestore();
    clientHeight.mockRestore();
  };
}

describe('live stage log', () => {
  let fileTail: string[];
  let fetchMock: ReturnType<typeof vi.fn>;
  beforeEach(() => {
    auth.loggedIn();
    fileTail = ['stderr 1'];
    fetchMock = vi.fn(async (url: string) => {
      expect(url).toBe(logsUrl('e1', 't1'));
      const body: StageLog = { task_id: 't1', lines: [], file_url: null, file_tail: [...fileTail] };
      return new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
    });
    vi.stubGlobal('fetch', fetchMock);
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  it('knows when a box shows its last line', () => {
    expect(atBottom({ scrollTop: 400, clientHeight: 100, scrollHeight: 500 })).toBe(true);
    expect(atBottom({ scrollTop: 395, clientHeight: 100, scrollHeight: 500 })).toBe(true);
    expect(atBottom({ scrollTop: 200, clientHeight: 100, scrollHeight: 500 })).toBe(false);
  });

  it('keeps the newest line in view while following; scrolling up stops it', async () => {
    const restore = tallBoxes();
    try {
      const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
      const view = (live: LogLine[]) => (
        <QueryClientProvider client={client}>
          <StageLogView experimentId="e1" stage={stage} live={live} />
        </QueryClientProvider>
      );
      const first = [{ seq: 1, ts: 1, message: 'stage inference started' }];
      const { rerender } = render(view(first));
      const details = screen.getByText('log ●').closest('details') as HTMLDetailsElement;
      details.open = true;
      fireEvent(details, new Event('toggle'));
      const pane = await screen.findByTestId('stage-log');
      expect(pane.scrollTop).toBe(500);
      // the user scrolls up: follow goes off and new lines do not move the box
      pane.scrollTop = 120;
      fireEvent.scroll(pane);
      expect(screen.getByLabelText('follow')).not.toBeChecked();
      const second = [...first, { seq: 2, ts: 2, message: 'sending 8 samples' }];
      rerender(view(second));
      expect(pane.textContent).toBe('stage inference started\nsending 8 samples');
      expect(pane.scrollTop).toBe(120);
      // ticking follow again jumps to the end
      fireEvent.click(screen.getByLabelText('follow'));
      expect(pane.scrollTop).toBe(500);
    } finally {
      restore();
    }
  });

  it("re-reads the log file's tail while the stage runs", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(
      <QueryClientProvider client={client}>
        <StageLogView experimentId="e1" stage={stage} live={[]} />
      </QueryClientProvider>,
    );
    const details = screen.getByText('log').closest('details') as HTMLDetailsElement;
    details.open = true;
    fireEvent(details, new Event('toggle'));
    expect((await screen.findByTestId('stage-log-file')).textContent).toBe('stderr 1');
    expect(screen.getByText('stderr (so far)')).toBeInTheDocument();
    fileTail = ['stderr 1', 'stderr 2'];
    await vi.advanceTimersByTimeAsync(LOG_POLL_MS + 50);
    await vi.waitFor(() => expect(screen.getByTestId('stage-log-file').textContent).toBe('stderr 1\nstderr 2'));
    expect(fetchMock.mock.calls.length).toBeGreaterThanOrEqual(2);
  });
});
