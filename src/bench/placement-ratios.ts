// The figures `npm run bench:placement` reports: kv over round-robin TTFT per run (cell and seed), and
// per cell pooled over its seeds. A run of aiperf's 160 requests is one draw of a chaotic process —
// closed-loop clients fall into and out of lockstep — so one seed's ratio scatters widely around the
// cell's (2 × 16 behind the warm-up: standard deviation 0.12 mean, 0.22 p50, over 16 seeds), and the
// worst of many seeds measures that scatter more than the placement. The pooled ratio (mean over seeds
// of kv's TTFT figure over round-robin's) is the cell's estimate.
import type { SimResult } from './placement-sim.js';

export interface PlacementRun {
  /** The grid cell: `w<workers>c<concurrency>.<workload>`. */
  cell: string;
  seed: number;
  kv: SimResult;
  roundRobin: SimResult;
}

const round = (v: number) => Math.round(v * 1000) / 1000;
const geomean = (xs: readonly number[]) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
const sum = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0);

/**
 * `<cell>.s<seed>.ttftMean|ttftP50` per run, `<cell>.pooled.ttftMean|ttftP50` per cell, the worst of
 * each (`worstTtftMean`, `worstTtftP50`, `worstPooledTtftMean`, `worstPooledTtftP50`) and the geometric
 * means of the per-run ratios (`geomeanTtftMean`, `geomeanTtftP50`); rounded to 3 decimals.
 */
export function placementRatios(runs: readonly PlacementRun[]): Record<string, number> {
  if (runs.length === 0) throw new Error('placementRatios: no runs');
  const ratios: Record<string, number> = {};
  const means: number[] = [];
  const p50s: number[] = [];
  const byCell = new Map<string, PlacementRun[]>();
  for (const run of runs) {
    const mean = run.kv.ttftMs.mean / run.roundRobin.ttftMs.mean;
    const p50 = run.kv.ttftMs.p50 / run.roundRobin.ttftMs.p50;
    ratios[`${run.cell}.s${run.seed}.ttftMean`] = round(mean);
    ratios[`${run.cell}.s${run.seed}.ttftP50`] = round(p50);
    means.push(mean);
    p50s.push(p50);
    byCell.set(run.cell, [...(byCell.get(run.cell) ?? []), run]);
  }
  const pooledMeans: number[] = [];
  const pooledP50s: number[] = [];
  for (const [cell, cellRuns] of byCell) {
    const of = (pick: (r: PlacementRun) => number) => sum(cellRuns.map(pick));
    const mean = of((r) => r.kv.ttftMs.mean) / of((r) => r.roundRobin.ttftMs.mean);
    const p50 = of((r) => r.kv.ttftMs.p50) / of((r) => r.roundRobin.ttftMs.p50);
    ratios[`${cell}.pooled.ttftMean`] = round(mean);
    ratios[`${cell}.pooled.ttftP50`] = round(p50);
    pooledMeans.push(mean);
    pooledP50s.push(p50);
  }
  ratios.worstTtftMean = round(Math.max(...means));
  ratios.worstTtftP50 = round(Math.max(...p50s));
  ratios.worstPooledTtftMean = round(Math.max(...pooledMeans));
  ratios.worstPooledTtftP50 = round(Math.max(...pooledP50s));
  ratios.geomeanTtftMean = round(geomean(means));
  ratios.geomeanTtftP50 = round(geomean(p50s));
  return ratios;
}
