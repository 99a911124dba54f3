// `dynamo bench --compare agg,disagg`: the same long-prompt workload played against an aggregated
// deployment and against every prefill/decode split of the same number of workers (DESIGN §12), each
// deployment fresh (started through the `deploy` callback the CLI gives). Per deployment: TTFT,
// inter-token latency over every gap of every stream, output tokens/s; the ratios of the best split to
// the aggregated one.
//
//   for each topology:  deploy ─▶ /health shows every worker ─▶ warm-up ─▶ workload ─▶ /metrics ─▶ stop
//
// Why disaggregation should win on the mocker: an aggregated worker that admits a long prompt runs its
// prefill in the same step as every running decode (step ms = prefill(t) + decode), so each stream
// in that batch waits a whole prefill between two tokens; a decode worker only ever computes the
// prompt's partial last block and the first token (the rest arrives over the simulated KV link).
import { writeFile } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  type RequestResult,
  runWorkload,
  type Stats,
  type Summary,
  stats,
  summarize,
} from './load-generator.js';
import type { Deployment } from './routing-bench.js';
import { planWorkload, type Workload } from './workloads.js';

export type Split = { kind: 'disagg'; prefillWorkers: number; decodeWorkers: number };
export type Topology = { kind: 'agg'; workers: number } | Split;

/** `agg`, or `<P>p<D>d` for a split (`1p3d`): the keys of the report's runs. */
export function topologyName(t: Topology): string {
  return t.kind === 'agg' ? 'agg' : `${t.prefillWorkers}p${t.decodeWorkers}d`;
}

export function workerCount(t: Topology): number {
  return t.kind === 'agg' ? t.workers : t.prefillWorkers + t.decodeWorkers;
}

/** Every split of `workers` into at least one prefill and one decode worker, fewest prefill first. */
export function everySplit(workers: number): Split[] {
  return Array.from({ length: Math.max(0, workers - 1) }, (_, i) => ({
    kind: 'disagg' as const,
    prefillWorkers: i + 1,
    decodeWorkers: workers - i - 1,
  }));
}

export interface TopologyRun {
  topology: Topology;
  deploy(): Promise<Deployment>;
}

export interface DisaggBenchOptions {
  workload: Workload;
  maxConcurrency: number;
  progress?: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal;
  /** Where the JSON report goes (it is also returned). */
  out?: string;
  /** What the deployments ran on (engine, mocker and frontend settings), copied into the report as is. */
  deployment?: Record<string, unknown>;
  /** How the arrival rate was chosen, copied into the report as is. */
  rate?: Record<string, unknown>;
  /** How long a deployment may take until /health lists every worker. */
  readyTimeoutMs?: number;
}

/** What the frontend counted for a disaggregated deployment during the measured run (its /metrics). */
export interface PrefillCounts {
  remote: number;
  /** Prompts prefilled on the decode worker, by reason: each one is a request disaggregation did not serve. */
  local: Record<string, number>;
}

export interface TopologySummary extends Summary {
  prefillWorkers: number;
  decodeWorkers: number;
  /** Gaps between streamed chunks, over every gap of every request. */
  itlMs: Stats;
  /** Per request: (end − first token) / (output tokens − 1). */
  tpotMs: Stats;
  /** Output tokens per streamed chunk (1 unless the server coalesced tokens under load). */
  tokensPerChunk: number;
  /**
   * The bench process's event-loop delay during the run (frontend, workers and client share it): what
   * the measured latencies may owe to this machine rather than to the simulated engines.
   */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  prefills?: PrefillCounts;
}

export interface BestSplit {
  name: string;
  /** How it was chosen: the lowest ITL p99 among splits keeping ≥ 0.9× agg throughput, else the highest throughput. */
  by: 'itl-p99-at-throughput' | 'throughput';
}

export interface SplitRatios {
  itlP99OverAgg: number;
  itlP50OverAgg: number;
  throughputOverAgg: number;
  ttftMeanOverAgg: number;
  ttftP99OverAgg: number;
}

export interface DisaggRatios {
  /** The best split's (see `best`). */
  itlP99DisaggOverAgg: number;
  itlP50DisaggOverAgg: number;
  throughputDisaggOverAgg: number;
  ttftMeanDisaggOverAgg: number;
  ttftP99DisaggOverAgg: number;
  /** Every split's, by name. */
  splits: Record<string, SplitRatios>;
}

export interface DisaggReport {
  bench: 'disagg';
  workload: Workload;
  rate?: Record<string, unknown>;
  deployment?: Record<string, unknown>;
  /** `agg` and each split (`1p3d`, ...), in the order run. */
  runs: Record<string, TopologySummary>;
  /** Absent unless agg and at least one split ran. */
  best?: BestSplit;
  ratios?: DisaggRatios;
}

