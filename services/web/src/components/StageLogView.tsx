import { useLayoutEffect, useRef, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { apiFetch } from '../lib/api';
import { mergeLog } from '../lib/live';
import type { LogLine, Stage, StageLog } from '../lib/types';
import { TERMINAL_STAGE_STATES } from '../lib/types';
import { ErrorBox } from './ErrorBox';

export const logsUrl = (experimentId: string, taskId: string): string =>
  `/api/v1/experiments/${encodeURIComponent(experimentId)}/stages/${encodeURIComponent(taskId)}/logs`;

/** How often an open log of a running stage re-reads its log file's tail (ms). */
export const LOG_POLL_MS = 2000;

/** Whether a scrolled box shows its last line (within ``slack`` px): following goes on
 * when the user scrolls back to the end, off when they scroll up. */
export function atBottom(
  box: { scrollTop: number; clientHeight: number; scrollHeight: number },
  slack = 8,
): boolean {
  return box.scrollHeight - box.scrollTop - box.clientHeight <= slack;
}

/** A stage's log: its stored log events (read when opened) followed by the ones that
 * arrive live (``live``), and the tail of ``logs/<stage>.log`` (re-read every
 * ``LOG_POLL_MS`` while the stage runs, once more when it ends). "follow" keeps the
 * newest line in view; scrolling up stops it. */
export function StageLogView({
  experimentId,
  stage,
  live,
}: {
  experimentId: string;
  stage: Stage;
  live: readonly LogLine[];
}) {
  const [open, setOpen] = useState(false);
  const [follow, setFollow] = useState(true);
  const finished = TERMINAL_STAGE_STATES.includes(stage.state);
  const query = useQuery({
    // re-read once the stage finishes: its log file is complete then
    queryKey: ['stage-log', experimentId, stage.task_id, finished],
    queryFn: () => apiFetch<StageLog>(logsUrl(experimentId, stage.task_id)),
    enabled: open,
    refetchInterval: open && !finished ? LOG_POLL_MS : false,
  });
  if (!stage.started_at && live.length === 0) return null;
  const lines = mergeLog(query.data?.lines ?? [], live);
  const file = query.data?.file_url;
  const tail = query.data?.file_tail ?? [];
  return (
    <details className="small stage-log" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>log{live.length > 0 && !finished ? ' ●' : ''}</summary>
      <ErrorBox error={query.error} />
      <label className="inline muted log-follow">
        <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> follow
      </label>
      {lines.length > 0 && (
        <LogPane
          text={lines.map((l) => l.message).join('\n')}
          follow={follow}
          onFollow={setFollow}
          testId="stage-log"
        />
      )}
      {tail.length > 0 && (
        <>
          <div className="muted log-source">stderr{finished ? '' : ' (so far)'}</div>
          <LogPane text={tail.join('\n')} follow={follow} onFollow={setFollow} testId="stage-log-file" />
        </>
      )}
      {query.data && lines.length === 0 && tail.length === 0 && (
        <div className="muted">no log lines yet</div>
      )}
      {file && (
        <a href={file} target="_blank" rel="noreferrer">
          full log file ↗
        </a>
      )}
    </details>
  );
}

function LogPane({
  text,
  follow,
  onFollow,
  testId,
}: {
  text: string;
  follow: boolean;
  onFollow: (follow: boolean) => void;
  testId: string;
}) {
  const ref = useRef<HTMLPreElement>(null);
  useLayoutEffect(() => {
    const box = ref.current;
    if (follow && box) box.scrollTop = box.scrollHeight;
  }, [text, follow]);
  return (
    <pre
      ref={ref}
      className="log-tail"
      data-testid={testId}
      onScroll={(e) => {
        const following = atBottom(e.currentTarget);
        if (following !== follow) onFollow(following);
      }}
    >
      {text}
    </pre>
  );
}
