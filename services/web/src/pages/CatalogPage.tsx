import { useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, apiFetch } from '../lib/api';
import type { CatalogModel, ModelForm } from '../lib/catalog';
import { EMPTY_FORM, FormError, WEIGHT_KINDS, formFieldOf, formToBody, modelToForm } from '../lib/catalog';
import { ErrorBox } from '../components/ErrorBox';
import { ImagesSection } from './ImagesSection';

/** The Catalog page: models an experiment picks by name, and each host's stage images. */
export function CatalogPage() {
  const models = useQuery({
    queryKey: ['catalog-models'],
    queryFn: ({ signal }) => apiFetch<CatalogModel[]>('/api/v1/catalog/models', { signal }),
  });
  const [editing, setEditing] = useState<CatalogModel | null>(null);
  return (
    <section>
      <div className="page-head">
        <h1>Catalog</h1>
      </div>
      <h2>Models</h2>
      <p className="hint">
        An experiment picks a model by name (<code>models: [name]</code>). Registry presets are read-only; catalog models
        are managed here.
      </p>
      <ErrorBox error={models.error} title="cannot list models" />
      {models.data && <ModelsTable models={models.data} onEdit={setEditing} />}
      <ModelFormCard key={editing?.name ?? '+'} editing={editing} onDone={() => setEditing(null)} />
      <h2>Images</h2>
      <ImagesSection />
    </section>
  );
}

function weightsText(weights: Record<string, string>): string {
  const [kind, value] = Object.entries(weights)[0] ?? [];
  return kind ? `${kind}: ${value}` : '—';
}

