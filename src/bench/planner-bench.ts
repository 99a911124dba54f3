// `dynamo bench --planner`: the SLA planner against static provisioning, in one run (issue 17).
//
//   profile (measured now, on a mocker like the workers) ─▶ static sizes at the peak and at the mean
//   for each of planner / static-peak / static-mean:  deploy ─▶ warm-up ─▶ sinusoidal load ─▶ stop
//
// The load: a non-homogeneous Poisson process whose rate follows a sine from trough to peak (starting
// at the trough) for several periods; random prompts of one length (nothing to hit in the prefix cache),
// a fixed output length. Every deployment gets the very same arrivals and prompts.
//
// Per run: the share of requests within BOTH targets (TTFT ≤ target and the request's mean inter-token
// latency, (end − first token) / (output tokens − 1), ≤ target; a failed request is a miss), and the
// replica-seconds used: the integral of the workers provisioned (serving, starting and draining), sampled
// every 250 ms. The static sizes come from the same profile and formula the planner uses (throughput.ts),
// so the comparison is "the planner's model applied once for the worst (or average) case" vs "applied
// continuously". Wall clock: a mocker at --speedup-ratio k runs k times faster than the GPU it simulates;
// targets and the profile are in this wall clock.
import { writeFile } from 'node:fs/promises';
import type { PlannerProfile } from '../api/index.js';
import { type EngineModel, engineModelFromProfile } from '../planner/engine-model.js';
import { known } from '../planner/metric.js';
import type { PlannerConfig } from '../planner/planner.js';
import { withPrefillCorrection } from '../planner/prefill-correction.js';
import { proposeReplicas, type SlaTargets } from '../planner/throughput.js';
import { type RequestResult, runWorkload, type Stats, stats } from './load-generator.js';
import { type PlannedRequest, rng } from './workloads.js';

export interface SineLoad {
  /** Requests per second at the trough and at the peak. */
  troughRate: number;
  peakRate: number;
  periodS: number;
  periods: number;
  inputLen: number;
  outputLen: number;
  seed: number;
}

export type PlannerSettings = Omit<PlannerConfig, 'services' | 'mode'>;

export interface PlannerBenchDeployment {
  url: string;
  model: string;
  /** Workers provisioned now: serving, starting and draining. */
  provisioned(): number;
  /** With the planner: its prefill correction now (what the workers achieve over the profile). */
  prefillCorrection?(): number | undefined;
  stop(): Promise<void>;
}

export interface DeploySpec {
  workers: number;
  /** With the planner (the deployment's workers are its agg service). */
  planner?: { settings: PlannerSettings; profile: PlannerProfile };
}

export interface PlannerBenchOptions {
  load: SineLoad;
  /** The planner's settings (targets and limits included). */
  planner: PlannerSettings;
  /** The profile, or how to measure it (the report says which). */
  profile:
    | { kind: 'given'; profile: PlannerProfile }
    | { kind: 'measure'; measure: () => Promise<PlannerProfile> };
  deploy(spec: DeploySpec): Promise<PlannerBenchDeployment>;
  maxConcurrency: number;
  progress?: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal;
  out?: string;
  /** Copied into the report as is (mocker settings, ...). */
  deployment?: Record<string, unknown>;
}

export interface RunSummary {
  requests: number;
  errors: number;
  /** Failed requests by error (its first 100 characters). */
  errorKinds: Record<string, number>;
  /** Share of requests within both targets. */
  slaAttainment: number;
  ttftAttainment: number;
  itlAttainment: number;
  ttftMs: Stats;
  /** Per request: mean inter-token latency. */
  itlMs: Stats;
  replicaSeconds: number;
  replicas: { min: number; max: number; mean: number };
  durationS: number;
  /** Share within SLA of the requests arriving in each period of the sine (predictors learn). */
  byPeriod: number[];
  /** Every 2 s: provisioned workers (the last sample), arrivals per second and the share of them within SLA. */
  timeline: { t: number; replicas: number; arrivalsPerS: number; withinSla: number }[];
}

