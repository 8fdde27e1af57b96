import { useState } from 'react';
import { Link, NavLink, useNavigate, useParams } from 'react-router-dom';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { apiFetch } from '../lib/api';
import { useLiveExperiment } from '../lib/live';
import type { StageLogs } from '../lib/live';
import type { ActionResult, Artifact, ExperimentDetail, Run, Stage } from '../lib/types';
import { ACTIVE_STATUSES } from '../lib/types';
import { StatusBadge } from '../components/StatusBadge';
import { ProgressBar } from '../components/ProgressBar';
import { ErrorBox } from '../components/ErrorBox';
import { StagePlacement } from '../components/StagePlacement';
import { AttemptHistory } from '../components/AttemptHistory';
import { StageLogView } from '../components/StageLogView';
import { DeleteExperiment } from '../components/DeleteExperiment';
import { bytes, dateTime, duration } from '../lib/format';
import { ComparePanel } from './ComparePanel';
import { SamplesPanel } from './SamplesPanel';

const STAGES = ['inference', 'evaluation', 'report'];

export function ExperimentPage() {
  const { id = '', tab = 'runs' } = useParams();
  const live = useLiveExperiment(id);
  const detail = live.detail;
  if (!detail) {
    return (
      <section>
        <p className="muted">{live.connection === 'not-found' ? '' : 'Connecting…'}</p>
        <ErrorBox error={live.error} />
      </section>
    );
  }
  return (
    <section>
      <Header detail={detail} connection={live.connection} onChanged={live.refresh} />
      <ErrorBox error={live.error} />
      <nav className="tabs">
        <NavLink end to={`/experiments/${id}`}>
          Runs
        </NavLink>
        <NavLink to={`/experiments/${id}/compare`}>Compare</NavLink>
        <NavLink to={`/experiments/${id}/samples`}>Samples</NavLink>
        <NavLink to={`/experiments/${id}/artifacts`}>Artifacts ({detail.artifacts.length})</NavLink>
      </nav>
      {tab === 'runs' && <RunsPanel detail={detail} logs={live.logs} />}
      {tab === 'compare' && <ComparePanel detail={detail} />}
      {tab === 'samples' && <SamplesPanel detail={detail} />}
      {tab === 'artifacts' && <ArtifactsPanel artifacts={detail.artifacts} />}
    </section>
  );
}

function Header({
  detail,
  connection,
  onChanged,
}: {
  detail: ExperimentDetail;
  connection: string;
  onChanged: () => void;
}) {
  const client = useQueryClient();
  const [force, setForce] = useState(false);
  const navigate = useNavigate();
  const action = useMutation({
    mutationFn: (what: string) =>
      apiFetch<ActionResult>(`/api/v1/experiments/${detail.id}/${what}`, { method: 'POST' }),
    onSettled: () => {
      onChanged();
      void client.invalidateQueries({ queryKey: ['experiments'] });
    },
  });
  const active = ACTIVE_STATUSES.includes(detail.status);
  const report = detail.artifacts.find((a) => a.run_name === null && a.path.endsWith('/report.html'));
  return (
    <div className="card header-card">
      <div className="page-head">
        <div>
          <div className="crumbs">
            <Link to="/">Experiments</Link> /
          </div>
          <h1>
            {detail.name}{' '}
            <StatusBadge status={detail.status} title={detail.message} testId="experiment-status" />
          </h1>
          <div className="muted small">
            <span className="mono">{detail.id}</span> · models {detail.models.join(', ')} · created{' '}
            {dateTime(detail.created_at)}
            {detail.started_at && <> · ran {duration(detail.started_at, detail.finished_at)}</>}
            {detail.attempts > 1 && <> · attempt {detail.attempts}</>}
          </div>
        </div>
        <div className="row-actions">
          <span className={`conn conn-${connection}`} data-testid="connection">
            {connection === 'live' ? '● live' : connection === 'reconnecting' ? '○ reconnecting…' : connection}
          </span>
          {report && (
            <a className="button" href={report.url} target="_blank" rel="noreferrer">
              Experiment report ↗
            </a>
          )}
          <button
            className="danger"
            disabled={!active || action.isPending}
            onClick={() => action.mutate('cancel')}
          >
            Cancel
          </button>
          <button
            disabled={active || action.isPending}
            onClick={() => action.mutate(force ? 'rerun?force=true' : 'rerun')}
            title="Finished stages are skipped; inference resumes from answers.csv"
          >
            Rerun
          </button>
          <label className="small muted" title="redo every stage, even finished ones">
            <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} /> force
          </label>
          <DeleteExperiment experiment={detail} onDeleted={() => navigate('/')} />
        </div>
      </div>
      {detail.message && <div className={`message tone-${detail.status}`}>{detail.message}</div>}
      <div className="header-progress">
        <div>
          <div className="label">Stages</div>
          <ProgressBar done={detail.stages_done} total={detail.stages_total || null} fraction={detail.progress} />
        </div>
        <div>
          <div className="label">Samples answered</div>
          <ProgressBar done={detail.samples_done} total={detail.samples_total || null} />
        </div>
      </div>
      <ErrorBox error={action.error} />
    </div>
  );
}

