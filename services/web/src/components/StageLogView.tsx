import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { apiFetch } from '../lib/api';
import { mergeLog } from '../lib/live';
import type { LogLine, Stage, StageLog } from '../lib/types';
import { TERMINAL_STAGE_STATES } from '../lib/types';
import { ErrorBox } from './ErrorBox';

export const logsUrl = (experimentId: string, taskId: string): string =>
  `/api/v1/experiments/${encodeURIComponent(experimentId)}/stages/${encodeURIComponent(taskId)}/logs`;

/** A stage's log tail: its stored log events (read when opened) followed by the ones that
 * arrive live (``live``); for a finished stage also the tail of ``logs/<stage>.log``. */
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
  const finished = TERMINAL_STAGE_STATES.includes(stage.state);
  const query = useQuery({
    // re-read once the stage finishes: its log file is complete then
    queryKey: ['stage-log', experimentId, stage.task_id, finished],
    queryFn: () => apiFetch<StageLog>(logsUrl(experimentId, stage.task_id)),
    enabled: open,
  });
  if (!stage.started_at && live.length === 0) return null;
  const lines = mergeLog(query.data?.lines ?? [], live);
  const file = query.data?.file_url;
  return (
    <details className="small" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>log{live.length > 0 && !finished ? ' ●' : ''}</summary>
      <ErrorBox error={query.error} />
      {lines.length > 0 && (
        <pre className="log-tail" data-testid="stage-log">
          {lines.map((l) => l.message).join('\n')}
        </pre>
      )}
      {finished && query.data && query.data.file_tail.length > 0 && (
        <pre className="log-tail" data-testid="stage-log-file">
          {query.data.file_tail.join('\n')}
        </pre>
      )}
      {query.data && lines.length === 0 && !query.data.file_tail.length && (
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
