import type { Stage } from '../lib/types';

type Placement = Pick<Stage, 'host' | 'gpu_ids'>;

/** Where a try runs: the host agent and its GPUs, or "local" (the orchestrator's host). */
export function placementText({ host, gpu_ids }: Placement): string {
  const gpus = gpu_ids?.length ? ` · GPU ${gpu_ids.join(',')}` : '';
  return `${host ?? 'local'}${gpus}`;
}

/** "try 2 of 3" for a retried stage (of N once the backend knows the cap); "" for the first. */
export function tryText({ attempt, max_attempts }: Pick<Stage, 'attempt' | 'max_attempts'>): string {
  if (attempt == null || attempt <= 0) return '';
  return max_attempts ? `try ${attempt + 1} of ${max_attempts}` : `try ${attempt + 1}`;
}

/** A stage's placement and try, once it has started a try. */
export function StagePlacement({ stage }: { stage: Stage }) {
  if (stage.attempt == null) return null;
  const tries = tryText(stage);
  return (
    <div className="muted small" data-testid="stage-placement" title="where the current try runs">
      <span className="mono">{placementText(stage)}</span>
      {tries && <span className="try"> · {tries}</span>}
    </div>
  );
}
