export interface ProgressProps {
  /** finished units; with ``total`` the label reads "done/total" */
  done?: number | null;
  total?: number | null;
  /** a fraction 0..1, used when done/total are unknown */
  fraction?: number | null;
  tone?: string;
  label?: string;
  compact?: boolean;
}

/** The fraction shown (0..1), from done/total or the given fraction. */
export function progressFraction({ done, total, fraction }: ProgressProps): number | null {
  if (total != null && total > 0 && done != null) return Math.min(1, Math.max(0, done / total));
  if (fraction != null && !Number.isNaN(fraction)) return Math.min(1, Math.max(0, fraction));
  if (total === 0) return 1;
  return null;
}

export function ProgressBar(props: ProgressProps) {
  const value = progressFraction(props);
  const percent = value == null ? 0 : Math.round(value * 100);
  const label =
    props.label ??
    (props.total != null && props.done != null
      ? `${props.done}/${props.total}`
      : value == null
        ? '—'
        : `${percent}%`);
  return (
    <div className={`progress ${props.compact ? 'progress-compact' : ''}`} title={label}>
      <div
        className="progress-track"
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={value == null ? undefined : percent}
      >
        <div
          className={`progress-fill tone-${props.tone ?? (value === 1 ? 'ok' : 'running')}`}
          style={{ width: `${percent}%` }}
        />
      </div>
      <span className="progress-label">{label}</span>
    </div>
  );
}
