// Shapes of the management API: names for the types generated from the backend's OpenAPI
// schema (api-types.ts; regenerate with `npm run gen:api`, docs/development.md).

import type { components } from './api-types';
import {
  activeExperimentStatusValues,
  successfulStageStateValues,
  terminalExperimentStatusValues,
  terminalStageStateValues,
} from './api-types';

type Schemas = components['schemas'];

export type ExperimentStatus = Schemas['ExperimentStatus'];
// the backend's status and state sets (vlmhb/backend/states.py, through the schema)
export const ACTIVE_STATUSES: readonly ExperimentStatus[] = activeExperimentStatusValues;
export const TERMINAL_STATUSES: readonly ExperimentStatus[] = terminalExperimentStatusValues;
/** Stage states after which a stage does not change (it may have written artifacts). */
export const TERMINAL_STAGE_STATES: readonly string[] = terminalStageStateValues;
/** Stage states that count as done for the progress. */
export const SUCCESSFUL_STAGE_STATES: readonly string[] = successfulStageStateValues;

export type ExperimentSummary = Schemas['ExperimentSummary'];

export type ExperimentPage = Schemas['ExperimentPage'];

export type Stage = Schemas['StageOut'];

/** One try of a stage: where it ran, when, how it ended and why. */
export type StageAttempt = Schemas['AttemptOut'];

export type StageAttempts = Schemas['StageAttempts'];

/** One log event of a stage (``seq`` as on the WebSocket). */
export type LogLine = Schemas['LogLine'];

/** A stage's stored log events and the tail of its log file. */
export type StageLog = Schemas['StageLog'];

export type Run = Schemas['RunOut'];

export type Artifact = Schemas['ArtifactOut'];

export type ExperimentDetail = Schemas['ExperimentDetail'];

export type Accepted = Schemas['Accepted'];

export type ActionResult = Schemas['ActionResult'];
/** The answer of DELETE /experiments/{id}. */
export type DeleteResult = Schemas['DeleteResult'];
/** An experiment config that runs as is on this server (GET /examples/experiment). */
export type ExampleConfig = Schemas['ExampleConfig'];

export type SampleRow = Schemas['SampleRow'];

export type SamplePage = Schemas['SamplePage'];

export type CompareRow = Schemas['CompareRow'];

export type ComparePage = Schemas['ComparePage'];

/** Direction, unit, range and kind of one metric (the run's metrics_schema.json). */
export type MetricInfo = Schemas['MetricInfo'];

export type MetricsSchema = Schemas['MetricsSchema'];

export interface PlotlyFigure {
  data: unknown[];
  layout: Record<string, unknown>;
}

/** One run's macro metric values in the analytics' leaderboard. */
export type LeaderboardRow = Schemas['LeaderboardRow'];

/** A sample's full page, the crop the model was sent and the answer's box on the page. */
export type SampleImages = Pick<SampleRow, 'image_url' | 'crop_url' | 'answer_box'>;

/** ``figures`` are Plotly figures (free-form objects in the schema). */
export type Analytics = Omit<Schemas['Analytics'], 'figures'> & {
  figures: Record<string, PlotlyFigure>;
};

export type RegistryEntry = Schemas['RegistryEntryOut'];

export type Health = Schemas['Health'];

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
  /** on a stage's RUNNING events: which try (0 first, then each infrastructure retry) */
  attempt?: number | null;
  /** where that try runs (a host agent); unset: the orchestrator's own host */
  host?: string | null;
  gpu_ids?: string[] | null;
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
