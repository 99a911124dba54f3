import { z } from 'zod';
import {
  benchTopologies,
  everySplit,
  type Split,
  type Topology,
  type TopologyRun,
  topologyName,
} from '../../bench/disagg-bench.js';
import {
  benchPlanner,
  type PlannerBenchDeployment,
  type DeploySpec as PlannerDeploySpec,
  type SineLoad,
} from '../../bench/planner-bench.js';
import {
  type BenchReport,
  benchPolicies,
  type Deployment,
  type PolicyRun,
} from '../../bench/routing-bench.js';
import type { Workload } from '../../bench/workloads.js';
import { DEFAULT_BODY_LIMIT_BYTES, DEFAULT_DISAGG_OPTIONS } from '../../frontend/index.js';
import { PREDICTOR_KINDS } from '../../planner/predictors.js';
import { ROUTER_MODES } from '../../router/index.js';
import type { Logger } from '../../runtime/index.js';
import { defaultTokenizerDir } from '../../worker/index.js';
import { profileEngine } from '../../worker/profiler.js';
import { startAllInOne } from '../all-in-one.js';
import { defineCommand } from '../command.js';
import { UsageError } from '../options.js';
import { loadProfile, PLANNER_OPTIONS, plannerSettings } from '../planner-options.js';
import { ROUTER_OPTIONS, routerSettings } from '../router-options.js';

// The router's flags apply to every deployment of a comparison; the policy itself comes from --compare
// (kv for agg,disagg).
const { routerMode: _policy, ...BENCH_ROUTER_OPTIONS } = ROUTER_OPTIONS;
const int = (min: number) => z.coerce.number().int().min(min);
const POLICIES = ROUTER_MODES.filter((m) => m !== 'direct');
const TOPOLOGIES = ['agg', 'disagg'] as const;
type Policy = (typeof POLICIES)[number];
type Comparison =
  | { kind: 'policies'; policies: Policy[] }
  | { kind: 'topologies'; agg: boolean; disagg: boolean };
const isPolicy = (v: string): v is Policy => (POLICIES as readonly string[]).includes(v);
const isTopology = (v: string): v is (typeof TOPOLOGIES)[number] =>
  (TOPOLOGIES as readonly string[]).includes(v);
// Router policies (one deployment each) or topologies (aggregated and disaggregated), never both.
const comparison = z.string().transform((s, ctx): Comparison => {
  const names = s.split(',').map((p) => p.trim());
  if (names.length > 0 && names.every(isPolicy)) return { kind: 'policies', policies: names };
  if (names.length > 0 && names.every(isTopology)) {
    return { kind: 'topologies', agg: names.includes('agg'), disagg: names.includes('disagg') };
  }
  const unknown = names.filter((n) => !isPolicy(n) && !isTopology(n));
  ctx.addIssue({
    code: 'custom',
    message: `${unknown.length > 0 ? `unknown ${unknown.map((n) => `'${n}'`).join(', ')}; ` : ''}expected router policies (${POLICIES.join(',')}) or topologies (${TOPOLOGIES.join(',')}), not both`,
  });
  return z.NEVER;
});
// --splits 1:3,2:2: prefill and decode workers of each disaggregated deployment.
const splits = z
  .string()
  .transform((s) => s.split(',').map((p) => p.trim()))
  .pipe(
    z.array(
      z
        .string()
        .regex(/^\d+:\d+$/, 'expected <prefill>:<decode>, e.g. 1:3')
        .transform((p) => p.split(':').map(Number) as [number, number])
        .refine(([p, d]) => p >= 1 && d >= 1, 'each split needs a prefill and a decode worker'),
    ),
  );

/**
 * The disaggregated comparison's defaults: a long-prompt load near the saturation of 4 aggregated mocker
 * workers (default timing). Measured with `--compare agg` at 16, 20, 24, 28, 32 and 40 req/s: output
 * tokens/s stop following the offered load at about 6.1k (24 req/s × 256), where TTFT starts to queue
 * (docs/architecture.md). 720 requests: 30 s of arrivals, a whole comparison in about 3 minutes.
 */