const LOOP_SAMPLE_MS = 5;

/** Throughput a split must keep, relative to agg, to compete on ITL. */
export const THROUGHPUT_FLOOR = 0.9;

const round3 = (v: number) => Math.round(v * 1000) / 1000;
const ratio = (a: number, b: number) => (b === 0 || !Number.isFinite(b) ? Number.NaN : round3(a / b));

/**
 * The best split: the lowest ITL p99 among those whose throughput is at least THROUGHPUT_FLOOR × agg's
 * (what disaggregation is for: smooth decode at no cost in throughput), else the highest throughput.
 */
export function pickBest(
  agg: Pick<TopologySummary, 'outputTokensPerSec'>,
  splits: Readonly<Record<string, Pick<TopologySummary, 'outputTokensPerSec' | 'itlMs'>>>,
): BestSplit | undefined {
  const entries = Object.entries(splits);
  const keeping = entries.filter(
    ([, s]) => s.outputTokensPerSec >= THROUGHPUT_FLOOR * agg.outputTokensPerSec,
  );
  if (keeping.length > 0) {
    const [name] = keeping.reduce((a, b) => (b[1].itlMs.p99 < a[1].itlMs.p99 ? b : a));
    return { name, by: 'itl-p99-at-throughput' };
  }
  if (entries.length === 0) return undefined;
  const [name] = entries.reduce((a, b) => (b[1].outputTokensPerSec > a[1].outputTokensPerSec ? b : a));
  return { name, by: 'throughput' };
}

export function splitRatios(split: TopologySummary, agg: TopologySummary): SplitRatios {
  return {
    itlP99OverAgg: ratio(split.itlMs.p99, agg.itlMs.p99),
    itlP50OverAgg: ratio(split.itlMs.p50, agg.itlMs.p50),
    throughputOverAgg: ratio(split.outputTokensPerSec, agg.outputTokensPerSec),
    ttftMeanOverAgg: ratio(split.ttftMs.mean, agg.ttftMs.mean),
    ttftP99OverAgg: ratio(split.ttftMs.p99, agg.ttftMs.p99),
  };
}

export function summarizeTopology(
  topology: Topology,
  results: readonly RequestResult[],
  durationS: number,
  eventLoopDelayMs: TopologySummary['eventLoopDelayMs'],
  prefills?: PrefillCounts,
): TopologySummary {
  const ok = results.filter((r) => r.ok);
  const gaps = ok.flatMap((r) => r.itlMs ?? []);
  const chunks = ok.reduce((s, r) => s + (r.itlMs?.length ?? 0) + 1, 0);
  const tokens = ok.reduce((s, r) => s + r.outputTokens, 0);
  const tpot = ok.filter((r) => r.outputTokens > 1).map((r) => (r.e2eMs - r.ttftMs) / (r.outputTokens - 1));
  return {
    prefillWorkers: topology.kind === 'agg' ? 0 : topology.prefillWorkers,
    decodeWorkers: topology.kind === 'agg' ? 0 : topology.decodeWorkers,
    ...summarize(results, durationS),
    itlMs: stats(gaps),
    tpotMs: stats(tpot),
    tokensPerChunk: chunks === 0 ? 0 : Math.round((tokens / chunks) * 100) / 100,
    eventLoopDelayMs,
    ...(prefills ? { prefills } : {}),
  };
}

