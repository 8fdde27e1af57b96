import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { apiFetch } from '../lib/api';
import type { Stage, StageAttempts } from '../lib/types';
import { dateTime, duration } from '../lib/format';
import { StatusBadge } from './StatusBadge';
import { ErrorBox } from './ErrorBox';
import { placementText } from './StagePlacement';

export const attemptsUrl = (experimentId: string, taskId: string): string =>
  `/api/v1/experiments/${encodeURIComponent(experimentId)}/stages/${encodeURIComponent(taskId)}/attempts`;

/** The tries of a stage, read when opened (again whenever the stage's try or state changes). */
export function AttemptHistory({ experimentId, stage }: { experimentId: string; stage: Stage }) {
  const [open, setOpen] = useState(false);
  const query = useQuery({
    queryKey: ['attempts', experimentId, stage.task_id, stage.attempt, stage.state],
    queryFn: () => apiFetch<StageAttempts>(attemptsUrl(experimentId, stage.task_id)),
    enabled: open,
  });
  if (stage.attempt == null) return null;
  return (
    <details className="small" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>tries</summary>
      <ErrorBox error={query.error} />
      {query.data && (
        <ol className="attempts" data-testid="attempt-history">
          {query.data.attempts.map((a) => (
            <li key={a.attempt} data-testid="attempt">
              <span className="strong">try {a.attempt + 1}</span> <StatusBadge status={a.state} />{' '}
              <span className="mono">{placementText(a)}</span>
              <span className="muted">
                {' '}
                · {dateTime(a.started_at)}
                {a.finished_at && <> · {duration(a.started_at, a.finished_at)}</>}
              </span>
              {a.message && <div className="muted">{a.message}</div>}
            </li>
          ))}
        </ol>
      )}
    </details>
  );
}
