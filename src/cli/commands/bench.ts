import { z } from 'zod';
import {
  type BenchReport,
  benchPolicies,
  type Deployment,
  type PolicyRun,
} from '../../bench/routing-bench.js';
import type { Workload } from '../../bench/workloads.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../../frontend/index.js';
import { ROUTER_MODES } from '../../router/index.js';
import type { Logger } from '../../runtime/index.js';
import { defaultTokenizerDir } from '../../worker/index.js';
import { startAllInOne } from '../all-in-one.js';
import { defineCommand } from '../command.js';
import { UsageError } from '../options.js';
import { ROUTER_OPTIONS, routerSettings } from '../router-options.js';

// The router's flags apply to every deployment of a comparison; the policy itself comes from --compare.
const { routerMode: _policy, ...BENCH_ROUTER_OPTIONS } = ROUTER_OPTIONS;
const int = (min: number) => z.coerce.number().int().min(min);
const policies = z
  .string()
  .transform((s) => s.split(',').map((p) => p.trim()))
  .pipe(z.array(z.enum(ROUTER_MODES).exclude(['direct'])).min(1));

export const command = defineCommand({
  name: 'bench',
  summary:
    'load generator: TTFT and prefix-cache hit rate against an OpenAI endpoint, or router policies compared',
  details: [
    'Examples:',
    '  dynamo bench --url http://127.0.0.1:8000 --rate 4',
    '  dynamo bench --compare kv,round-robin,random --workers 4 --engine mocker --out bench.json --svg ttft.svg',
    '  dynamo bench --compare kv,random --workload multi-turn --sessions 32 --turns 4',
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
      schema: policies.optional(),
      description: `start a deployment per policy and compare them (${ROUTER_MODES.filter((m) => m !== 'direct').join(',')})`,
      placeholder: '<policies>',
    },
    workers: {
      flag: 'workers',
      schema: int(1).max(64).default(4),
      description: 'compare: workers per deployment',
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
      schema: z.coerce.number().positive().default(1),
      description: 'compare: mocker speedup (simulated GPU time divided by it)',
      placeholder: '<x>',
    },
    numGpuBlocks: {
      flag: 'num-gpu-blocks',
      schema: int(1).default(512),
      description: "compare: each mocker worker's KV capacity in blocks",
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
      schema: z.enum(['shared-prefix', 'multi-turn']).default('shared-prefix'),
      description: 'shared-prefix (as inference-perf) or multi-turn chat',
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
    questionLen: {
      flag: 'question-len',
      schema: int(1).default(128),
      description: 'tokens of each question (user turn)',
      placeholder: '<n>',
    },
    outputLen: {
      flag: 'output-len',
      schema: int(1).default(16),
      description: 'tokens generated per request',
      placeholder: '<n>',
    },
    rate: {
      flag: 'rate',
      schema: z.coerce.number().positive().default(4),
      description: 'arrivals per second (Poisson): requests, or conversations for multi-turn',
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
  },
  async run(o, { log, signal }) {
    // Multi-turn prompts grow by every turn on top of it, so its system prompt is shorter.
    const systemPromptLen = o.systemPromptLen ?? (o.workload === 'shared-prefix' ? 16_384 : 1024);
    const workload: Workload =
      o.workload === 'shared-prefix'
        ? {
            kind: 'shared-prefix',
            groups: o.groups,
            promptsPerGroup: o.promptsPerGroup,
            systemPromptLen,
            questionLen: o.questionLen,
            outputLen: o.outputLen,
            rate: o.rate,
            seed: o.seed,
          }
        : {
            kind: 'multi-turn',
            sessions: o.sessions,
            turns: o.turns,
            systemPromptLen,
            questionLen: o.questionLen,
            outputLen: o.outputLen,
            rate: o.rate,
            seed: o.seed,
          };
    let runs: PolicyRun[];
    let deployment: Record<string, unknown> | undefined;
    if (o.compare) {
      const router = routerSettings({ ...o, routerMode: 'kv' });
      const { mode: _mode, ...routerReport } = router;
      deployment = {
        workers: o.workers,
        engine: o.engine,
        mocker: { speedupRatio: o.speedupRatio, numGpuBlocks: o.numGpuBlocks },
        router: routerReport,
      };
      runs = o.compare.map((mode) => ({
        name: mode,
        deploy: () =>
          deploy(log, {
            workers: o.workers,
            router: { ...router, mode },
            mocker: {
              speedupRatio: o.speedupRatio,
              numGpuBlocks: o.numGpuBlocks,
              blockSize: o.blockSize,
            },
          }),
      }));
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

async function firstModel(url: string): Promise<string> {
  const response = await fetch(`${url}/v1/models`);
  const body = z.object({ data: z.array(z.object({ id: z.string() })) }).safeParse(await response.json());
  const id = body.success ? body.data.data[0]?.id : undefined;
  if (id === undefined) throw new UsageError(`${url}/v1/models lists no model: give --model`);
  return id;
}

interface DeploySpec {
  workers: number;
  router: ReturnType<typeof routerSettings>;
  mocker: { speedupRatio: number; numGpuBlocks: number; blockSize: number };
}

/** A frontend and mocker workers in this process, on an in-memory runtime, on a free port. */
async function deploy(log: Logger, spec: DeploySpec): Promise<Deployment> {
  const quiet = log.child({ bench: spec.router.mode }, { level: 'warn' });
  const deployment = await startAllInOne(
    {
      workers: spec.workers,
      worker: { engine: { kind: 'mocker', tokenizerDir: defaultTokenizerDir(), ...spec.mocker } },
      frontend: {
        host: '127.0.0.1',
        port: 0,
        migrationLimit: 0,
        busyStatusCode: 529,
        bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES,
        router: spec.router,
      },
      gracefulShutdownMs: 5_000,
    },
    quiet,
  );
  return { url: deployment.frontend.url, model: deployment.modelName, stop: () => deployment.stop() };
}
