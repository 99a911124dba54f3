// The prefill correction: the profile's prompt throughput scaled by what the workers report achieving.
import { describe, expect, it } from 'vitest';
import {
  MIN_CORRECTION_TOKENS,
  PREFILL_CORRECTION_ALPHA,
  PrefillCorrection,
  withPrefillCorrection,
} from '../../../src/planner/prefill-correction.js';
import { ENGINE, report } from './fakes.js';

const counters = (worker: number, prefillTokensTotal: number, prefillSeconds: number) =>
  report(worker, { prefillTokensTotal, prefillSeconds });

describe('PrefillCorrection', () => {
  it('compares the workers’ prompt throughput between two reports with the profile’s, smoothed', () => {
    const c = new PrefillCorrection();
    // First reports: baselines only.
    expect(c.update([counters(1, 1_000, 0.1), counters(2, 0, 0)], 10_000)).toBeUndefined();
    // 16 000 + 16 000 tokens in 2 + 2 s = 8 000 tok/s against 10 000: 0.8.
    expect(c.update([counters(1, 17_000, 2.1), counters(2, 16_000, 2)], 10_000)).toBeCloseTo(0.8);
    // 12 000 tok/s (1.2) moves it by α of the difference.
    expect(c.update([counters(1, 29_000, 3.1), counters(2, 16_000, 2)], 10_000)).toBeCloseTo(
      0.8 + PREFILL_CORRECTION_ALPHA * 0.4,
    );
  });

  it('keeps its factor through quiet intervals, new and restarted workers, and clamps outliers', () => {
    const c = new PrefillCorrection();
    c.update([counters(1, 0, 0)], 10_000);
    c.update([counters(1, 20_000, 4)], 10_000); // 0.5
    // Fewer tokens than MIN_CORRECTION_TOKENS: no measurement.
    expect(c.update([counters(1, 20_000 + MIN_CORRECTION_TOKENS - 1, 5)], 10_000)).toBeCloseTo(0.5);
    // A restarted engine (counters went back) and a new one give baselines, not a measurement.
    expect(c.update([counters(1, 10, 0.01), counters(3, 50_000, 1)], 10_000)).toBeCloseTo(0.5);
    // Older workers send no counters: ignored.
    expect(c.update([report(4)], 10_000)).toBeCloseTo(0.5);
    // A stalled host: 10 000 tokens in 100 s would be 0.01; clamped to 0.2.
    const stalled = new PrefillCorrection();
    stalled.update([counters(1, 0, 0)], 10_000);
    expect(stalled.update([counters(1, 10_000, 100)], 10_000)).toBeCloseTo(0.2);
  });

  it('scales the model’s prefill, not its decode', () => {
    const slow = withPrefillCorrection(ENGINE, 0.5);
    expect(slow.prefillCapacity(3000)).toBe(5_000);
    expect(slow.ttftAt(3000)).toBe(600);
    expect(slow.decodeCapacity(3000, 50)).toBe(ENGINE.decodeCapacity(3000, 50));
    expect(slow.itlAt(3000, 4)).toBe(ENGINE.itlAt(3000, 4));
  });
});
