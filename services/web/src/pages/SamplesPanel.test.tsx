import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter } from 'react-router-dom';
import { SamplesPanel } from './SamplesPanel';
import { auth } from '../lib/api';
import type { ComparePage, ExperimentDetail, MetricsSchema } from '../lib/types';

const SCHEMA: MetricsSchema = {
  version: 1,
  metrics: {
    // a plugin metric whose name the UI once read as higher-is-better
    hallucination_rate: {
      name: 'hallucination_rate',
      kind: 'quality',
      higher_is_better: false,
      unit: 'fraction',
      range: [0, 1],
      description: '',
    },
    anls: { name: 'anls', kind: 'quality', higher_is_better: true, unit: 'fraction', range: [0, 1], description: '' },
  },
};

const COMPARE: ComparePage = {
  runs: ['1', '2'],
  metrics: ['hallucination_rate', 'anls', 'mystery'],
  items: [
    {
      id: '0',
      question: 'q',
      ground_truth: 'a',
      doc_class: '',
      question_type: '',
      answers: { '1': 'x', '2': 'a' },
      metrics: {},
      deltas: {
        hallucination_rate: { '1': 0, '2': -0.5 },
        anls: { '1': 0, '2': -0.25 },
        mystery: { '1': 0, '2': 2 },
      },
    },
  ],
  total: 1,
  offset: 0,
  limit: 25,
};

function run(id: number, model: string) {
  return { id, name: `${model}__t__p__x`, model, task: 't', prompt: 'p', state: 'COMPLETED', done: 1, total: 1, stages: [] };
}

const DETAIL = { id: 'e1', stages_done: 7, runs: [run(1, 'a'), run(2, 'b')] } as unknown as ExperimentDetail;

describe('comparing two runs', () => {
  beforeEach(() => {
    auth.loggedIn();
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) => {
        const body = url.includes('/metrics-schema') ? SCHEMA : COMPARE;
        return new Response(JSON.stringify(body), { headers: { 'content-type': 'application/json' } });
      }),
    );
  });
  afterEach(() => vi.unstubAllGlobals());

  it('colours each delta by the direction the API gives', async () => {
    render(
      <QueryClientProvider client={new QueryClient()}>
        <MemoryRouter initialEntries={['/?mode=compare&a=1&b=2']}>
          <SamplesPanel detail={DETAIL} />
        </MemoryRouter>
      </QueryClientProvider>,
    );
    const table = await screen.findByTestId('compare-table');
    await within(table).findByText('hallucination_rate↓ A → B (Δ)');
    const [hallucination, anls, mystery] = within(table).getAllByTestId('delta');
    expect(hallucination).toHaveTextContent('-0.500');
    expect(hallucination).toHaveClass('good'); // lower is better: a fall improves
    expect(anls).toHaveClass('bad');
    expect(mystery).not.toHaveClass('good');
    expect(mystery).not.toHaveClass('bad'); // not described: no colour
    expect(within(table).getByTitle('higher is better')).toHaveTextContent('anls↑');
    const urls = (fetch as unknown as { mock: { calls: [string][] } }).mock.calls.map((c) => c[0]);
    expect(urls).toContain('/api/v1/experiments/e1/metrics-schema');
  });
});
