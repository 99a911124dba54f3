// kv against round-robin on simulated time over a whole grid (`npm run bench:placement`): workers ×
// concurrency × aiperf-shaped workload × seed, each cell one run of placement-sim.ts per policy.
// Deterministic, so the reference for cost-function changes; `npm run bench:aiperf` confirms on a real
// deployment. Prints a line per cell on stderr, then one JSON object as the last line of stdout:
// `ratios` holds kv/round-robin mean and p50 TTFT per run and pooled per cell over its seeds, the worst
// of each and the runs' geometric means (placement-ratios.ts).
// `--router key=value` (repeatable) overrides a router setting for the kv runs (e.g. cost=design).
// `--warmup N` sends N requests first and leaves them out, as aiperf's warm-up (default 0).
// `--jitter-ms J`: each request leaves its client after a uniform 0..J ms (default 5). Closed-loop
// clients with little jitter stay in lockstep, which kv's staggering breaks and round-robin's does not:
// the 4 × 8 system-context win (0.91) is gone at J = 20 (docs/architecture.md, Router).
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DEFAULT_ROUTER_SETTINGS, type RouterSettings } from '../router/router.js';
import { createLogger } from '../runtime/logger.js';
import { type PlacementRun, placementRatios } from './placement-ratios.js';
import { SIM_WORKLOADS, type SimResult, type SimWorkloadName, simulatePlacement } from './placement-sim.js';

type WorkloadName = SimWorkloadName;

const commaList = z.string().transform((s) => s.split(',').map((p) => p.trim()));
const ints = (max: number) =>
  commaList.pipe(z.array(z.string().transform(Number).pipe(z.number().int().min(1).max(max))).min(1));
const argsSchema = z.object({
  workloads: commaList.pipe(
    z.array(z.enum(Object.keys(SIM_WORKLOADS) as [WorkloadName, ...WorkloadName[]])).min(1),
  ),
  workers: ints(64),
  concurrency: ints(1024),
  seeds: ints(2 ** 31),
  requests: z.coerce.number().int().min(1),
  warmup: z.coerce.number().int().min(0),
  'jitter-ms': z.coerce.number().min(0).max(10_000),
  policy: z.enum(['kv', 'oracle']),
  router: z.array(z.string().regex(/^[A-Za-z]+=.+$/, 'router: expected key=value')),
  out: z.string().min(1).optional(),
});

/** `key=value` pairs onto router settings: numbers, booleans and strings as the default's type is. */
export function routerOverrides(pairs: readonly string[]): Partial<RouterSettings> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const key = pair.slice(0, at);
    const raw = pair.slice(at + 1);
    if (!(key in DEFAULT_ROUTER_SETTINGS)) throw new Error(`router: unknown setting ${key}`);
    const kind = typeof DEFAULT_ROUTER_SETTINGS[key as keyof RouterSettings];
    const value = kind === 'number' ? Number(raw) : kind === 'boolean' ? raw === 'true' : raw;
    if (kind === 'number' && !Number.isFinite(value)) throw new Error(`router: ${key} must be a number`);
    out[key] = value;
  }
  return out as Partial<RouterSettings>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      workloads: { type: 'string', default: Object.keys(SIM_WORKLOADS).join(',') },
      workers: { type: 'string', default: '2,4' },
      concurrency: { type: 'string', default: '1,4,8,16' },
      seeds: { type: 'string', default: '7,11' },
      requests: { type: 'string', default: '240' },
      warmup: { type: 'string', default: '0' },
      'jitter-ms': { type: 'string', default: '5' },
      policy: { type: 'string', default: 'kv' },
      router: { type: 'string', multiple: true, default: [] },
      out: { type: 'string' },
    },
  });
  const args = argsSchema.parse(values);
  const overrides = routerOverrides(args.router);
  const log = createLogger({ level: 'silent' });
  const run = (workload: WorkloadName, workers: number, concurrency: number, seed: number, kv: boolean) =>
    simulatePlacement({
      workload: SIM_WORKLOADS[workload],
      workers,
      concurrency,
      requests: args.requests,
      warmup: args.warmup,
      outputLen: 64,
      blockSize: 64,
      jitterMs: args['jitter-ms'],
      router:
        kv && args.policy === 'kv'
          ? { ...DEFAULT_ROUTER_SETTINGS, ...overrides, mode: 'kv' }
          : { ...DEFAULT_ROUTER_SETTINGS, mode: 'round-robin' },
      policy: kv && args.policy === 'oracle' ? 'oracle' : 'router',
      seed,
      log,
    });
  const cells: Record<string, { kv: SimResult; roundRobin: SimResult }> = {};
  const runs: PlacementRun[] = [];
  for (const workers of args.workers) {
    for (const concurrency of args.concurrency) {
      for (const workload of args.workloads) {
        const cell = `w${workers}c${concurrency}.${workload}`;
        for (const seed of args.seeds) {
          const kv = await run(workload, workers, concurrency, seed, true);
          const rr = await run(workload, workers, concurrency, seed, false);
          cells[`${cell}.s${seed}`] = { kv, roundRobin: rr };
          runs.push({ cell, seed, kv, roundRobin: rr });
          const mean = kv.ttftMs.mean / rr.ttftMs.mean;
          const p50 = kv.ttftMs.p50 / rr.ttftMs.p50;
          process.stderr.write(
            `${cell}.s${seed}: mean ${kv.ttftMs.mean.toFixed(1)}/${rr.ttftMs.mean.toFixed(1)} ms = ${mean.toFixed(3)}, ` +
              `p50 ${p50.toFixed(3)}, cached ${kv.cachedTokenShare.toFixed(2)}/${rr.cachedTokenShare.toFixed(2)}\n`,
          );
        }
      }
    }
  }
  const ratios = placementRatios(runs);
  const report = {
    bench: 'placement-sim',
    router: { ...DEFAULT_ROUTER_SETTINGS, ...overrides },
    cells,
    ratios,
  };
  if (args.out !== undefined) await writeFile(args.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify({ bench: 'placement-sim', ratios })}\n`);
}

await main();
