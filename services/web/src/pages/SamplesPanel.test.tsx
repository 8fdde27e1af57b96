import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { MemoryRouter } from 'react-router-dom';
import { SamplesPanel } from './SamplesPanel';
import { auth } from '../lib/api';
import type { ComparePage, ExperimentDetail, MetricsSchema, SamplePage } from '../lib/types';

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
      image_url: '/img?sample_id=0',
      crop_url: '/img?sample_id=0&crop=true',
      answer_box: [1, 2, 30, 40],
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
    // the images of the sample and A's wrong answer, marked against the ground truth
    expect(within(table).getByTestId('crop')).toHaveAttribute('src', '/img?sample_id=0&crop=true');
    const wrong = within(table).getAllByTestId('wrong-answer');
    expect(wrong).toHaveLength(1);
    expect(wrong[0]).toHaveTextContent('x');
    expect(wrong[0].querySelector('ins')).toHaveTextContent('x');
    expect(wrong[0].querySelector('del')).toHaveTextContent('a');
    expect(within(table).getByTitle('a__t__p__x')).toHaveTextContent('A: a');
  });
});

const SAMPLES: SamplePage = {
  run: 'a__t__p__x',
  items: [
    {
      id: '7',
      image_url: '/page?sample_id=7',
      crop_url: '/page?sample_id=7&crop=true',
      answer_box: [10, 10, 50, 30],
      question: 'Surname?',
      ground_truth: 'IVANOV',
      answer: 'IVANOVA',
      error: '',
      doc_class: 'passport',
      question_type: 'surname',
      metrics: { cer: 1 / 6, exact_match: 0 },
      timings: { latency_ms: 12 },
    },
    {
      id: '8',
      image_url: '/page?sample_id=8',
      crop_url: null,
      answer_box: null,
      question: 'Name?',
      ground_truth: 'PETR',
      answer: ' PETR ',
      error: '',
      doc_class: 'passport',
      question_type: 'name',
      metrics: { cer: 0, exact_match: 1 },
      timings: { latency_ms: 9 },
    },
  ],
  total: 2,
  offset: 0,
  limit: 25,
};

describe('the samples of one run', () => {
  beforeEach(() => {
    auth.loggedIn();
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response(JSON.stringify(SAMPLES), { headers: { 'content-type': 'application/json' } })),
    );
  });
  afterEach(() => vi.unstubAllGlobals());

  it('shows the crop the model got, the page, a wrong answer diffed and one number format', async () => {
    render(
      <QueryClientProvider client={new QueryClient()}>
        <MemoryRouter initialEntries={['/?run=1']}>
          <SamplesPanel detail={DETAIL} />
        </MemoryRouter>
      </QueryClientProvider>,
    );
    const table = await screen.findByTestId('samples-table');
    const [wrongRow, rightRow] = within(table).getAllByTestId('sample-row');
    expect(within(wrongRow).getByTestId('crop')).toHaveAttribute('src', '/page?sample_id=7&crop=true');
    expect(within(wrongRow).getByAltText('sample 7')).toHaveAttribute('src', '/page?sample_id=7');
    expect(within(wrongRow).getByTestId('wrong-answer').querySelector('ins')).toHaveTextContent(/^A$/);
    expect(within(wrongRow).getByText('0.167')).toBeInTheDocument();
    expect(within(wrongRow).getAllByText('0.000')).toHaveLength(1);
    expect(within(rightRow).queryByTestId('wrong-answer')).toBeNull(); // whitespace only
    expect(within(rightRow).queryByTestId('crop')).toBeNull(); // sent uncropped
    expect(within(rightRow).getByText('1.000')).toBeInTheDocument();
    // a click opens the crop and the page large
    within(wrongRow).getByTestId('sample-images').click();
    const zoom = await screen.findByTestId('image-zoom');
    expect(within(zoom).getByText('what the model received')).toBeInTheDocument();
    expect(within(zoom).getByAltText('page of sample 7')).toBeInTheDocument();
  });
});