/** Runs the workload once per topology, each against its own fresh deployment. */
export async function benchTopologies(
  runs: readonly TopologyRun[],
  options: DisaggBenchOptions,
): Promise<DisaggReport> {
  const plan = planWorkload(options.workload);
  const inputLen = options.workload.kind === 'random' ? options.workload.inputLen : 1024;
  // Long enough to take the disaggregated path (a short prompt may be prefilled locally), so that the
  // warm-up exercises (and JIT-compiles) what the run measures.
  const warmup = planWorkload({
    kind: 'random',
    requests: 8,
    inputLen: Math.min(inputLen, 1024),
    outputLen: 4,
    rate: 1000,
    seed: options.workload.seed + 1_000_003,
  });
  const summaries: Record<string, TopologySummary> = {};
  for (const run of runs) {
    if (options.signal?.aborted) break;
    const name = topologyName(run.topology);
    const deployment = await run.deploy();
    let results: RequestResult[];
    let durationS: number;
    let prefills: PrefillCounts | undefined;
    const delay = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
    try {
      await waitReady(deployment.url, run.topology, options.readyTimeoutMs ?? 30_000);
      await runWorkload(warmup, {
        url: deployment.url,
        model: deployment.model,
        maxConcurrency: 4,
        label: 'warm-up',
      });
      const before = run.topology.kind === 'disagg' ? await prefillCounts(deployment.url) : undefined;
      delay.enable();
      const start = performance.now();
      results = await runWorkload(plan, {
        url: deployment.url,
        model: deployment.model,
        maxConcurrency: options.maxConcurrency,
        label: name,
        ...(options.progress ? { progress: options.progress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      durationS = (performance.now() - start) / 1000;
      delay.disable();
      if (before) prefills = diffCounts(await prefillCounts(deployment.url), before);
    } finally {
      delay.disable();
      await deployment.stop();
    }
    // The histogram holds whole sampling intervals: the delay is what exceeds the interval.
    const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - LOOP_SAMPLE_MS) * 100) / 100);
    const loopDelay = { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) };
    summaries[name] = summarizeTopology(run.topology, results, durationS, loopDelay, prefills);
  }
  const report: DisaggReport = {
    bench: 'disagg',
    workload: options.workload,
    ...(options.rate ? { rate: options.rate } : {}),
    ...(options.deployment ? { deployment: options.deployment } : {}),
    runs: summaries,
  };
  const agg = summaries.agg;
  const splits = Object.fromEntries(Object.entries(summaries).filter(([n]) => n !== 'agg'));
  const best = agg ? pickBest(agg, splits) : undefined;
  if (agg && best) {
    const perSplit = Object.fromEntries(Object.entries(splits).map(([n, s]) => [n, splitRatios(s, agg)]));
    const b = perSplit[best.name] as SplitRatios;
    report.best = best;
    report.ratios = {
      itlP99DisaggOverAgg: b.itlP99OverAgg,
      itlP50DisaggOverAgg: b.itlP50OverAgg,
      throughputDisaggOverAgg: b.throughputOverAgg,
      ttftMeanDisaggOverAgg: b.ttftMeanOverAgg,
      ttftP99DisaggOverAgg: b.ttftP99OverAgg,
      splits: perSplit,
    };
  }
  if (options.out) await writeFile(options.out, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

interface HealthBody {
  instances?: { disaggregation_mode?: string }[];
}

/**
 * Waits until the frontend's /health lists every worker of the topology with its role: a split
 * measured before its prefill workers are discovered would prefill on its decode workers.
 */
async function waitReady(url: string, topology: Topology, timeoutMs: number): Promise<void> {
  const want: Record<string, number> =
    topology.kind === 'agg'
      ? { agg: topology.workers }
      : { prefill: topology.prefillWorkers, decode: topology.decodeWorkers };
  const deadline = performance.now() + timeoutMs;
  let seen = '';
  for (;;) {
    const response = await fetch(`${url}/health`).catch(() => undefined);
    const body = (await response?.json().catch(() => undefined)) as HealthBody | undefined;
    const have: Record<string, number> = {};
    for (const i of body?.instances ?? []) {
      const mode = i.disaggregation_mode ?? 'agg';
      have[mode] = (have[mode] ?? 0) + 1;
    }
    if (Object.entries(want).every(([mode, n]) => have[mode] === n)) return;
    seen = JSON.stringify(have);
    if (performance.now() > deadline) {
      throw new Error(`${topologyName(topology)}: /health lists ${seen} workers after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const REMOTE = 'dynamo_frontend_disagg_remote_prefill_total';
const LOCAL = 'dynamo_frontend_disagg_local_prefill_total';

/** The frontend's disaggregation counters, summed over models (Prometheus text format). */
export function parsePrefillCounts(metrics: string): PrefillCounts {
  const counts: PrefillCounts = { remote: 0, local: {} };
  for (const line of metrics.split('\n')) {
    if (line.startsWith('#')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!Number.isFinite(value)) continue;
    if (line.startsWith(`${REMOTE}{`) || line.startsWith(`${REMOTE} `)) counts.remote += value;
    else if (line.startsWith(`${LOCAL}{`)) {
      const reason = /reason="([^"]*)"/.exec(line)?.[1] ?? 'unknown';
      counts.local[reason] = (counts.local[reason] ?? 0) + value;
    }
  }
  return counts;
}

async function prefillCounts(url: string): Promise<PrefillCounts> {
  const response = await fetch(`${url}/metrics`);
  if (!response.ok) throw new Error(`${url}/metrics: HTTP ${response.status}`);
  return parsePrefillCounts(await response.text());
}

function diffCounts(after: PrefillCounts, before: PrefillCounts): PrefillCounts {
  const local: Record<string, number> = {};
  for (const [reason, n] of Object.entries(after.local)) local[reason] = n - (before.local[reason] ?? 0);
  return { remote: after.remote - before.remote, local };
}
