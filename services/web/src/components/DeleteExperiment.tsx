import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { apiFetch } from '../lib/api';
import type { DeleteResult } from '../lib/types';
import { ErrorBox } from './ErrorBox';

/** The API call that forgets an experiment (``withFiles``: also its run folder). */
export const deleteUrl = (experimentId: string, withFiles: boolean): string =>
  `/api/v1/experiments/${encodeURIComponent(experimentId)}?delete_artifacts=${withFiles}`;

/** What a finished delete did, in words. */
export function deletedText(name: string, result: DeleteResult): string {
  const files = result.artifacts_deleted ? 'its run files deleted' : 'its run files kept';
  return `Deleted ${name} (${files}${result.detail ? `: ${result.detail}` : ''}).`;
}

/** A Delete button with its confirmation: the experiment is forgotten, and with the box
 * ticked its run files too. The server refuses an active one (its 409 is shown). */
export function DeleteExperiment({
  experiment,
  onDeleted,
  small,
}: {
  experiment: { id: string; name: string };
  onDeleted: (result: DeleteResult) => void;
  small?: boolean;
}) {
  const [open, setOpen] = useState(false);
  const [withFiles, setWithFiles] = useState(false);
  const client = useQueryClient();
  const remove = useMutation({
    mutationFn: () => apiFetch<DeleteResult>(deleteUrl(experiment.id, withFiles), { method: 'DELETE' }),
    onSuccess: (result) => {
      setOpen(false);
      void client.invalidateQueries({ queryKey: ['experiments'] });
      onDeleted(result);
    },
  });
  const close = () => {
    setOpen(false);
    remove.reset();
  };
  return (
    <>
      <button
        type="button"
        className={small ? 'danger small-button' : 'danger'}
        onClick={() => setOpen(true)}
        aria-label={`Delete ${experiment.name}`}
      >
        Delete
      </button>
      {open && (
        <div className="modal-backdrop" onClick={close}>
          <div
            className="modal"
            role="dialog"
            aria-modal="true"
            aria-label="Delete experiment"
            onClick={(e) => e.stopPropagation()}
          >
            <h2>Delete {experiment.name}?</h2>
            <p>
              The experiment leaves the dashboard and its stored config is removed. Its run files
              (answers, metrics, reports under <code>runs/{experiment.name}</code>) stay unless you
              tick the box.
            </p>
            <label className="inline">
              <input type="checkbox" checked={withFiles} onChange={(e) => setWithFiles(e.target.checked)} />
              also delete its run files
            </label>
            <ErrorBox error={remove.error} title="The server refused:" />
            <div className="row-actions">
              <button
                type="button"
                className="danger"
                disabled={remove.isPending}
                onClick={() => remove.mutate()}
              >
                {remove.isPending ? 'Deleting…' : withFiles ? 'Delete with its files' : 'Delete'}
              </button>
              <button type="button" onClick={close}>
                Keep it
              </button>
            </div>
          </div>
        </div>
      )}
    </>
  );
}