export const DISAGG_BENCH_DEFAULTS = {
  inputLen: 4096,
  outputLen: 256,
  rate: 24,
  requests: 720,
} as const;
const ROUTING_DEFAULTS = { outputLen: 16, rate: 4, numGpuBlocks: 512 } as const;

/**
 * `--planner`'s defaults: a mocker at speedup 2 with chunked prefill (512-token steps), 4096-token
 * prompts and 32 output tokens (one replica ≈ 10 req/s by the profile, ≈ 8 under the bench's load), a
 * 10 → 50 req/s sine (5×) of period 40 s, three periods; the planner decides every 1 s, as the load
 * loop does (at 2 s it reacts a whole step late on the ramps), without the ramp forecast (--trend-window
 * 0: with the prefill correction it costs 7 % more replica-seconds here for no SLA gain). A 1-s count is
 * noisy, so the rate is the mean of the last two (--load-predictor moving-average) and a scale-down
 * acts at once but releases one replica per decision (--scale-down-hold 1 --scale-down-step 1): the
 * hold of 2 kept the largest of two noisy proposals. Targets: TTFT 400 ms and ITL 30 ms in this wall
 * clock (the simulated GPU's 0.8 s and 60 ms). docs/architecture.md has the figures (r0–r29).
 */
export const PLANNER_BENCH_DEFAULTS = {
  speedupRatio: 2,
  maxNumBatchedTokens: 512,
  inputLen: 4096,
  outputLen: 32,
  troughRate: 10,
  peakRate: 50,
  periodS: 40,
  periods: 3,
  ttftMs: 400,
  itlMs: 30,
  adjustmentIntervalS: 1,
  loadIntervalS: 1,
  trendWindow: 0,
  loadPredictor: 'moving-average',
  scaleDownHold: 1,
  scaleDownStep: 1,
  maxReplicas: 12,
} as const;

// The planner's flags with the bench's defaults where the production ones (180 s, 500 ms, ...) do not fit.
const BENCH_PLANNER_OPTIONS = {
  ...PLANNER_OPTIONS,
  profile: {
    ...PLANNER_OPTIONS.profile,
    description: 'planner: a profile to use (default: one measured at the start on the same mocker)',
  },
  adjustmentInterval: {
    ...PLANNER_OPTIONS.adjustmentInterval,
    schema: z.coerce.number().positive().default(PLANNER_BENCH_DEFAULTS.adjustmentIntervalS),
  },
  loadInterval: {
    ...PLANNER_OPTIONS.loadInterval,
    schema: z.coerce.number().min(0).default(PLANNER_BENCH_DEFAULTS.loadIntervalS),
  },
  ttft: {
    ...PLANNER_OPTIONS.ttft,
    schema: z.coerce.number().positive().default(PLANNER_BENCH_DEFAULTS.ttftMs),
  },
  itl: { ...PLANNER_OPTIONS.itl, schema: z.coerce.number().positive().default(PLANNER_BENCH_DEFAULTS.itlMs) },
  maxReplicas: {
    ...PLANNER_OPTIONS.maxReplicas,
    schema: z.coerce.number().int().min(1).default(PLANNER_BENCH_DEFAULTS.maxReplicas),
  },
  trendWindow: {
    ...PLANNER_OPTIONS.trendWindow,
    schema: z.coerce.number().int().min(0).max(64).default(PLANNER_BENCH_DEFAULTS.trendWindow),
  },
  loadPredictor: {
    ...PLANNER_OPTIONS.loadPredictor,
    schema: z.enum(PREDICTOR_KINDS).default(PLANNER_BENCH_DEFAULTS.loadPredictor),
  },
  scaleDownHold: {
    ...PLANNER_OPTIONS.scaleDownHold,
    schema: z.coerce.number().int().min(1).max(64).default(PLANNER_BENCH_DEFAULTS.scaleDownHold),
  },
  scaleDownStep: {
    ...PLANNER_OPTIONS.scaleDownStep,
    schema: z.coerce.number().int().min(0).max(1024).default(PLANNER_BENCH_DEFAULTS.scaleDownStep),
  },
} as const;

