// `dynamo bench`: plays a workload against an OpenAI endpoint, or — with several policies — starts a
// deployment per routing policy (through the `start` callback the CLI gives), plays the same workload
// against each, and reports TTFT and prefix-cache hit rates side by side, with the oracle hit rate and
// the ratios of kv against the other policies. With several frontends per deployment (router replica
// sync), requests go round-robin over them, and the report compares each count, with sync and without,
// against one frontend.
import { writeFile } from 'node:fs/promises';
import { type RequestResult, runWorkload, type Summary, summarize } from './load-generator.js';
import { ttftCdfSvg } from './ttft-plot.js';
import { oracleHitRate, planWorkload, type Workload } from './workloads.js';

export interface Deployment {
  /** Base URL of the OpenAI API. */
  url: string;
  /** Every frontend's base URL, when there are several (requests go round-robin over them). */
  urls?: string[];
  model: string;
  stop(): Promise<void>;
}

export interface BenchOptions {
  workload: Workload;
  /** Tokens per KV block of the workers (for the oracle). */
  blockSize: number;
  maxConcurrency: number;
  progress?: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal;
  /** Where the JSON report goes (it is also returned). */
  out?: string;
  /** Where the SVG plot of TTFT distributions goes. */
  svg?: string;
  /** What the policies ran on (workers, engine, router settings), copied into the report as is. */
  deployment?: Record<string, unknown>;
}

export interface PolicyRun {
  name: string;
  deploy(): Promise<Deployment>;
  /** Frontend replicas of the deployment, and whether their routers sync (`--frontends`). */
  frontends?: { count: number; sync: boolean };
}

export interface BenchReport {
  bench: 'routing';
  workload: Workload;
  blockSize: number;
  deployment?: Record<string, unknown>;
  policies: Record<string, Summary>;
  hitRate: Record<string, number>;
  oracleHitRate: number;
  ratios: Record<string, number>;
}

const round = (v: number) => Math.round(v * 1000) / 1000;

/** Runs the workload once per policy, each against its own fresh deployment. */
export async function benchPolicies(runs: readonly PolicyRun[], options: BenchOptions): Promise<BenchReport> {
  const plan = planWorkload(options.workload);
  const warmup = planWorkload({
    kind: 'shared-prefix',
    groups: 8,
    promptsPerGroup: 1,
    systemPromptLen: 0,
    questionLen: 2 * options.blockSize,
    outputLen: 2,
    rate: 1000,
    seed: options.workload.seed + 1_000_003,
  });
  const policies: Record<string, Summary> = {};
  const ttfts = new Map<string, number[]>();
  for (const run of runs) {
    if (options.signal?.aborted) break;
    const deployment = await run.deploy();
    let results: RequestResult[];
    let start = performance.now();
    try {
      // Warm-up (JIT, lazily loaded model files) on prompts the workload never uses: not measured.
      await runWorkload(warmup, {
        url: deployment.url,
        ...(deployment.urls ? { urls: deployment.urls } : {}),
        model: deployment.model,
        maxConcurrency: 1,
        label: 'warm-up',
      });
      start = performance.now();
      results = await runWorkload(plan, {
        url: deployment.url,
        ...(deployment.urls ? { urls: deployment.urls } : {}),
        model: deployment.model,
        maxConcurrency: options.maxConcurrency,
        label: run.name,
        ...(options.progress ? { progress: options.progress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } finally {
      await deployment.stop();
    }
    policies[run.name] = summarize(results, (performance.now() - start) / 1000);
    ttfts.set(
      run.name,
      results.filter((r) => r.ok).map((r) => r.ttftMs),
    );
  }
  const hitRate = Object.fromEntries(Object.entries(policies).map(([k, s]) => [k, s.hitRate]));
  const oracle = round(oracleHitRate(plan, options.blockSize));
  const ratios: Record<string, number> = {};
  const kv = policies.kv;
  const camel = (name: string) => name.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
  if (kv) {
    for (const [name, s] of Object.entries(policies)) {
      if (name !== 'kv') ratios[`ttftMeanKvOver${camel(name)}`] = round(kv.ttftMs.mean / s.ttftMs.mean);
    }
    ratios.kvHitRateOverOracle = oracle === 0 ? 0 : round(kv.hitRate / oracle);
  }
  Object.assign(ratios, frontendRatios(runs, policies));
  const report: BenchReport = {
    bench: 'routing',
    workload: options.workload,
    blockSize: options.blockSize,
    ...(options.deployment ? { deployment: options.deployment } : {}),
    policies,
    hitRate,
    oracleHitRate: oracle,
    ratios,
  };
  if (options.out) await writeFile(options.out, `${JSON.stringify(report, null, 2)}\n`);
  if (options.svg) {
    await writeFile(
      options.svg,
      ttftCdfSvg(ttfts, `TTFT distribution per policy (${options.workload.kind})`),
    );
  }
  return report;
}

/**
 * `--frontends`: each count's hit rate and mean TTFT over one frontend's — `hitRate3Over1`,
 * `ttftMean3Over1` with replica sync, the same with `NoSync` after them without.
 */
export function frontendRatios(
  runs: readonly PolicyRun[],
  policies: Readonly<Record<string, Summary>>,
): Record<string, number> {
  const ratios: Record<string, number> = {};
  const one = runs.find((r) => r.frontends?.count === 1);
  const base = one && policies[one.name];
  if (base === undefined) return ratios;
  for (const run of runs) {
    const s = policies[run.name];
    if (run.frontends === undefined || run.frontends.count === 1 || s === undefined) continue;
    const suffix = `${run.frontends.count}Over1${run.frontends.sync ? '' : 'NoSync'}`;
    ratios[`hitRate${suffix}`] = base.hitRate === 0 ? 0 : round(s.hitRate / base.hitRate);
    ratios[`ttftMean${suffix}`] = round(s.ttftMs.mean / base.ttftMs.mean);
  }
  return ratios;
}
