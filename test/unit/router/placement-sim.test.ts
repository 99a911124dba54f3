// kv against round-robin on simulated time (bench/placement-sim.ts): the real router and mockers,
// closed-loop clients on aiperf-like prefix workloads whose prefixes fit every worker's cache. There
// kv can only win by placement; before the pending-prefill term it lost by up to 1.19× in mean TTFT.
import { describe, expect, it } from 'vitest';
import { type SimWorkload, simulatePlacement } from '../../../src/bench/placement-sim.js';
import { DEFAULT_ROUTER_SETTINGS, type RouterSettings } from '../../../src/router/router.js';
import { createLogger } from '../../../src/runtime/logger.js';

const log = createLogger({ level: 'silent' });
const WORKLOADS: SimWorkload[] = [
  { kind: 'prefix-pool', prefixes: 4, prefixLen: 1024, userLen: 256 },
  { kind: 'system-context', systemLen: 1024, contextLen: 512, entries: 32, userLen: 128 },
  { kind: 'multi-turn', systemLen: 512, sessions: 32, turns: 4, userLen: 128 },
];

async function ratio(workload: SimWorkload, router: Partial<RouterSettings>): Promise<number> {
  const run = (mode: RouterSettings['mode']) =>
    simulatePlacement({
      workload,
      workers: 2,
      concurrency: 16,
      requests: 240,
      outputLen: 64,
      blockSize: 64,
      jitterMs: 5,
      router: { ...DEFAULT_ROUTER_SETTINGS, ...router, mode },
      seed: 7,
      log,
    });
  const kv = await run('kv');
  const rr = await run('round-robin');
  expect(kv.perWorker.reduce((s, n) => s + n, 0)).toBe(240);
  return kv.ttftMs.mean / rr.ttftMs.mean;
}

describe('placement on simulated time (2 workers, concurrency 16)', () => {
  it('kv stays within 1.1× of round-robin on every prefix workload, and beats its old cost', async () => {
    const now: number[] = [];
    const before: number[] = [];
    for (const w of WORKLOADS) {
      now.push(await ratio(w, {}));
      before.push(await ratio(w, { pendingPrefillBlocks: 0 }));
    }
    for (const r of now) expect(r).toBeLessThanOrEqual(1.1);
    expect(Math.max(...now)).toBeLessThan(Math.max(...before));
  }, 120_000);
});
