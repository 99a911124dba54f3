// `npm run bench:placement`'s figures: per-run ratios, per-cell ratios pooled over seeds, worsts, geomeans.
import { describe, expect, it } from 'vitest';
import { type PlacementRun, placementRatios } from '../../../src/bench/placement-ratios.js';
import type { SimResult } from '../../../src/bench/placement-sim.js';

const result = (mean: number, p50: number): SimResult => ({
  ttftMs: { mean, p50, p90: p50 },
  perWorker: [1, 1],
  cachedTokenShare: 0.5,
});

const run = (cell: string, seed: number, kv: [number, number], rr: [number, number]): PlacementRun => ({
  cell,
  seed,
  kv: result(...kv),
  roundRobin: result(...rr),
});

describe('placementRatios', () => {
  it('pools a cell over its seeds: one bad seed is the worst run, not the cell', () => {
    const ratios = placementRatios([
      run('w2c16.prefix-pool', 1, [60, 50], [40, 40]),
      run('w2c16.prefix-pool', 2, [30, 30], [50, 60]),
      run('w2c16.prefix-pool', 3, [30, 30], [40, 40]),
      run('w4c8.multi-turn', 1, [44, 40], [40, 40]),
    ]);
    expect(ratios['w2c16.prefix-pool.s1.ttftMean']).toBe(1.5);
    expect(ratios['w2c16.prefix-pool.s1.ttftP50']).toBe(1.25);
    // (60 + 30 + 30) / (40 + 50 + 40) and (50 + 30 + 30) / (40 + 60 + 40)
    expect(ratios['w2c16.prefix-pool.pooled.ttftMean']).toBe(0.923);
    expect(ratios['w2c16.prefix-pool.pooled.ttftP50']).toBe(0.786);
    expect(ratios['w4c8.multi-turn.pooled.ttftMean']).toBe(1.1);
    expect(ratios.worstTtftMean).toBe(1.5);
    expect(ratios.worstTtftP50).toBe(1.25);
    expect(ratios.worstPooledTtftMean).toBe(1.1);
    expect(ratios.worstPooledTtftP50).toBe(1);
    // exp(mean(ln 1.5, ln 0.6, ln 0.75, ln 1.1))
    expect(ratios.geomeanTtftMean).toBe(0.928);
  });

  it('refuses an empty grid', () => {
    expect(() => placementRatios([])).toThrow(/no runs/);
  });
});