export const command = defineCommand({
  name: 'bench',
  summary:
    'load generator: TTFT and prefix-cache hit rate against an OpenAI endpoint, router policies or aggregated vs disaggregated serving compared',
  details: [
    'Examples:',
    '  dynamo bench --url http://127.0.0.1:8000 --rate 4',
    '  dynamo bench --compare kv,round-robin,random --workers 4 --engine mocker --out bench.json --svg ttft.svg',
    '  dynamo bench --compare kv,random --workload multi-turn --sessions 32 --turns 4',
    '  dynamo bench --compare agg,disagg --workers 4 --out disagg.json',
    '  dynamo bench --compare kv --frontends 1,2,3',
    '',
    'Prompts are token ids sent to POST /v1/completions (streamed, usage included): the hit rate is',
    "the workers' own count of cached prompt tokens. With --compare, a frontend and --workers mocker",
    "workers start in this process for each policy in turn; the report holds each policy's TTFT and",
    'hit rate, the oracle hit rate (every reusable prefix served from cache) and the ratios of kv to',
    'the others. The last line of stdout is the report as one JSON object.',
    '',
    'The default shared-prefix workload (4 system prompts of 16k tokens, 48 questions each, 4 req/s)',
    "outgrows one worker's KV cache (--num-gpu-blocks) but fits the cluster's: what kv routing is for.",
    'How the result moves with load, prompt families and --kv-overlap-score-weight: docs/architecture.md.',
    '',
    '--frontends 1,2,3 (with one --compare policy): deployments with that many frontends on the same',
    'workers, requests round-robin over them; every count above 1 runs with router replica sync and',
    'with --no-router-replica-sync. ratios.hitRate3Over1 and ratios.ttftMean3Over1 compare 3 frontends',
    'with one (sync on); the ...NoSync ratios the same without sync.',
    '',
    '--planner: the SLA planner (dynamo run --planner, local connector) against static provisioning at the',
    "peak and at the mean (sized by the planner's own formula), the same sinusoidal load for each (--trough-rate",
    'to --peak-rate, --period, --periods); the profile is measured first on the same mocker (or --profile).',
    'Per run: the share of requests within both --ttft and --itl, and the replica-seconds used; ratios.',
    '',
    '--compare agg,disagg starts --workers aggregated mocker workers, then every prefill/decode split of',
    'the same count (--splits to choose: 1:3,2:2,3:1 for 4), and plays one long-prompt workload against',
    `each (random: ${DISAGG_BENCH_DEFAULTS.requests} prompts of ${DISAGG_BENCH_DEFAULTS.inputLen} tokens, ${DISAGG_BENCH_DEFAULTS.outputLen} output tokens, Poisson at ${DISAGG_BENCH_DEFAULTS.rate} req/s, near`,
    "the aggregated deployment's saturation with the mocker's default timing). Per deployment: TTFT,",
    'inter-token latency over every gap between streamed chunks of every request (p50, p99), output',
    "tokens/s, and the frontend's count of remote and local prefills. The best split is the one with the",
    'lowest ITL p99 among those keeping ≥ 0.9× the aggregated throughput (else the highest throughput);',
    "ratios.itlP99DisaggOverAgg and ratios.throughputDisaggOverAgg are its, ratios.splits every split's.",
    'Measured figures and how the rate was chosen: docs/architecture.md.',
  ].join('\n'),
  options: {
    url: {
      flag: 'url',
      env: 'DYN_BENCH_URL',
      schema: z.url().optional(),
      description: 'the OpenAI endpoint to load (without /v1)',
      placeholder: '<url>',
    },
    model: {
      flag: 'model',
      schema: z.string().min(1).optional(),
      description: 'model name (default: the first of /v1/models)',
      placeholder: '<name>',
    },
    compare: {
      flag: 'compare',
      schema: comparison.optional(),
      description: `start a deployment per policy (${POLICIES.join(',')}) or topology (${TOPOLOGIES.join(',')}) and compare them`,
      placeholder: '<names>',
    },
    frontends: {
      flag: 'frontends',
      schema: z
        .string()
        .transform((s) => s.split(',').map((p) => Number(p.trim())))
        .pipe(z.array(z.number().int().min(1).max(16)).min(1))
        .optional(),
      description:
        'compare (one policy): frontend replicas per deployment, e.g. 1,2,3, requests round-robin over them; each count above 1 runs with router replica sync and without',
      placeholder: '<n,...>',
    },
    workers: {
      flag: 'workers',
      schema: int(1).max(64).default(4),
      description: 'compare: workers per deployment (agg,disagg: split between prefill and decode)',
      placeholder: '<n>',
    },
    splits: {
      flag: 'splits',
      schema: splits.optional(),
      description:
        'disagg: prefill:decode worker counts to try, each summing to --workers (default: every split)',
      placeholder: '<p:d,...>',
    },
    maxLocalPrefillLength: {
      flag: 'max-local-prefill-length',
      schema: int(0).default(DEFAULT_DISAGG_OPTIONS.maxLocalPrefillLength),
      description: "disagg: the frontend's bound under which a decode worker prefills a prompt itself",
      placeholder: '<tokens>',
    },
    kvTransferBandwidth: {
      flag: 'kv-transfer-bandwidth',
      schema: z.coerce.number().positive().optional(),
      description: "disagg: the mocker's simulated KV link in GB/s (default: the mocker's, 25)",
      placeholder: '<GB/s>',
    },
    maxNumBatchedTokens: {
      flag: 'max-num-batched-tokens',
      schema: int(1).optional(),
      description: "compare: each mocker worker's token budget per step (default: the mocker's, 8192)",
      placeholder: '<n>',
    },
    engine: {
      flag: 'engine',
      schema: z.enum(['mocker']).default('mocker'),
      description: "compare: the workers' engine",
      placeholder: '<engine>',
    },
    speedupRatio: {
      flag: 'speedup-ratio',
      schema: z.coerce.number().positive().optional(),
      description: `compare: mocker speedup (simulated GPU time divided by it; default 1, --planner ${PLANNER_BENCH_DEFAULTS.speedupRatio})`,
      placeholder: '<x>',
    },
    numGpuBlocks: {
      flag: 'num-gpu-blocks',
      schema: int(1).optional(),
      description: `compare: each mocker worker's KV capacity in blocks (default ${ROUTING_DEFAULTS.numGpuBlocks}; agg,disagg: the mocker's, 16384)`,
      placeholder: '<n>',
    },
    blockSize: {
      flag: 'block-size',
      schema: int(1).max(65536).default(64),
      description: "tokens per KV block (the workers': the oracle hashes by it)",
      placeholder: '<n>',
    },
    workload: {
      flag: 'workload',
      schema: z.enum(['shared-prefix', 'multi-turn', 'random']).optional(),
      description:
        'shared-prefix (as inference-perf; the default), multi-turn chat, or random (unrelated prompts; agg,disagg default)',
      placeholder: '<kind>',
    },
    groups: {
      flag: 'groups',
      schema: int(1).default(4),
      description: 'shared-prefix: system prompts',
      placeholder: '<n>',
    },
    promptsPerGroup: {
      flag: 'prompts-per-group',
      schema: int(1).default(48),
      description: 'shared-prefix: questions per system prompt',
      placeholder: '<n>',
    },
    sessions: {
      flag: 'sessions',
      schema: int(1).default(24),
      description: 'multi-turn: conversations',
      placeholder: '<n>',
    },
    turns: {
      flag: 'turns',
      schema: int(1).default(4),
      description: 'multi-turn: turns per conversation',
      placeholder: '<n>',
    },
    systemPromptLen: {
      flag: 'system-prompt-len',
      schema: int(0).optional(),
      description: 'tokens of each system prompt (default 16384 for shared-prefix, 1024 for multi-turn)',
      placeholder: '<n>',
    },
    requests: {
      flag: 'requests',
      schema: int(1).default(DISAGG_BENCH_DEFAULTS.requests),
      description: 'random: prompts',
      placeholder: '<n>',
    },
    inputLen: {
      flag: 'input-len',
      schema: int(1).default(DISAGG_BENCH_DEFAULTS.inputLen),
      description: 'random: tokens of each prompt',
      placeholder: '<n>',
    },
    questionLen: {
      flag: 'question-len',
      schema: int(1).default(128),
      description: 'tokens of each question (user turn)',
      placeholder: '<n>',
    },
    outputLen: {
      flag: 'output-len',
      schema: int(1).optional(),
      description: `tokens generated per request (default ${ROUTING_DEFAULTS.outputLen}; agg,disagg: ${DISAGG_BENCH_DEFAULTS.outputLen})`,
      placeholder: '<n>',
    },
    rate: {
      flag: 'rate',
      schema: z.coerce.number().positive().optional(),
      description: `arrivals per second (Poisson): requests, or conversations for multi-turn (default ${ROUTING_DEFAULTS.rate}; agg,disagg: ${DISAGG_BENCH_DEFAULTS.rate})`,
      placeholder: '<r>',
    },
    seed: {
      flag: 'seed',
      schema: z.coerce.number().int().default(1),
      description: 'workload seed',
      placeholder: '<n>',
    },
    maxConcurrency: {
      flag: 'max-concurrency',
      schema: int(1).default(256),
      description: 'most requests in flight',
      placeholder: '<n>',
    },
    out: {
      flag: 'out',
      schema: z.string().min(1).optional(),
      description: 'write the JSON report here',
      placeholder: '<file>',
    },
    svg: {
      flag: 'svg',
      schema: z.string().min(1).optional(),
      description: 'write an SVG plot of TTFT distributions here',
      placeholder: '<file>',
    },
    ...BENCH_ROUTER_OPTIONS,
    planner: {
      flag: 'planner',
      kind: 'boolean',
      schema: z.boolean().default(false),
      description: 'compare the SLA planner with static provisioning at the peak and at the mean',
    },
    troughRate: {
      flag: 'trough-rate',
      schema: z.coerce.number().positive().default(PLANNER_BENCH_DEFAULTS.troughRate),
      description: 'planner: arrivals per second at the trough of the sine',
      placeholder: '<r>',
    },
    peakRate: {
      flag: 'peak-rate',
      schema: z.coerce.number().positive().default(PLANNER_BENCH_DEFAULTS.peakRate),
      description: 'planner: arrivals per second at the peak of the sine',
      placeholder: '<r>',
    },
    period: {
      flag: 'period',
      schema: z.coerce.number().positive().default(PLANNER_BENCH_DEFAULTS.periodS),
      description: 'planner: seconds per period of the sine',
      placeholder: '<s>',
    },
    periods: {
      flag: 'periods',
      schema: int(1).default(PLANNER_BENCH_DEFAULTS.periods),
      description: 'planner: periods played',
      placeholder: '<n>',
    },
    ...BENCH_PLANNER_OPTIONS,
  },
  async run(o, { log, signal }) {
    if (o.planner) {
      if (o.compare !== undefined) throw new UsageError('--planner and --compare are separate benchmarks');
      const report = await benchPlanner(await plannerBench(log, o, signal));
      process.stdout.write(`${JSON.stringify(report)}\n`);
      return 0;
    }
    const topologies = o.compare?.kind === 'topologies' ? o.compare : undefined;
    if (o.splits && !topologies?.disagg)
      throw new UsageError('--splits needs --compare disagg (or agg,disagg)');
    const kind = o.workload ?? (topologies ? 'random' : 'shared-prefix');
    const defaults = topologies ? DISAGG_BENCH_DEFAULTS : ROUTING_DEFAULTS;
    const outputLen = o.outputLen ?? defaults.outputLen;
    const rate = o.rate ?? defaults.rate;
    // Multi-turn prompts grow by every turn on top of it, so its system prompt is shorter.
    const systemPromptLen = o.systemPromptLen ?? (kind === 'shared-prefix' ? 16_384 : 1024);
    const common = { outputLen, rate, seed: o.seed };
    const workload: Workload =
      kind === 'shared-prefix'
        ? {
            kind,
            groups: o.groups,
            promptsPerGroup: o.promptsPerGroup,
            systemPromptLen,
            questionLen: o.questionLen,
            ...common,
          }
        : kind === 'multi-turn'
          ? {
              kind,
              sessions: o.sessions,
              turns: o.turns,
              systemPromptLen,
              questionLen: o.questionLen,
              ...common,
            }
          : { kind, requests: o.requests, inputLen: o.inputLen, ...common };
    if (topologies) {
      const report = await benchTopologies(topologyRuns(log, o, topologies), {
        workload,
        maxConcurrency: o.maxConcurrency,
        rate: {
          requestsPerSec: rate,
          offeredOutputTokensPerSec: rate * outputLen,
          chosen: o.rate === undefined ? 'default' : 'given',
        },
        deployment: {
          workers: o.workers,
          engine: o.engine,
          mocker: mockerSettings(o, 'topologies'),
          router: routerReport(o),
          disagg: { maxLocalPrefillLength: o.maxLocalPrefillLength },
        },
        progress: process.stderr,
        signal,
        ...(o.out ? { out: o.out } : {}),
      });
      process.stdout.write(`${JSON.stringify(report)}\n`);
      return 0;
    }
    let runs: PolicyRun[];
    let deployment: Record<string, unknown> | undefined;
    if (o.compare?.kind === 'policies') {
      const router = routerSettings({ ...o, routerMode: 'kv' });
      const mocker = mockerSettings(o, 'policies');
      deployment = { workers: o.workers, engine: o.engine, mocker, router: routerReport(o) };
      const policyRun = (mode: Policy, name: string, frontends?: PolicyRun['frontends']): PolicyRun => ({
        name,
        ...(frontends ? { frontends } : {}),
        deploy: () =>
          deploy(log.child({ bench: name }, { level: 'warn' }), {
            workers: o.workers,
            router: { ...router, mode, ...(frontends ? { replicaSync: frontends.sync } : {}) },
            mocker: { ...mocker, blockSize: o.blockSize },
            ...(frontends ? { frontends: frontends.count } : {}),
          }),
      });
      const [only, ...others] = o.compare.policies;
      if (o.frontends && (only === undefined || others.length > 0))
        throw new UsageError('--frontends compares frontend counts of one policy: give --compare kv');
      runs =
        o.frontends && only
          ? o.frontends.flatMap((n) =>
              n === 1
                ? [policyRun(only, `${only}-1fe`, { count: 1, sync: true })]
                : [
                    policyRun(only, `${only}-${n}fe`, { count: n, sync: true }),
                    policyRun(only, `${only}-${n}fe-nosync`, { count: n, sync: false }),
                  ],
            )
          : o.compare.policies.map((mode: Policy) => policyRun(mode, mode));
    } else if (o.frontends) {
      throw new UsageError('--frontends needs --compare (one router policy)');
    } else if (o.url) {
      const url = o.url.replace(/\/+$/, '');
      const model = o.model ?? (await firstModel(url));
      runs = [{ name: 'endpoint', deploy: async () => ({ url, model, stop: async () => {} }) }];
    } else {
      throw new UsageError('give --url (an endpoint to load) or --compare (policies to start and compare)');
    }
    const report: BenchReport = await benchPolicies(runs, {
      workload,
      blockSize: o.blockSize,
      maxConcurrency: o.maxConcurrency,
      ...(deployment ? { deployment } : {}),
      progress: process.stderr,
      signal,
      ...(o.out ? { out: o.out } : {}),
      ...(o.svg ? { svg: o.svg } : {}),
    });
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  },
});

