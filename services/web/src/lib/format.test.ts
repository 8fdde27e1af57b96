import { describe, expect, it } from 'vitest';
import { bytes, directionArrow, directionWords, improves } from './format';
import type { MetricInfo } from './types';

function info(name: string, higher_is_better: boolean | null, kind: MetricInfo['kind'] = 'speed'): MetricInfo {
  return { name, kind, higher_is_better, unit: 'ms', range: [0, null], description: '' };
}

describe('metric directions come from the metric metadata, not the name', () => {
  it('itl_ms_mean, queue_ms_p50 and peak_rss_mib: a fall is an improvement', () => {
    // the UI once guessed these three as higher-is-better from their names
    for (const name of ['itl_ms_mean', 'queue_ms_p50', 'peak_rss_mib']) {
      expect(improves(info(name, false), -5)).toBe(true);
      expect(improves(info(name, false), 5)).toBe(false);
    }
  });

  it('a name that reads like an error is still ranked by its declared direction', () => {
    expect(improves(info('error_recovery', true, 'quality'), 0.1)).toBe(true);
    expect(improves(info('cer', false, 'quality'), 0.1)).toBe(false);
  });

  it('no direction (or no metadata): neither better nor worse', () => {
    expect(improves(info('completion_tokens_mean', null, 'cost'), 3)).toBeNull();
    expect(improves(undefined, 3)).toBeNull();
    expect(improves(info('cer', false), 0)).toBeNull();
  });

  it('arrows and words', () => {
    expect(directionArrow(info('throughput_rps', true))).toBe('↑');
    expect(directionArrow(info('latency_ms_p50', false))).toBe('↓');
    expect(directionArrow(undefined)).toBe('');
    expect(directionWords(info('cer', false))).toBe('lower is better');
    expect(directionWords(info('sessions', null))).toBeUndefined();
  });
});

describe('bytes', () => {
  it('picks B, KiB, MiB or GiB', () => {
    expect(bytes(512)).toBe('512 B');
    expect(bytes(2048)).toBe('2.0 KiB');
    expect(bytes(3 * 1024 ** 2)).toBe('3.0 MiB');
    expect(bytes(5.5 * 1024 ** 3)).toBe('5.5 GiB');
  });
});
