// kv against round-robin on simulated time (bench/placement-sim.ts): the real router and mockers,
// closed-loop clients on aiperf-like prefix workloads whose prefixes fit every worker's cache. There
// kv can only win by placement. The design cost lost by up to 1.18× in mean and 1.26× in p50 TTFT
// over the grid of `npm run bench:placement`; the time cost (the default) wins those cells.
// Seed 7 here; the grid's seeds 1–8 are in docs/architecture.md "Router".
import { describe, expect, it } from 'vitest';
import {
  SIM_WORKLOADS,
  type SimRequest,
  type SimWorkloadName,
  simulatePlacement,
} from '../../../src/bench/placement-sim.js';
import { DEFAULT_ROUTER_SETTINGS, type RouterSettings } from '../../../src/router/router.js';
import { createLogger } from '../../../src/runtime/logger.js';

const log = createLogger({ level: 'silent' });

async function ratios(
  workload: SimWorkloadName,
  workers: number,
  concurrency: number,
  router: Partial<RouterSettings>,
  policy: 'router' | 'oracle' = 'router',
): Promise<{ mean: number; p50: number }> {
  const run = (mode: RouterSettings['mode'], p: 'router' | 'oracle') =>
    simulatePlacement({
      workload: SIM_WORKLOADS[workload],
      workers,
      concurrency,
      requests: 240,
      outputLen: 64,
      blockSize: 64,
      jitterMs: 5,
      router: { ...DEFAULT_ROUTER_SETTINGS, ...router, mode },
      policy: p,
      seed: 7,
      log,
    });
  const kv = await run(policy === 'oracle' ? 'round-robin' : 'kv', policy);
  const rr = await run('round-robin', 'router');
  expect(kv.perWorker.reduce((s, n) => s + n, 0)).toBe(240);
  return { mean: kv.ttftMs.mean / rr.ttftMs.mean, p50: kv.ttftMs.p50 / rr.ttftMs.p50 };
}

describe('placement on simulated time (seed 7)', () => {
  it('the time cost keeps kv within 1 % of round-robin at 4 workers × 16 clients', async () => {
    // Near-ties go round-robin's way (scheduler.ts), so where the cache gives no reason to prefer a
    // worker kv places as round-robin does: system-context mean 1.009, multi-turn p50 1.005 here.
    for (const workload of Object.keys(SIM_WORKLOADS) as SimWorkloadName[]) {
      const r = await ratios(workload, 4, 16, {});
      expect(r.mean, workload).toBeLessThanOrEqual(1.01);
      expect(r.p50, workload).toBeLessThanOrEqual(1.01);
    }
  }, 60_000);

  it('near-ties in round-robin order keep each system context home at 4 workers × 4 clients', async () => {
    // Round-robin sends aiperf's in-order contexts each to one worker, alone there; before the
    // near-tie rule kv sent a context's request to an idle non-holder and lost by 1.086× (mean).
    const r = await ratios('system-context', 4, 4, {});
    expect(r.mean).toBeLessThanOrEqual(1);
    expect(r.p50).toBeLessThanOrEqual(1);
  }, 60_000);

  it('wins the cells the design cost lost', async () => {
    for (const [workload, workers, concurrency] of [
      ['system-context', 2, 8],
      ['multi-turn', 2, 16],
    ] as const) {
      const design = await ratios(workload, workers, concurrency, { cost: 'design' });
      const time = await ratios(workload, workers, concurrency, {});
      expect(design.mean, workload).toBeGreaterThan(1.05);
      expect(time.mean, workload).toBeLessThanOrEqual(1);
    }
  }, 60_000);

  it('the oracle placement (least predicted TTFT, seen inside the engines) beats round-robin', async () => {
    const r = await ratios('system-context', 2, 8, {}, 'oracle');
    expect(r.mean).toBeLessThan(0.95);
  }, 60_000);
});

describe('aiperf-like warm-up in the simulator', () => {
  it('leaves the warm-up out and starts the measured requests only once it has finished', async () => {
    const seen: SimRequest[] = [];
    const result = await simulatePlacement({
      workload: SIM_WORKLOADS['prefix-pool'],
      workers: 2,
      concurrency: 4,
      requests: 12,
      warmup: 4,
      outputLen: 8,
      blockSize: 64,
      jitterMs: 5,
      router: { ...DEFAULT_ROUTER_SETTINGS, mode: 'kv' },
      seed: 7,
      log,
      onRequest: (r) => seen.push(r),
    });
    expect(seen).toHaveLength(16);
    // Ids are issued in order: r0–r3 are the warm-up.
    const warm = seen.filter((r) => Number(r.requestId.slice(1)) < 4);
    const measured = seen.filter((r) => Number(r.requestId.slice(1)) >= 4);
    expect(warm).toHaveLength(4);
    // The warm-up's cold misses (every prefix new) make its TTFTs the longest: a mean over all 16
    // would differ from the measured requests' own.
    const mean = measured.reduce((s, r) => s + r.ttftMs, 0) / measured.length;
    expect(result.ttftMs.mean).toBeCloseTo(mean, 6);
    const warmFirstTokens = Math.max(...warm.map((r) => r.routedAt + r.ttftMs));
    for (const r of measured) expect(r.routedAt).toBeGreaterThan(warmFirstTokens);
  }, 60_000);
});