type BenchValues = Parameters<(typeof command)['run']>[0];

/** The mocker knobs a comparison sets; unset ones are the mocker's defaults (numGpuBlocks: see ROUTING_DEFAULTS). */
function mockerSettings(o: BenchValues, kind: Comparison['kind']) {
  const numGpuBlocks = o.numGpuBlocks ?? (kind === 'policies' ? ROUTING_DEFAULTS.numGpuBlocks : undefined);
  return {
    speedupRatio: o.speedupRatio ?? 1,
    ...(numGpuBlocks !== undefined ? { numGpuBlocks } : {}),
    ...(o.maxNumBatchedTokens !== undefined ? { maxNumBatchedTokens: o.maxNumBatchedTokens } : {}),
    ...(kind === 'topologies' && o.kvTransferBandwidth !== undefined
      ? { kvTransferBandwidth: o.kvTransferBandwidth }
      : {}),
  };
}

function routerReport(o: BenchValues) {
  const { mode: _mode, ...rest } = routerSettings({ ...o, routerMode: 'kv' });
  return rest;
}

/** agg (when compared) first, then each split; every split must use --workers workers. */
function topologyRuns(
  log: Logger,
  o: BenchValues,
  compare: Extract<Comparison, { kind: 'topologies' }>,
): TopologyRun[] {
  const topologies: Topology[] = [];
  if (compare.agg) topologies.push({ kind: 'agg', workers: o.workers });
  if (compare.disagg) {
    const chosen: Split[] = o.splits
      ? o.splits.map(([p, d]) => ({ kind: 'disagg' as const, prefillWorkers: p, decodeWorkers: d }))
      : everySplit(o.workers);
    for (const t of chosen) {
      if (t.prefillWorkers + t.decodeWorkers !== o.workers) {
        throw new UsageError(
          `--splits: ${t.prefillWorkers}:${t.decodeWorkers} does not use --workers ${o.workers} workers (the comparison is at equal worker count)`,
        );
      }
    }
    if (chosen.length === 0) throw new UsageError('--compare disagg needs --workers 2 or more');
    topologies.push(...chosen);
  }
  const router = { ...routerSettings({ ...o, routerMode: 'kv' }) };
  const mocker = { ...mockerSettings(o, 'topologies'), blockSize: o.blockSize };
  return topologies.map((topology) => ({
    topology,
    deploy: () =>
      deploy(log.child({ bench: topologyName(topology) }, { level: 'warn' }), {
        workers: topology.kind === 'agg' ? topology.workers : 0,
        ...(topology.kind === 'disagg'
          ? {
              disagg: { prefillWorkers: topology.prefillWorkers, decodeWorkers: topology.decodeWorkers },
              frontendDisagg: { maxLocalPrefillLength: o.maxLocalPrefillLength, strict: false },
            }
          : {}),
        router,
        mocker,
      }),
  }));
}

