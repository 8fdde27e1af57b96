const TONES: Record<string, string> = {
  ACCEPTED: 'info',
  QUEUED: 'info',
  PENDING: 'muted',
  RUNNING: 'running',
  COMPLETED: 'ok',
  SKIPPED: 'ok',
  FAILED: 'bad',
  CANCELLED: 'warn',
  INTERRUPTED: 'warn',
};

/** Words shown for a state where its name would mislead: a skipped stage kept the outputs
 * of an earlier run (same content hash), it did not fail to run. */
const LABELS: Record<string, string> = {
  SKIPPED: 'DONE EARLIER',
};

export function statusLabel(status: string): string {
  return LABELS[status?.toUpperCase()] ?? status;
}

export function statusTone(status: string): string {
  return TONES[status?.toUpperCase()] ?? 'muted';
}

/** A coloured pill for an experiment/run/stage state. */
export function StatusBadge({ status, title, testId }: { status: string; title?: string; testId?: string }) {
  const tone = statusTone(status);
  return (
    <span className={`badge badge-${tone}`} title={title || status} data-testid={testId} data-status={status}>
      {tone === 'running' && <span className="pulse" aria-hidden="true" />}
      {statusLabel(status)}
    </span>
  );
}