const NO_LINES: never[] = [];

function StageCell({
  experimentId,
  stage,
  logs,
}: {
  experimentId: string;
  stage: Stage | undefined;
  logs: StageLogs;
}) {
  if (!stage) return <td className="muted">—</td>;
  return (
    <td data-testid={`stage-${stage.stage}`}>
      <StatusBadge status={stage.state} title={stage.message} />
      {stage.total != null && stage.total > 0 && (
        <ProgressBar compact done={stage.done} total={stage.total} />
      )}
      <StagePlacement stage={stage} />
      {stage.started_at && stage.finished_at && (
        <div className="muted small" data-testid="stage-duration">
          took {duration(stage.started_at, stage.finished_at)}
        </div>
      )}
      {stage.message && <div className="muted small clip" title={stage.message}>{stage.message}</div>}
      <AttemptHistory experimentId={experimentId} stage={stage} />
      <StageLogView experimentId={experimentId} stage={stage} live={logs[stage.task_id] ?? NO_LINES} />
    </td>
  );
}

function runReport(detail: ExperimentDetail, run: Run): Artifact | undefined {
  return detail.artifacts.find((a) => a.run_name === run.name && a.path.endsWith('/report.html'));
}

function RunsPanel({ detail, logs }: { detail: ExperimentDetail; logs: StageLogs }) {
  const experimentReport = detail.experiment_stages[0];
  if (detail.runs.length === 0) {
    return <div className="empty">No runs yet — the config is being expanded into runs.</div>;
  }
  return (
    <div className="card table-scroll">
      <table className="table runs-table" data-testid="runs-table">
        <thead>
          <tr>
            <th>Model</th>
            <th>Task / prompt</th>
            <th>Inference</th>
            <th>Evaluation</th>
            <th>Report</th>
            <th style={{ width: '18%' }}>Samples</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {detail.runs.map((run) => {
            const byStage = Object.fromEntries(run.stages.map((s) => [s.stage, s]));
            const inference = byStage.inference;
            const report = runReport(detail, run);
            return (
              <tr key={run.id} data-testid="run-row">
                <td>
                  <span className="strong">{run.model}</span>
                  <div className="muted small mono clip" title={run.name}>
                    {run.name}
                  </div>
                </td>
                <td>
                  {run.task}
                  <div className="muted small">{run.prompt}</div>
                </td>
                {STAGES.map((s) => (
                  <StageCell key={s} experimentId={detail.id} stage={byStage[s]} logs={logs} />
                ))}
                <td>
                  <ProgressBar
                    done={inference?.done ?? run.done}
                    total={inference?.total ?? run.total}
                    tone={inference?.state === 'FAILED' ? 'bad' : undefined}
                  />
                </td>
                <td className="nowrap">
                  {report ? (
                    <a href={report.url} target="_blank" rel="noreferrer">
                      report.html ↗
                    </a>
                  ) : (
                    <span className="muted small">no report yet</span>
                  )}
                  <div>
                    <Link className="small" to={`/experiments/${detail.id}/samples?run=${run.id}`}>
                      samples →
                    </Link>
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
        {experimentReport && (
          <tfoot>
            <tr>
              <td colSpan={4} className="strong">
                Experiment report (all runs compared)
              </td>
              <StageCell experimentId={detail.id} stage={experimentReport} logs={logs} />
              <td colSpan={2} />
            </tr>
          </tfoot>
        )}
      </table>
    </div>
  );
}

function ArtifactsPanel({ artifacts }: { artifacts: Artifact[] }) {
  const groups = new Map<string, Artifact[]>();
  for (const a of artifacts) {
    const key = a.run_name ?? '(experiment)';
    groups.set(key, [...(groups.get(key) ?? []), a]);
  }
  if (artifacts.length === 0) return <div className="empty">No files yet.</div>;
  return (
    <div className="card">
      {[...groups.entries()].map(([group, files]) => (
        <details key={group} open={group === '(experiment)'}>
          <summary className="mono">
            {group} <span className="muted small">({files.length})</span>
          </summary>
          <ul className="files">
            {files.map((a) => (
              <li key={a.path}>
                <a href={a.url} target="_blank" rel="noreferrer" className="mono">
                  {a.path.split('/').slice(group === '(experiment)' ? 1 : 2).join('/')}
                </a>{' '}
                <span className="muted small">
                  {a.kind} · {bytes(a.size)}
                </span>
              </li>
            ))}
          </ul>
        </details>
      ))}
    </div>
  );
}
