import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, within } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter, Route, Routes } from 'react-router-dom';
import { auth } from '../lib/api';
import { EXAMPLE_URL, NewExperimentPage } from './NewExperimentPage';

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const MISSING = 'multipart upload needs files user_config.csv and vlm_base.csv (missing vlm_base.csv)';
const EXAMPLE = 'name: example-synth\nmodels: []\n';

function setup(exampleStatus = 200) {
  const sent: { url: string; init: RequestInit }[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      if (url.startsWith('/api/v1/registries/')) return json(200, []);
      if (url === EXAMPLE_URL) {
        return exampleStatus === 200
          ? json(200, { format: 'yaml', text: EXAMPLE, dataset: 'synth' })
          : json(404, { detail: 'no VQA dataset: vlmhb datasets synth --out <data root>/demo --n 3' });
      }
      sent.push({ url, init });
      const form = init.body as FormData;
      if (form instanceof FormData && !form.has('vlm_base.csv')) return json(422, { detail: MISSING });
      return json(202, { id: 'abc', status: 'accepted', name: 'x', links: {} });
    }),
  );
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={['/new']}>
        <Routes>
          <Route path="/new" element={<NewExperimentPage />} />
          <Route path="/experiments/:id" element={<div>experiment page</div>} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return sent;
}

const pick = (files: File[]) => fireEvent.change(screen.getByTestId('file-input'), { target: { files } });

describe('new experiment', () => {
  beforeEach(() => auth.loggedIn());
  afterEach(() => vi.unstubAllGlobals());

  it("inserts the server's example and submits it as YAML", async () => {
    const sent = setup();
    fireEvent.click(screen.getByRole('button', { name: 'Insert example' }));
    const editor = screen.getByTestId('config-input') as HTMLTextAreaElement;
    await vi.waitFor(() => expect(editor.value).toBe(EXAMPLE));
    fireEvent.click(screen.getByRole('button', { name: 'Submit' }));
    await screen.findByText('experiment page');
    expect(sent[0].init.body).toBe(EXAMPLE);
    expect((sent[0].init.headers as Record<string, string>)['Content-Type']).toBe('application/yaml');
  });

  it('says how to make a dataset when the server has none', async () => {
    setup(404);
    fireEvent.click(screen.getByRole('button', { name: 'Insert example' }));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('No example for this server:');
    expect(alert).toHaveTextContent('vlmhb datasets synth --out');
  });

  it('loads a dropped experiment file into the editor', async () => {
    setup();
    const file = new File(['name: dropped\n'], 'mine.yaml');
    fireEvent.drop(screen.getByTestId('drop-zone'), { dataTransfer: { files: [file] } });
    const editor = screen.getByTestId('config-input') as HTMLTextAreaElement;
    await vi.waitFor(() => expect(editor.value).toBe('name: dropped\n'));
  });

  it("submits the legacy pair; with one file the server's message is shown", async () => {
    const sent = setup();
    pick([new File(['u'], 'user_config.csv')]);
    const panel = screen.getByTestId('legacy-upload');
    expect(within(panel).getByText('missing')).toBeInTheDocument();
    fireEvent.click(within(panel).getByRole('button', { name: 'Submit pair' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(MISSING);
    pick([new File(['u'], 'user_config.csv'), new File(['b'], 'vlm_base.csv')]);
    expect(screen.queryByRole('alert')).toBeNull(); // new files: the old refusal is gone
    fireEvent.click(within(screen.getByTestId('legacy-upload')).getByRole('button', { name: 'Submit pair' }));
    await screen.findByText('experiment page');
    const form = sent[1].init.body as FormData;
    expect([...form.keys()]).toEqual(['user_config.csv', 'vlm_base.csv']);
  });

  it('refuses files that are neither an experiment nor the pair', () => {
    setup();
    pick([new File(['x'], 'notes.txt')]);
    expect(screen.getByRole('alert')).toHaveTextContent('notes.txt: expected an experiment');
  });
});
