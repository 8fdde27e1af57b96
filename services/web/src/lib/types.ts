// Shapes of the management API (services/backend/src/vlmhb/backend/schemas.py).

export type ExperimentStatus =
  | 'ACCEPTED'
  | 'RUNNING'
  | 'COMPLETED'
  | 'FAILED'
  | 'CANCELLED'
  | 'INTERRUPTED';

export const ACTIVE_STATUSES: string[] = ['ACCEPTED', 'RUNNING'];
export const TERMINAL_STATUSES: string[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'INTERRUPTED'];

export interface ExperimentSummary {
  id: string;
  name: string;
  status: ExperimentStatus;
  message: string;
  models: string[];
  config_format: string;
  progress: number;
  stages_total: number;
  stages_done: number;
  attempts: number;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface ExperimentPage {
  items: ExperimentSummary[];
  total: number;
  offset: number;
  limit: number;
}

export interface Stage {
  task_id: string;
  stage: string;
  run_name: string | null;
  state: string;
  message: string;
  done: number | null;
  total: number | null;
  started_at: string | null;
  finished_at: string | null;
}

export interface Run {
  id: number;
  name: string;
  model: string;
  task: string;
  prompt: string;
  state: string;
  done: number | null;
  total: number | null;
  stages: Stage[];
}

export interface Artifact {
  path: string;
  run_name: string | null;
  kind: string;
  size: number;
  url: string;
}

export interface ExperimentDetail extends ExperimentSummary {
  runs: Run[];
  experiment_stages: Stage[];
  artifacts: Artifact[];
  samples_done: number;
  samples_total: number;
  last_seq: number;
}

export interface Accepted {
  id: string;
  status: 'accepted';
  name: string;
  links: Record<string, string>;
}

export interface ActionResult {
  id: string;
  status: string;
  detail: string;
}

export interface SampleRow {
  id: string;
  image_url: string | null;
  question: string;
  ground_truth: string;
  answer: string | null;
  error: string;
  doc_class: string;
  question_type: string;
  metrics: Record<string, number | null>;
  timings: Record<string, number | null>;
}

export interface SamplePage {
  run: string;
  items: SampleRow[];
  total: number;
  offset: number;
  limit: number;
}

export interface CompareRow {
  id: string;
  question: string;
  ground_truth: string;
  doc_class: string;
  question_type: string;
  answers: Record<string, string | null>;
  metrics: Record<string, Record<string, number | null>>;
  deltas: Record<string, Record<string, number | null>>;
}

export interface ComparePage {
  runs: string[];
  metrics: string[];
  items: CompareRow[];
  total: number;
  offset: number;
  limit: number;
}

export interface PlotlyFigure {
  data: unknown[];
  layout: Record<string, unknown>;
}

export interface Analytics {
  experiment_id: string;
  quality_metrics: string[];
  figures: Record<string, PlotlyFigure>;
}

export interface RegistryEntry {
  name: string;
  source: string;
  description: string;
}

export interface Health {
  status: string;
  database: string;
  bus: string;
  mode: string;
  version: string;
}

/** A live message of WS /api/v1/ws/{id} (docs/backend.md, "Events"). */
export interface LiveEvent {
  type: 'state' | 'progress' | 'log' | 'status' | string;
  task_id?: string | null;
  run?: string | null;
  stage?: string | null;
  state?: string | null;
  done?: number | null;
  total?: number | null;
  message?: string;
  ts?: number;
}

export type LiveMessage =
  | { type: 'snapshot'; seq: number; experiment: ExperimentDetail }
  | {
      type: 'event';
      seq: number;
      experiment_id: string;
      experiment_status: ExperimentStatus;
      progress: number;
      event: LiveEvent;
    };
