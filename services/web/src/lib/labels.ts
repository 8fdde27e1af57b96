/** Short run labels for charts and tables; the full run name goes in a tooltip. */

export interface RunIdentity {
  name: string;
  model: string;
  task: string;
  prompt: string;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * `model · task · prompt` of each run (by run name), naming the task and the prompt only
 * where the runs differ in them; a model's organisation prefix (`org/`) is dropped and
 * each part is clipped to `max` characters. Runs that would share a label get `#2`, `#3`.
 */
export function shortLabels(runs: RunIdentity[], max = 24): Map<string, string> {
  const varies = (key: 'task' | 'prompt') => new Set(runs.map((r) => r[key])).size > 1;
  const withTask = varies('task');
  const withPrompt = varies('prompt');
  const seen = new Map<string, number>();
  const out = new Map<string, string>();
  for (const run of runs) {
    const model = run.model.includes('/') ? run.model.slice(run.model.lastIndexOf('/') + 1) : run.model;
    const parts = [model || run.name, withTask ? run.task : '', withPrompt ? run.prompt : ''];
    const base = parts
      .filter(Boolean)
      .map((p) => clip(p, max))
      .join(' · ');
    const count = (seen.get(base) ?? 0) + 1;
    seen.set(base, count);
    out.set(run.name, count > 1 ? `${base} #${count}` : base);
  }
  return out;
}