export function ModelsTable({ models, onEdit }: { models: CatalogModel[]; onEdit: (m: CatalogModel) => void }) {
  const client = useQueryClient();
  const [error, setError] = useState<unknown>(null);
  const remove = async (name: string) => {
    setError(null);
    try {
      await apiFetch<unknown>(`/api/v1/catalog/models/${encodeURIComponent(name)}`, { method: 'DELETE' });
      await client.invalidateQueries({ queryKey: ['catalog-models'] });
    } catch (exc) {
      setError(exc);
    }
  };
  if (!models.length) return <div className="empty">No models.</div>;
  return (
    <>
      <ErrorBox error={error} title="not deleted" />
      <table className="table" data-testid="models-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Backend</th>
            <th>Weights</th>
            <th>Env</th>
            <th className="num">GPUs</th>
            <th className="num">GPU memory</th>
            <th>Version</th>
            <th>Notes</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {models.map((m) => {
            const env = (m.spec.env ?? {}) as { kind?: string; image?: string };
            const gpus = (m.spec.resources as { gpus?: number } | undefined)?.gpus;
            return (
              <tr key={m.name} data-testid="model-row" data-source={m.source}>
                <td>
                  <span className="strong">{m.name}</span>{' '}
                  <span className={`tag tag-${m.source}`}>{m.source}</span>
                </td>
                <td className="mono small">{m.backend}</td>
                <td className="mono small clip" title={weightsText(m.weights)}>
                  {weightsText(m.weights)}
                </td>
                <td className="small">{env.kind ? `${env.kind}${env.image ? ` · ${env.image}` : ''}` : '—'}</td>
                <td className="num small">{gpus ?? '—'}</td>
                <td className="num small">{m.gpu_memory_gb == null ? '—' : `${m.gpu_memory_gb} GB`}</td>
                <td className="small">{m.version || '—'}</td>
                <td className="small clip" title={m.notes}>
                  {m.notes}
                </td>
                <td className="nowrap">
                  {m.editable && (
                    <>
                      <button onClick={() => onEdit(m)}>Edit</button>{' '}
                      <button className="danger" onClick={() => void remove(m.name)} aria-label={`Delete ${m.name}`}>
                        Delete
                      </button>
                    </>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}

export function ModelFormCard({ editing, onDone }: { editing: CatalogModel | null; onDone: () => void }) {
  const client = useQueryClient();
  const [form, setForm] = useState<ModelForm>(editing ? modelToForm(editing) : EMPTY_FORM);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const field = error instanceof FormError ? error.field : error ? formFieldOf(error.message) : null;
  const set = (key: keyof ModelForm) => (e: { target: { value: string } }) => setForm({ ...form, [key]: e.target.value });
  const fieldError = (key: keyof ModelForm | 'gpu_memory_gb') => {
    const mapped = key === 'gpu_memory_gb' ? 'gpuMemoryGb' : key;
    const current = field === 'gpu_memory_gb' ? 'gpuMemoryGb' : field;
    return current === mapped && error ? (
      <div className="field-error" role="alert" data-testid={`error-${mapped}`}>
        {error.message}
      </div>
    ) : null;
  };
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(null);
    let body;
    try {
      body = formToBody(form);
    } catch (exc) {
      setError(exc as Error);
      return;
    }
    setBusy(true);
    try {
      const path = editing ? `/api/v1/catalog/models/${encodeURIComponent(editing.name)}` : '/api/v1/catalog/models';
      await apiFetch<CatalogModel>(path, {
        method: editing ? 'PUT' : 'POST',
        body: JSON.stringify(body),
        contentType: 'application/json',
      });
      await client.invalidateQueries({ queryKey: ['catalog-models'] });
      setForm(EMPTY_FORM);
      onDone();
    } catch (exc) {
      setError(exc instanceof Error ? exc : new ApiError(0, String(exc)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-label="Catalog model">
      <h3>{editing ? `Edit ${editing.name}` : 'Add a model'}</h3>
      <div className="form-grid">
        <label>
          <span className="label">Name</span>
          <input value={form.name} onChange={set('name')} required disabled={editing != null} placeholder="qwen2-vl-7b" />
          {fieldError('name')}
        </label>
        <label>
          <span className="label">Backend</span>
          <input value={form.backend} onChange={set('backend')} required placeholder="vllm" />
          {fieldError('backend')}
        </label>
        <label>
          <span className="label">Weights</span>
          <span className="inline">
            <select value={form.weightsKind} onChange={set('weightsKind')} aria-label="weights kind">
              {WEIGHT_KINDS.map((k) => (
                <option key={k} value={k}>
                  {k === 'path' ? 'path' : k === 'hf_id' ? 'HF id' : 'S3 URI'}
                </option>
              ))}
            </select>
            <input value={form.weights} onChange={set('weights')} aria-label="weights" placeholder="/models/qwen" />
          </span>
          {fieldError('weights')}
        </label>
        <label>
          <span className="label">Env kind</span>
          <select value={form.envKind} onChange={set('envKind')}>
            <option value="">default (process)</option>
            <option value="process">process</option>
            <option value="docker">docker</option>
            <option value="apptainer">apptainer</option>
          </select>
          {fieldError('envKind')}
        </label>
        <label>
          <span className="label">Image</span>
          <input value={form.envImage} onChange={set('envImage')} placeholder="vlmhb/vllm:latest" />
          {fieldError('envImage')}
        </label>
        <label>
          <span className="label">GPUs</span>
          <input value={form.gpus} onChange={set('gpus')} inputMode="numeric" placeholder="0" />
          {fieldError('gpus')}
        </label>
        <label>
          <span className="label">GPU memory (GB)</span>
          <input value={form.gpuMemoryGb} onChange={set('gpuMemoryGb')} inputMode="decimal" />
          {fieldError('gpu_memory_gb')}
        </label>
        <label>
          <span className="label">Version</span>
          <input value={form.version} onChange={set('version')} />
          {fieldError('version')}
        </label>
        <label className="wide">
          <span className="label">Notes</span>
          <input value={form.notes} onChange={set('notes')} />
          {fieldError('notes')}
        </label>
        <label className="wide">
          <span className="label">Params (YAML or JSON)</span>
          <textarea
            value={form.params}
            onChange={set('params')}
            rows={4}
            data-testid="params-input"
            placeholder={'max_tokens: 256\ntemperature: 0'}
          />
          {fieldError('params')}
        </label>
      </div>
      {error && !field && <ErrorBox error={error} title="not saved" />}
      <div className="row-actions">
        <button type="submit" className="primary" disabled={busy}>
          {editing ? 'Save' : 'Add model'}
        </button>
        {editing && (
          <button type="button" onClick={onDone}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