async function firstModel(url: string): Promise<string> {
  const response = await fetch(`${url}/v1/models`);
  const body = z.object({ data: z.array(z.object({ id: z.string() })) }).safeParse(await response.json());
  const id = body.success ? body.data.data[0]?.id : undefined;
  if (id === undefined) throw new UsageError(`${url}/v1/models lists no model: give --model`);
  return id;
}

interface DeploySpec {
  workers: number;
  /** Frontend replicas (1 by default); requests go round-robin over them. */
  frontends?: number;
  disagg?: { prefillWorkers: number; decodeWorkers: number };
  frontendDisagg?: { maxLocalPrefillLength: number; strict: boolean };
  router: ReturnType<typeof routerSettings>;
  mocker: ReturnType<typeof mockerSettings> & { blockSize: number };
}

/** A frontend and mocker workers in this process, on an in-memory runtime, on a free port. */
async function deploy(quiet: Logger, spec: DeploySpec): Promise<Deployment> {
  const deployment = await startAllInOne(
    {
      workers: spec.workers,
      frontends: spec.frontends,
      disagg: spec.disagg,
      worker: { engine: { kind: 'mocker', tokenizerDir: defaultTokenizerDir(), ...spec.mocker } },
      frontend: {
        host: '127.0.0.1',
        port: 0,
        migrationLimit: 0,
        busyStatusCode: 529,
        bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES,
        router: spec.router,
        ...(spec.frontendDisagg ? { disagg: spec.frontendDisagg } : {}),
      },
      gracefulShutdownMs: 5_000,
    },
    quiet,
  );
  return {
    url: deployment.frontend.url,
    ...(deployment.frontends.length > 1 ? { urls: deployment.frontends.map((f) => f.url) } : {}),
    model: deployment.modelName,
    stop: () => deployment.stop(),
  };
}

