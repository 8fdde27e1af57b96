import { useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiFetch, configContentType } from '../lib/api';
import type { Accepted, ExampleConfig, RegistryEntry } from '../lib/types';
import { LEGACY_FILES, classifyUpload, legacyForm } from '../lib/upload';
import type { Upload } from '../lib/upload';
import { ErrorBox } from '../components/ErrorBox';

/** Where the server's example config comes from: built for its data root, so it runs as is. */
export const EXAMPLE_URL = '/api/v1/examples/experiment';

const PLACEHOLDER = `# Paste an experiment (YAML or JSON), press "Insert example" for one that runs on
# this server, or drop a file here: an experiment .yaml/.json, or the legacy pair
# user_config.csv + vlm_base.csv.`;

function Registry({ kind }: { kind: string }) {
  const query = useQuery({
    queryKey: ['registry', kind],
    queryFn: () => apiFetch<RegistryEntry[]>(`/api/v1/registries/${kind}`),
    staleTime: 60_000,
  });
  return (
    <details>
      <summary>
        {kind} {query.data ? `(${query.data.length})` : ''}
      </summary>
      {query.error && <div className="muted small">{(query.error as Error).message}</div>}
      <ul className="registry">
        {query.data?.map((e) => (
          <li key={`${e.name}-${e.source}`} title={e.description}>
            <code>{e.name}</code> <span className="muted small">{e.source}</span>
          </li>
        ))}
      </ul>
    </details>
  );
}

type Submission = { text: string } | { form: FormData };

export function NewExperimentPage() {
  const [text, setText] = useState('');
  const [legacy, setLegacy] = useState<Extract<Upload, { kind: 'legacy' }>>();
  const [pickError, setPickError] = useState('');
  const [dragging, setDragging] = useState(false);
  const navigate = useNavigate();
  const client = useQueryClient();
  const submit = useMutation({
    mutationFn: (what: Submission) =>
      'text' in what
        ? apiFetch<Accepted>('/api/v1/experiments', {
            method: 'POST',
            body: what.text,
            contentType: configContentType(what.text),
          })
        : apiFetch<Accepted>('/api/v1/experiments', { method: 'POST', body: what.form }),
    onSuccess: (accepted) => {
      void client.invalidateQueries({ queryKey: ['experiments'] });
      navigate(`/experiments/${accepted.id}`);
    },
  });
  const example = useMutation({
    mutationFn: () => apiFetch<ExampleConfig>(EXAMPLE_URL),
    onSuccess: (config) => {
      setLegacy(undefined);
      submit.reset();
      setText(config.text);
    },
  });
  const takeFiles = (files: File[]) => {
    const upload = classifyUpload(files);
    setPickError(upload.kind === 'invalid' ? upload.message : '');
    submit.reset();
    if (upload.kind === 'config') {
      setLegacy(undefined);
      void upload.file.text().then(setText);
    } else if (upload.kind === 'legacy') {
      setLegacy(upload);
    }
  };
  return (
    <section>
      <div className="page-head">
        <h1>New experiment</h1>
      </div>
      <div className="new-grid">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            submit.mutate({ text });
          }}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(e) => {
            e.preventDefault();
            setDragging(false);
            takeFiles([...e.dataTransfer.files]);
          }}
          className={dragging ? 'drop-target dragging' : 'drop-target'}
          data-testid="drop-zone"
        >
          <label htmlFor="config" className="label">
            Experiment config (YAML or JSON)
          </label>
          <textarea
            id="config"
            name="config"
            data-testid="config-input"
            spellCheck={false}
            value={text}
            placeholder={PLACEHOLDER}
            onChange={(e) => setText(e.target.value)}
            rows={22}
          />
          <div className="row-actions">
            <button type="submit" className="primary" disabled={!text.trim() || submit.isPending}>
              {submit.isPending && !legacy ? 'Submitting…' : 'Submit'}
            </button>
            <button type="button" onClick={() => example.mutate()} disabled={example.isPending}>
              Insert example
            </button>
            <label className="button file-button">
              Load files…
              <input
                type="file"
                multiple
                accept=".yaml,.yml,.json,.csv"
                data-testid="file-input"
                onChange={(e) => {
                  takeFiles([...(e.target.files ?? [])]);
                  e.target.value = ''; // the same files may be picked again
                }}
              />
            </label>
            <span className="muted small">or drop them here</span>
          </div>
          <ErrorBox error={example.error} title="No example for this server:" />
          <ErrorBox error={pickError} title="These files cannot be used:" />
          {legacy && (
            <div className="card legacy-upload" data-testid="legacy-upload">
              <strong>Legacy v0.1 pair</strong>
              <ul className="files">
                {LEGACY_FILES.map((field) => (
                  <li key={field}>
                    <code>{field}</code>{' '}
                    {legacy.files[field] ? (
                      <span className="muted small">{legacy.files[field].name}</span>
                    ) : (
                      <span className="missing small">missing</span>
                    )}
                  </li>
                ))}
              </ul>
              <div className="row-actions">
                <button
                  type="button"
                  className="primary"
                  disabled={submit.isPending}
                  onClick={() => submit.mutate({ form: legacyForm(legacy.files) })}
                >
                  {submit.isPending ? 'Submitting…' : 'Submit pair'}
                </button>
                <button type="button" onClick={() => setLegacy(undefined)}>
                  Clear
                </button>
              </div>
            </div>
          )}
          <ErrorBox error={submit.error} title="The server refused the config:" />
        </form>
        <aside className="card">
          <h3>Names you can use</h3>
          <p className="muted small">From the server's registries (built-ins, plugins, registry YAML).</p>
          {['models', 'tasks', 'datasets', 'metrics', 'reports'].map((k) => (
            <Registry key={k} kind={k} />
          ))}
        </aside>
      </div>
    </section>
  );
}
