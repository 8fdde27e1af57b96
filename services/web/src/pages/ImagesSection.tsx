import { useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { apiFetch } from '../lib/api';
import type { HostImages, ImageJob, ImageRow } from '../lib/catalog';
import { shortId } from '../lib/catalog';
import { bytes, dateTime } from '../lib/format';
import { ErrorBox } from '../components/ErrorBox';

const imagesPath = (host: string, rest: string) => `/api/v1/catalog/images/${encodeURIComponent(host)}${rest}`;

/** Every host's stage images, with Build and Pull through its agent. */
export function ImagesSection() {
  const images = useQuery({
    queryKey: ['catalog-images'],
    queryFn: ({ signal }) => apiFetch<HostImages[]>('/api/v1/catalog/images', { signal }),
    refetchInterval: 15_000,
  });
  if (images.error) return <ErrorBox error={images.error} title="cannot list images" />;
  if (!images.data) return <div className="muted">Loading…</div>;
  if (!images.data.length) return <div className="empty">No host has an agent yet: bootstrap one on the Hosts page.</div>;
  return (
    <>
      {images.data.map((h) => (
        <HostImagesCard key={h.host} entry={h} />
      ))}
    </>
  );
}

function contentsText(row: ImageRow): string {
  const c = row.contents;
  if (!c) return '—';
  if (c.error) return `probe failed: ${c.error}`;
  const parts = [c.python ? `python ${c.python}` : '', c.vlmhb ? `vlmhb ${c.vlmhb}` : ''];
  const packages = Object.entries(c.packages ?? {}).slice(0, 6).map(([k, v]) => `${k} ${v}`);
  return [...parts, ...packages].filter(Boolean).join(', ');
}

export function HostImagesCard({ entry }: { entry: HostImages }) {
  const client = useQueryClient();
  const [names, setNames] = useState('');
  const [ref, setRef] = useState('');
  const [jobId, setJobId] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const job = useQuery({
    queryKey: ['image-job', entry.host, jobId],
    queryFn: ({ signal }) => apiFetch<ImageJob>(imagesPath(entry.host, `/jobs/${jobId}`), { signal }),
    enabled: jobId != null,
    refetchInterval: (q) => (q.state.data && q.state.data.state !== 'running' ? false : 1000),
  });
  const act = async (path: string, body: unknown) => {
    setError(null);
    try {
      const started = await apiFetch<ImageJob | Record<string, unknown>>(imagesPath(entry.host, path), {
        method: 'POST',
        body: JSON.stringify(body),
        contentType: 'application/json',
      });
      if (typeof started.id === 'string') setJobId(started.id);
      await client.invalidateQueries({ queryKey: ['catalog-images'] });
    } catch (exc) {
      setError(exc);
    }
  };
  const build = () =>
    act('/build', {
      names: names
        .split(/[\s,]+/)
        .map((n) => n.trim())
        .filter(Boolean),
    });
  return (
    <div className="card" data-testid="host-images">
      <h3>{entry.host}</h3>
      {entry.error && <ErrorBox error={entry.error} title="the agent does not answer" />}
      {entry.images.length > 0 ? (
        <table className="table compact">
          <thead>
            <tr>
              <th>Tag</th>
              <th>Id / digest</th>
              <th className="num">Size</th>
              <th>Created</th>
              <th>Contents</th>
            </tr>
          </thead>
          <tbody>
            {entry.images.map((row) => (
              <tr key={row.tag} data-testid="image-row">
                <td className="mono small">{row.tag}</td>
                <td className="mono small" title={row.digest || row.image_id}>
                  {shortId(row.digest || row.image_id)}
                </td>
                <td className="num small">{bytes(row.size)}</td>
                <td className="small">{dateTime(row.created)}</td>
                <td className="small clip" title={contentsText(row)}>
                  {contentsText(row)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        !entry.error && <div className="muted small">No vlmhb images on this host.</div>
      )}
      <div className="row-actions">
        <input value={names} onChange={(e) => setNames(e.target.value)} placeholder="base-cpu, vllm (empty: all)" aria-label={`images to build on ${entry.host}`} />
        <button onClick={() => void build()}>Build</button>
        <input value={ref} onChange={(e) => setRef(e.target.value)} placeholder="vlmhb/base-cpu:latest" aria-label={`image to pull on ${entry.host}`} />
        <button disabled={!ref.trim()} onClick={() => void act('/pull', { ref: ref.trim() })}>
          Pull
        </button>
      </div>
      <ErrorBox error={error} title="refused" />
      {job.data && (
        <div className="image-job" data-testid="image-job">
          <div className="small">
            job {job.data.id}:{' '}
            <span className={`badge badge-${job.data.state === 'finished' ? 'ok' : job.data.state === 'failed' ? 'bad' : 'running'}`}>
              {job.data.state}
            </span>{' '}
            {job.data.error && <span className="bad">{job.data.error}</span>}
          </div>
          <pre className="log-tail">{(job.data.log ?? []).join('\n')}</pre>
        </div>
      )}
    </div>
  );
}
