import { describe, expect, it } from 'vitest';
import { boxStyle } from './box';
import { charDiff, isWrong } from './diff';
import { fitFigure } from './figures';
import { betterHint, metricValue } from './format';
import { shortLabels } from './labels';
import { axisRange, metricPanels } from './leaderboard';
import type { MetricInfo } from './types';

const run = (name: string, model: string, task = 'vqa', prompt = 'default') => ({ name, model, task, prompt });

function info(name: string, higher: boolean | null, range: [number | null, number | null]): MetricInfo {
  return { name, kind: 'quality', higher_is_better: higher, unit: 'fraction', range, description: '' };
}

describe('short run labels', () => {
  it('name the model, and the task and prompt only where runs differ in them', () => {
    const labels = shortLabels([
      run('Qwen__vqa__short__0a1b2c3d', 'Qwen/Qwen2-VL-7B-Instruct', 'vqa', 'short'),
      run('Qwen__vqa__long__4e5f6a7b', 'Qwen/Qwen2-VL-7B-Instruct', 'vqa', 'long'),
      run('tess__vqa__short__8c9d0e1f', 'tesseract', 'vqa', 'short'),
    ]);
    expect([...labels.values()]).toEqual([
      'Qwen2-VL-7B-Instruct · short',
      'Qwen2-VL-7B-Instruct · long',
      'tesseract · short',
    ]);
  });

  it('clip long parts and keep labels apart', () => {
    const labels = shortLabels([run('r1', 'a-very-long-model-name-that-goes-on-and-on'), run('r2', 'same'), run('r3', 'same')]);
    expect(labels.get('r1')).toBe('a-very-long-model-name-…');
    expect(labels.get('r1')!.length).toBe(24);
    expect([labels.get('r2'), labels.get('r3')]).toEqual(['same', 'same #2']);
  });
});

describe('character diff of an answer against the ground truth', () => {
  it('marks what the answer adds and what it misses', () => {
    expect(charDiff('IVANOV', 'IVANOVA')).toEqual([
      { op: 'same', text: 'IVANOV' },
      { op: 'add', text: 'A' },
    ]);
    expect(charDiff('1985-03-12', '1985-08-12')).toEqual([
      { op: 'same', text: '1985-0' },
      { op: 'del', text: '3' },
      { op: 'add', text: '8' },
      { op: 'same', text: '-12' },
    ]);
    expect(charDiff('', 'x')).toEqual([{ op: 'add', text: 'x' }]);
    expect(charDiff('Ёж', '')).toEqual([{ op: 'del', text: 'Ёж' }]);
  });

  it('texts too long to align are one replacement', () => {
    const a = 'a'.repeat(600);
    const b = 'b'.repeat(600);
    expect(charDiff(a, b)).toEqual([
      { op: 'del', text: a },
      { op: 'add', text: b },
    ]);
  });

  it('an answer is wrong unless it matches up to whitespace; no answer is not judged', () => {
    expect(isWrong(' IVANOV\n', 'IVANOV')).toBe(false);
    expect(isWrong('ivanov', 'IVANOV')).toBe(true);
    expect(isWrong(null, 'IVANOV')).toBe(false);
  });
});

describe('leaderboard panels', () => {
  const rows = [
    { run: 'a', model: 'a', task: 't', prompt: 'p', values: { cer: 0.02, anls: 0.9, mystery: 3 } },
    { run: 'b', model: 'b', task: 't', prompt: 'p', values: { cer: 0.01, anls: 0.95, mystery: null } },
  ];
  const schema = { cer: info('cer', false, [0, null]), anls: info('anls', true, [0, 1]) };

  it('one panel per metric with values, best first by its direction, with its hint', () => {
    const panels = metricPanels(rows, ['cer', 'anls', 'mystery', 'absent'], schema, new Map([['a', 'A']]));
    expect(panels.map((p) => p.metric)).toEqual(['cer', 'anls', 'mystery']);
    const [cer, anls, mystery] = panels;
    expect(cer.bars.map((b) => b.run)).toEqual(['b', 'a']); // lower is better
    expect(cer.hint).toBe('← better');
    expect(anls.bars.map((b) => b.label)).toEqual(['b', 'A']);
    expect(anls.hint).toBe('better →');
    expect(mystery.bars).toEqual([{ run: 'a', label: 'A', value: 3 }]);
    expect(mystery.hint).toBe('');
  });

  it('a small CER gets an axis of its own size; a declared range is kept', () => {
    const [lo, hi] = axisRange([0.02, 0.01], schema.cer);
    expect(lo).toBe(0);
    expect(hi).toBeCloseTo(0.023);
    expect(axisRange([0.9, 0.95], schema.anls)).toEqual([0, 1]);
    expect(axisRange([-2, 4], undefined)).toEqual([-2, -2 + 6 * 1.15]);
    expect(axisRange([0], undefined)).toEqual([0, 1]);
  });
});

describe('formats and boxes', () => {
  it('one number format for metrics', () => {
    expect([metricValue(1), metricValue(0.16666), metricValue(-0.5), metricValue(123.45), metricValue(2345.6)]).toEqual([
      '1.000',
      '0.167',
      '-0.500',
      '123.5',
      '2346',
    ]);
    expect(metricValue(null)).toBe('—');
    expect(metricValue(Number.NaN)).toBe('—');
    expect(betterHint(undefined)).toBe('');
  });

  it('a pixel box as percentages of the image, clamped to it', () => {
    expect(boxStyle([50, 25, 150, 75], 200, 100)).toEqual({ left: '25.00%', top: '25.00%', width: '50.00%', height: '50.00%' });
    expect(boxStyle([-10, 0, 300, 50], 200, 100)).toEqual({ left: '0.00%', top: '0.00%', width: '100.00%', height: '50.00%' });
    expect(boxStyle([5, 5, 5, 9], 200, 100)).toBeNull();
    expect(boxStyle([1, 2, 3, 4], 0, 0)).toBeNull();
  });
});

describe('fitting the API figures', () => {
  it('heatmap columns, scatter texts and trace names show short labels; the legend goes below', () => {
    const labels = new Map([
      ['long__run__name__1', 'm1'],
      ['long__run__name__2', 'm2'],
    ]);
    const fitted = fitFigure(
      {
        data: [
          { type: 'heatmap', x: ['long__run__name__1', 'long__run__name__2'], z: [[1, 2]] },
          { type: 'scatter', text: ['x', 'y'], customdata: ['long__run__name__2', 'long__run__name__1'] },
          { type: 'histogram', name: 'long__run__name__1', x: [1, 2] },
        ],
        layout: { xaxis: { title: 'run' } },
      },
      labels,
    );
    const [heatmap, scatter, histogram] = fitted.data as Record<string, unknown>[];
    expect(heatmap.x).toEqual(['long__run__name__1', 'long__run__name__2']); // hover: full name
    expect(fitted.layout.xaxis).toEqual({ title: 'run', tickvals: heatmap.x, ticktext: ['m1', 'm2'] });
    expect(scatter.text).toEqual(['m2', 'm1']);
    expect(histogram.name).toBe('m1');
    expect(histogram.hovertemplate).toContain('long__run__name__1');
    expect(fitted.layout.legend).toMatchObject({ orientation: 'h', yanchor: 'top' });
  });
});