export interface PlannerBenchReport {
  bench: 'planner';
  load: SineLoad & { meanRate: number; requests: number; durationS: number };
  targets: SlaTargets;
  planner: {
    predictor: string;
    /** moving-average: observations averaged. */
    predictorWindow?: number;
    trendWindow?: number;
    scaleDownHold?: number;
    scaleDownStep?: number;
    adjustmentIntervalS: number;
    loadIntervalS: number;
    minReplicas: number;
    maxReplicas: number;
  };
  profile: {
    source: 'given' | 'measured';
    measuredInS?: number;
    prefillPoints: number;
    decodePoints: number;
    /** The profile itself (reusable with --profile). */
    data: PlannerProfile;
  };
  sizing: {
    staticPeak: number;
    staticMean: number;
    capacityRps: number;
    /** The planner's prefill correction at the end of its run, applied to the static sizes (1: none). */
    prefillCorrection: number;
  };
  deployment?: Record<string, unknown>;
  runs: { planner: RunSummary; staticPeak: RunSummary; staticMean: RunSummary };
  ratios: {
    slaAttainment: number;
    staticMeanSlaAttainment: number;
    staticPeakSlaAttainment: number;
    replicaSecondsOverStaticPeak: number;
    replicaSecondsOverStaticMean: number;
  };
}

/** The rate at t seconds: the trough at t = 0, the peak half a period later. */
export function sineRate(load: SineLoad, t: number): number {
  const mean = (load.peakRate + load.troughRate) / 2;
  const amplitude = (load.peakRate - load.troughRate) / 2;
  return mean - amplitude * Math.cos((2 * Math.PI * t) / load.periodS);
}

/** Arrivals by thinning a Poisson process at the peak rate; prompts of random tokens. */
export function planSineLoad(load: SineLoad): PlannedRequest[] {
  const random = rng(load.seed);
  const end = load.periodS * load.periods;
  const out: PlannedRequest[] = [];
  let t = 0;
  for (;;) {
    t += -Math.log(1 - random()) / load.peakRate;
    if (t >= end) break;
    if (random() * load.peakRate > sineRate(load, t)) continue;
    out.push({
      index: out.length,
      atMs: t * 1000,
      after: null,
      promptTokens: Array.from({ length: load.inputLen }, () => 1000 + Math.floor(random() * 30000)),
      maxTokens: load.outputLen,
      group: 0,
    });
  }
  return out;
}

/** Replicas the planner's formula gives for a steady rate (before min/max). */
export function staticReplicas(
  engine: EngineModel,
  load: SineLoad,
  rate: number,
  targets: SlaTargets,
): {
  replicas: number;
  capacityRps: number;
} {
  const [p] = proposeReplicas(
    ['agg'],
    { requestRate: known(rate), isl: known(load.inputLen), osl: known(load.outputLen), kvHitRate: known(0) },
    engine,
    targets,
  );
  if (p === undefined || p.kind !== 'sized') throw new Error('the profile cannot size this load');
  return { replicas: Math.max(1, p.replicas), capacityRps: p.capacityRps };
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

/** The mean of the planner's prefill corrections sampled in a run; 1 (the profile as is) without any. */
function meanFactor(samples: readonly { factor: number }[]): number {
  return samples.length ? samples.reduce((s, c) => s + c.factor, 0) / samples.length : 1;
}
const ratio = (a: number, b: number) => (b > 0 ? round3(a / b) : Number.NaN);

/** Mean inter-token latency of one request (NaN with fewer than two tokens). */
function requestItl(r: RequestResult): number {
  return r.outputTokens > 1 ? (r.e2eMs - r.ttftMs) / (r.outputTokens - 1) : Number.NaN;
}

export function summarizeRun(
  results: readonly RequestResult[],
  targets: SlaTargets,
  samples: readonly { t: number; replicas: number }[],
  plan: readonly PlannedRequest[],
  durationS: number,
  periodS: number = durationS,
): RunSummary {
  const ok = results.filter((r) => r.ok);
  const ttftOk = (r: RequestResult) => r.ok && r.ttftMs <= targets.ttftMs;
  const itlOk = (r: RequestResult) => {
    const itl = requestItl(r);
    return r.ok && (Number.isNaN(itl) || itl <= targets.itlMs);
  };
  const n = Math.max(1, results.length);
  let replicaSeconds = 0;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1] as { t: number; replicas: number };
    const b = samples[i] as { t: number; replicas: number };
    replicaSeconds += a.replicas * (b.t - a.t);
  }
  const counts = samples.map((s) => s.replicas);
  const span = (samples.at(-1)?.t ?? 0) - (samples[0]?.t ?? 0);
  const within = new Set(results.filter((r) => ttftOk(r) && itlOk(r)).map((r) => r.index));
  const shareWithin = (from: number, to: number) => {
    const arrived = plan.filter((r) => r.atMs >= from * 1000 && r.atMs < to * 1000);
    return arrived.length ? round3(arrived.filter((r) => within.has(r.index)).length / arrived.length) : 1;
  };
  const timeline: RunSummary['timeline'] = [];
  const bucket = 2;
  for (let t = 0; t < durationS; t += bucket) {
    const last = [...samples].reverse().find((s) => s.t <= t + bucket);
    const arrivals = plan.filter((r) => r.atMs >= t * 1000 && r.atMs < (t + bucket) * 1000).length;
    timeline.push({
      t,
      replicas: last?.replicas ?? 0,
      arrivalsPerS: arrivals / bucket,
      withinSla: shareWithin(t, t + bucket),
    });
  }
  const lastArrival = (plan.at(-1)?.atMs ?? 0) / 1000;
  const byPeriod: number[] = [];
  for (let t = 0; t <= lastArrival && periodS > 0; t += periodS) byPeriod.push(shareWithin(t, t + periodS));
  const errorKinds: Record<string, number> = {};
  for (const r of results)
    if (!r.ok) {
      const kind = (r.error ?? 'unknown').slice(0, 100);
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    }
  return {
    requests: results.length,
    errors: results.length - ok.length,
    errorKinds,
    slaAttainment: round3(results.filter((r) => ttftOk(r) && itlOk(r)).length / n),
    ttftAttainment: round3(results.filter(ttftOk).length / n),
    itlAttainment: round3(results.filter(itlOk).length / n),
    ttftMs: stats(ok.map((r) => r.ttftMs)),
    itlMs: stats(ok.map(requestItl).filter((v) => !Number.isNaN(v))),
    replicaSeconds: Math.round(replicaSeconds * 10) / 10,
    replicas: {
      min: counts.length ? Math.min(...counts) : 0,
      max: counts.length ? Math.max(...counts) : 0,
      mean: span > 0 ? Math.round((replicaSeconds / span) * 100) / 100 : (counts[0] ?? 0),
    },
    durationS: Math.round(durationS * 100) / 100,
    byPeriod,
    timeline,
  };
}

