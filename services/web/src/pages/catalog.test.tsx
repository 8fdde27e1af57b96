import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter } from 'react-router-dom';
import { auth } from '../lib/api';
import type { CatalogModel, HostImages } from '../lib/catalog';
import { CatalogPage } from './CatalogPage';

const json = (status: number, body: unknown) =>
  new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const PRESET: CatalogModel = {
  name: 'oracle',
  source: 'registry',
  backend: 'scripted',
  weights: {},
  gpu_memory_gb: null,
  version: '',
  notes: '',
  spec: {},
  editable: false,
};

const IMAGES: HostImages[] = [
  {
    host: 'gpu-1',
    images: [
      {
        tag: 'vlmhb/base-cpu:latest',
        image_id: 'sha256:aaaaaaaaaaaabbbbbbbb',
        digest: 'vlmhb/base-cpu@sha256:0123456789abcdef',
        created: '2025-01-01T00:00:00Z',
        size: 300 * 1024 ** 2,
        source_hash: 'h',
        contents: { python: '3.11.9', vlmhb: '0.2.0', packages: { pydantic: '2.11' } },
      },
    ],
  },
  { host: 'gpu-2', images: [], error: 'connection refused' },
];

function setup() {
  let models: CatalogModel[] = [PRESET];
  const calls: { key: string; body?: string }[] = [];
  let job = { id: 'job1', state: 'running', names: ['base-cpu'], log: ['step 1'], outcomes: [] as unknown[] };
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const key = `${init.method ?? 'GET'} ${url.split('?')[0]}`;
      calls.push({ key, body: init.body as string | undefined });
      if (key === 'GET /api/v1/catalog/models') return json(200, models);
      if (key === 'GET /api/v1/catalog/images') return json(200, IMAGES);
      if (key === 'POST /api/v1/catalog/models') {
        const body = JSON.parse(init.body as string);
        if (body.spec.env?.image === 'evil/image') {
          return json(422, { detail: "field 'env.image': 'evil/image' is not an allowed image" });
        }
        models = [...models, { ...body, source: 'catalog', editable: true }];
        return json(201, models[models.length - 1]);
      }
      if (key === 'PUT /api/v1/catalog/models/mine') {
        models = models.map((m) => (m.name === 'mine' ? { ...m, ...JSON.parse(init.body as string) } : m));
        return json(200, models[1]);
      }
      if (key === 'DELETE /api/v1/catalog/models/mine') {
        models = models.filter((m) => m.name !== 'mine');
        return json(204, null);
      }
      if (key === 'POST /api/v1/catalog/images/gpu-1/build') return json(202, job);
      if (key === 'GET /api/v1/catalog/images/gpu-1/jobs/job1') {
        const current = job;
        job = { ...job, state: 'finished', log: ['step 1', 'built vlmhb/base-cpu:latest'] };
        return json(200, current);
      }
      return json(404, { detail: `no route ${key}` });
    }),
  );
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <MemoryRouter>
        <CatalogPage />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return calls;
}

beforeEach(() => auth.loggedIn());
afterEach(() => vi.unstubAllGlobals());

describe('CatalogPage models', () => {
  it('lists registry presets read-only; adds, edits and deletes a catalog model; shows a field error', async () => {
    const calls = setup();
    const table = await screen.findByTestId('models-table');
    const preset = within(table).getByText('oracle').closest('tr')!;
    expect(preset).toHaveTextContent('registry');
    expect(within(preset).queryByRole('button')).toBeNull();

    const form = screen.getByRole('form', { name: 'Catalog model' });
    fireEvent.change(within(form).getByPlaceholderText('qwen2-vl-7b'), { target: { value: 'mine' } });
    fireEvent.change(within(form).getByPlaceholderText('vllm'), { target: { value: 'scripted' } });
    fireEvent.change(within(form).getByPlaceholderText('vlmhb/vllm:latest'), { target: { value: 'evil/image' } });
    fireEvent.change(within(form).getByTestId('params-input'), { target: { value: 'latency_ms: 5' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Add model' }));
    expect(await within(form).findByTestId('error-envImage')).toHaveTextContent("field 'env.image'");

    fireEvent.change(within(form).getByPlaceholderText('vlmhb/vllm:latest'), { target: { value: '' } });
    fireEvent.change(within(form).getByLabelText('weights'), { target: { value: '/models/mine' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Add model' }));
    const row = await screen.findByText('mine');
    const tr = row.closest('tr')!;
    expect(tr).toHaveTextContent('catalog');
    expect(tr).toHaveTextContent('path: /models/mine');
    const posted = JSON.parse(calls.filter((c) => c.key === 'POST /api/v1/catalog/models')[1].body!);
    expect(posted).toMatchObject({ name: 'mine', backend: 'scripted', weights: { path: '/models/mine' }, spec: { params: { latency_ms: 5 } } });

    // a params line it cannot read is named before anything is sent
    fireEvent.click(within(tr).getByRole('button', { name: 'Edit' }));
    const edit = screen.getByRole('form', { name: 'Catalog model' });
    expect(within(edit).getByRole('heading')).toHaveTextContent('Edit mine');
    fireEvent.change(within(edit).getByTestId('params-input'), { target: { value: 'a:\n  b: 1' } });
    fireEvent.click(within(edit).getByRole('button', { name: 'Save' }));
    expect(await within(edit).findByTestId('error-params')).toHaveTextContent('params line 1');
    fireEvent.change(within(edit).getByTestId('params-input'), { target: { value: '{"latency_ms": 9}' } });
    fireEvent.change(within(edit).getByLabelText('Version'), { target: { value: '2' } });
    fireEvent.click(within(edit).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(screen.getByText('mine').closest('tr')).toHaveTextContent('2'));
    const put = JSON.parse(calls.find((c) => c.key === 'PUT /api/v1/catalog/models/mine')!.body!);
    expect(put).toMatchObject({ name: 'mine', version: '2', spec: { params: { latency_ms: 9 } } });

    fireEvent.click(screen.getByRole('button', { name: 'Delete mine' }));
    await waitFor(() => expect(screen.queryByText('mine')).toBeNull());
  });
});

describe('CatalogPage images', () => {
  it('shows images per host with short digests, the agent error, and a build job log', async () => {
    const calls = setup();
    const cards = await screen.findAllByTestId('host-images');
    expect(cards).toHaveLength(2);
    const row = within(cards[0]).getByTestId('image-row');
    expect(row).toHaveTextContent('vlmhb/base-cpu:latest');
    expect(row).toHaveTextContent('sha256:0123456789ab');
    expect(row).toHaveTextContent('300.0 MiB');
    expect(row).toHaveTextContent('python 3.11.9');
    expect(cards[1]).toHaveTextContent('connection refused');

    fireEvent.change(within(cards[0]).getByLabelText('images to build on gpu-1'), { target: { value: 'base-cpu' } });
    fireEvent.click(within(cards[0]).getByRole('button', { name: 'Build' }));
    const job = await within(cards[0]).findByTestId('image-job');
    await waitFor(() => expect(job).toHaveTextContent('built vlmhb/base-cpu:latest'), { timeout: 4000 });
    expect(job).toHaveTextContent('finished');
    const build = calls.find((c) => c.key === 'POST /api/v1/catalog/images/gpu-1/build')!;
    expect(JSON.parse(build.body!)).toEqual({ names: ['base-cpu'] });
  });
});
