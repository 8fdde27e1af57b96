import { useEffect, useRef } from 'react';
import type { JobEvent } from '../lib/hosts';
import { eventTone } from '../lib/hosts';

/** A job's Ansible events as log lines: task names, changed in amber, failed in red. */
export function JobLog({ events }: { events: readonly JobEvent[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [events.length]);
  if (!events.length) return <div className="muted small">No events yet.</div>;
  return (
    <div className="job-log" ref={box} data-testid="job-log">
      {events.map((e) => {
        const tone = eventTone(e);
        return (
          <div key={e.seq} className={`job-line job-${tone}`} data-tone={tone}>
            {tone === 'task' ? (
              <span className="strong">TASK [{e.task}]</span>
            ) : (
              <>
                {e.status && <span className="job-status">{e.status}</span>}
                {e.host && <span className="muted">{e.host}</span>}
                {e.task && tone !== 'info' && <span className="muted">{e.task}</span>}
                {e.message && <span>{e.message}</span>}
                {!e.status && !e.message && <span className="muted">{e.event}</span>}
              </>
            )}
          </div>
        );
      })}
    </div>
  );
}