async function play(
  name: string,
  spec: DeploySpec,
  plan: readonly PlannedRequest[],
  options: PlannerBenchOptions,
  targets: SlaTargets,
): Promise<{ summary: RunSummary; corrections: { t: number; factor: number }[] }> {
  const deployment = await options.deploy(spec);
  try {
    // Warm-up (JIT, first connections): a few requests, not measured.
    const warmup = plan.slice(0, 4).map((r, index) => ({ ...r, index, atMs: index * 50 }));
    await runWorkload(warmup, {
      url: deployment.url,
      model: deployment.model,
      maxConcurrency: options.maxConcurrency,
      label: `${name} warm-up`,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const samples: { t: number; replicas: number }[] = [];
    const corrections: { t: number; factor: number }[] = [];
    const started = performance.now();
    const sample = () => {
      const t = (performance.now() - started) / 1000;
      samples.push({ t, replicas: deployment.provisioned() });
      const factor = deployment.prefillCorrection?.();
      if (factor !== undefined) corrections.push({ t, factor });
    };
    sample();
    const timer = setInterval(sample, 250);
    let results: RequestResult[];
    try {
      results = await runWorkload(plan, {
        url: deployment.url,
        model: deployment.model,
        maxConcurrency: options.maxConcurrency,
        label: name,
        ...(options.progress ? { progress: options.progress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } finally {
      clearInterval(timer);
    }
    sample();
    const durationS = (performance.now() - started) / 1000;
    const summary = summarizeRun(results, targets, samples, plan, durationS, options.load.periodS);
    options.progress?.write(
      `${name}: ${(summary.slaAttainment * 100).toFixed(1)} % within SLA (TTFT ${(summary.ttftAttainment * 100).toFixed(1)} %, ITL ${(summary.itlAttainment * 100).toFixed(1)} %), ${summary.replicaSeconds} replica-s, replicas ${summary.replicas.min}–${summary.replicas.max}, by period ${summary.byPeriod.map((v) => `${(v * 100).toFixed(1)} %`).join(' / ')}\n`,
    );
    return { summary, corrections };
  } finally {
    await deployment.stop();
  }
}

export async function benchPlanner(options: PlannerBenchOptions): Promise<PlannerBenchReport> {
  const { load } = options;
  if (load.peakRate < load.troughRate) throw new RangeError('the peak rate is below the trough rate');
  const targets = options.planner.targets;
  const measuredAt = performance.now();
  const profile =
    options.profile.kind === 'given' ? options.profile.profile : await options.profile.measure();
  const measuredInS = (performance.now() - measuredAt) / 1000;
  const meanRate = (load.peakRate + load.troughRate) / 2;
  const engine = engineModelFromProfile(profile);
  const trough = staticReplicas(engine, load, load.troughRate, targets);
  const { maxReplicas, minReplicas } = options.planner.limits;
  const clamp = (n: number) => Math.min(maxReplicas, Math.max(1, n));
  const plan = planSineLoad(load);
  const { summary: planner, corrections } = await play(
    'planner',
    {
      workers: clamp(Math.max(minReplicas, trough.replicas)),
      planner: { settings: options.planner, profile },
    },
    plan,
    options,
    targets,
  );
  // The static sizes are the planner's model applied once: its profile, corrected as the planner had
  // corrected it when the load was at the peak (static peak) and on average (static mean). Sized from
  // the profile alone, "static at the peak" would be short of the peak it is meant to carry.
  const peakFactor = meanFactor(
    corrections.filter(
      (c) => sineRate(load, c.t) >= load.troughRate + 0.9 * (load.peakRate - load.troughRate),
    ),
  );
  const averageFactor = meanFactor(corrections);
  const peak = staticReplicas(withPrefillCorrection(engine, peakFactor), load, load.peakRate, targets);
  const mean = staticReplicas(withPrefillCorrection(engine, averageFactor), load, meanRate, targets);
  options.progress?.write(
    `planner bench: ${load.troughRate}–${load.peakRate} req/s sine, period ${load.periodS} s × ${load.periods}; one replica ≈ ${peak.capacityRps.toFixed(2)} req/s at the peak (prefill correction ${peakFactor.toFixed(2)}; ${averageFactor.toFixed(2)} on average) → static peak ${clamp(peak.replicas)}, static mean ${clamp(mean.replicas)} replicas\n`,
  );
  const { summary: staticPeak } = await play(
    'static-peak',
    { workers: clamp(peak.replicas) },
    plan,
    options,
    targets,
  );
  const { summary: staticMean } = await play(
    'static-mean',
    { workers: clamp(mean.replicas) },
    plan,
    options,
    targets,
  );
  const report: PlannerBenchReport = {
    bench: 'planner',
    load: { ...load, meanRate, requests: plan.length, durationS: load.periodS * load.periods },
    targets,
    planner: {
      predictor: options.planner.predictor.kind,
      ...(options.planner.predictor.window === undefined
        ? {}
        : { predictorWindow: options.planner.predictor.window }),
      ...(options.planner.trendWindow === undefined ? {} : { trendWindow: options.planner.trendWindow }),
      ...(options.planner.scaleDownHold === undefined
        ? {}
        : { scaleDownHold: options.planner.scaleDownHold }),
      ...(options.planner.scaleDownStep === undefined
        ? {}
        : { scaleDownStep: options.planner.scaleDownStep }),
      adjustmentIntervalS: options.planner.adjustmentIntervalMs / 1000,
      loadIntervalS: options.planner.loadIntervalMs / 1000,
      minReplicas,
      maxReplicas,
    },
    profile: {
      source: options.profile.kind === 'given' ? 'given' : 'measured',
      ...(options.profile.kind === 'measure' ? { measuredInS: Math.round(measuredInS * 10) / 10 } : {}),
      prefillPoints: profile.prefill.length,
      decodePoints: profile.decode.length,
      data: profile,
    },
    sizing: {
      staticPeak: clamp(peak.replicas),
      staticMean: clamp(mean.replicas),
      capacityRps: round3(peak.capacityRps),
      prefillCorrection: round3(peakFactor),
    },
    ...(options.deployment ? { deployment: options.deployment } : {}),
    runs: { planner, staticPeak, staticMean },
    ratios: {
      slaAttainment: planner.slaAttainment,
      staticMeanSlaAttainment: staticMean.slaAttainment,
      staticPeakSlaAttainment: staticPeak.slaAttainment,
      replicaSecondsOverStaticPeak: ratio(planner.replicaSeconds, staticPeak.replicaSeconds),
      replicaSecondsOverStaticMean: ratio(planner.replicaSeconds, staticMean.replicaSeconds),
    },
  };
  if (options.out) await writeFile(options.out, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}
