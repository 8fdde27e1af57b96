import { useEffect, useState } from 'react';
import type { JobEvent } from './hosts';
import { followJob } from './hosts';

/** A job's events as they arrive (long polling); ``done`` once the job has finished.
 * ``onDone`` runs then (e.g. to re-read the host's facts). */
export function useJobEvents(
  jobId: string | undefined,
  onDone?: () => void,
): { events: JobEvent[]; done: boolean; error: string } {
  const [events, setEvents] = useState<JobEvent[]>([]);
  const [done, setDone] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    setEvents([]);
    setDone(false);
    setError('');
    if (!jobId) return;
    const abort = new AbortController();
    followJob(jobId, (batch) => setEvents((previous) => [...previous, ...batch]), abort.signal)
      .then(() => {
        if (abort.signal.aborted) return;
        setDone(true);
        onDone?.();
      })
      .catch((exc: Error) => {
        if (!abort.signal.aborted) setError(exc.message);
      });
    return () => abort.abort();
    // onDone is a callback of the caller's render: following restarts only for a new job
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [jobId]);
  return { events, done, error };
}