/** `--planner`: the sine, the planner's settings, the profile (measured unless given), the deployments. */
async function plannerBench(
  log: Logger,
  o: BenchValues,
  signal: AbortSignal,
): Promise<Parameters<typeof benchPlanner>[0]> {
  const D = PLANNER_BENCH_DEFAULTS;
  if (o.peakRate < 4 * o.troughRate)
    log.warn(
      { trough: o.troughRate, peak: o.peakRate },
      'the sine spans less than 4× (the issue asks for ≥ 4×)',
    );
  const load: SineLoad = {
    troughRate: o.troughRate,
    peakRate: o.peakRate,
    periodS: o.period,
    periods: o.periods,
    inputLen: o.inputLen,
    outputLen: o.outputLen ?? D.outputLen,
    seed: o.seed,
  };
  const season =
    o.loadPredictor === 'seasonal' && o.loadPredictorSeason === undefined
      ? Math.max(2, Math.round(o.period / o.adjustmentInterval))
      : o.loadPredictorSeason;
  const settings = plannerSettings({ ...o, loadPredictorSeason: season, advisory: false });
  const mocker = {
    speedupRatio: o.speedupRatio ?? D.speedupRatio,
    maxNumBatchedTokens: o.maxNumBatchedTokens ?? D.maxNumBatchedTokens,
    ...(o.numGpuBlocks !== undefined ? { numGpuBlocks: o.numGpuBlocks } : {}),
    blockSize: o.blockSize,
  };
  const engine = { kind: 'mocker' as const, tokenizerDir: defaultTokenizerDir(), ...mocker };
  const quiet = log.child({ bench: 'planner' }, { level: 'warn' });
  const router = routerSettings({ ...o, routerMode: 'kv' });
  const isls = [
    ...new Set([load.inputLen / 4, load.inputLen / 2, load.inputLen, load.inputLen * 2].map(Math.round)),
  ];
  const context = load.inputLen + Math.round(load.outputLen / 2);
  const deploy = async (spec: PlannerDeploySpec): Promise<PlannerBenchDeployment> => {
    const deployment = await startAllInOne(
      {
        workers: spec.workers,
        worker: { engine },
        frontend: {
          host: '127.0.0.1',
          port: 0,
          // A worker the planner stops drains for gracefulShutdownMs; what is still queued on it then
          // moves to another worker instead of failing (as `dynamo run --migration-limit` allows).
          migrationLimit: 3,
          busyStatusCode: 529,
          bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES,
          router,
        },
        gracefulShutdownMs: 30_000,
        planner: spec.planner ? { planner: spec.planner.settings, profile: spec.planner.profile } : undefined,
      },
      quiet,
    );
    return {
      url: deployment.frontend.url,
      model: deployment.modelName,
      provisioned: () => deployment.pools.reduce((n, p) => n + p.provisioned, 0),
      prefillCorrection: () => deployment.planner?.planner.prefillCorrection('agg'),
      stop: () => deployment.stop(),
    };
  };
  return {
    load,
    planner: settings,
    profile: o.profile
      ? { kind: 'given', profile: await loadProfile(o.profile) }
      : {
          kind: 'measure',
          measure: () =>
            profileEngine({
              worker: { engine },
              grid: {
                isls: isls.filter((x) => x >= 16),
                decodeContexts: [Math.round(context / 2), context, context * 2],
                seed: o.seed,
              },
              log: quiet,
              signal,
            }),
        },
    deploy,
    maxConcurrency: o.maxConcurrency,
    progress: process.stderr,
    signal,
    ...(o.out ? { out: o.out } : {}),
    deployment: { engine: 'mocker', mocker, router: routerReport(o) },
  };
}
