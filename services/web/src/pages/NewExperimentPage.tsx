import { useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiFetch, configContentType } from '../lib/api';
import type { Accepted, RegistryEntry } from '../lib/types';
import { ErrorBox } from '../components/ErrorBox';

export const EXAMPLE_YAML = `# Paths are relative to the server's data root (VLMHB_DATA_ROOT) or absolute.
name: my-experiment
models:
  - name: oracle
    backend: scripted
    params: {answers_file: my_dataset/annotation.csv, answer_column: answer, latency_ms: 50}
datasets:
  - {name: my_dataset, format: vqa_csv, path: my_dataset}
tasks:
  - name: fields_vqa
    dataset: my_dataset
    kind: vqa
    metrics: [cer, exact_match]
`;

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

export function NewExperimentPage() {
  const [text, setText] = useState('');
  const navigate = useNavigate();
  const client = useQueryClient();
  const submit = useMutation({
    mutationFn: (body: string) =>
      apiFetch<Accepted>('/api/v1/experiments', {
        method: 'POST',
        body,
        contentType: configContentType(body),
      }),
    onSuccess: (accepted) => {
      void client.invalidateQueries({ queryKey: ['experiments'] });
      navigate(`/experiments/${accepted.id}`);
    },
  });
  return (
    <section>
      <div className="page-head">
        <h1>New experiment</h1>
      </div>
      <div className="new-grid">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            submit.mutate(text);
          }}
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
            placeholder={EXAMPLE_YAML}
            onChange={(e) => setText(e.target.value)}
            rows={22}
          />
          <div className="row-actions">
            <button type="submit" className="primary" disabled={!text.trim() || submit.isPending}>
              {submit.isPending ? 'Submitting…' : 'Submit'}
            </button>
            <button type="button" onClick={() => setText(EXAMPLE_YAML)}>
              Insert example
            </button>
            <label className="button file-button">
              Load file…
              <input
                type="file"
                accept=".yaml,.yml,.json"
                onChange={(e) => {
                  const file = e.target.files?.[0];
                  if (file) void file.text().then(setText);
                }}
              />
            </label>
          </div>
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
