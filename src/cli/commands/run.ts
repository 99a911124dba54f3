import { z } from 'zod';
import { defaultTokenizerDir } from '../../worker/index.js';
import { startAllInOne } from '../all-in-one.js';
import { defineCommand } from '../command.js';
import { FRONTEND_OPTIONS, frontendConfig } from '../frontend-options.js';
import { UsageError } from '../options.js';
import {
  loadProfile,
  PLANNER_OPTIONS,
  plannerSettings,
  WORKER_WAIT_OPTIONS,
  workerWaitSettings,
} from '../planner-options.js';
import { ROUTER_OPTIONS } from '../router-options.js';
import {
  connectionSecurity,
  gracefulShutdownOption,
  HTTP_OPTIONS,
  MODEL_NAME_OPTION,
  NAMESPACE_OPTION,
  RUNTIME_OPTIONS,
  SPEEDUP_RATIO_OPTION,
} from '../shared-options.js';

export const command = defineCommand({
  name: 'run',
  summary: 'serve a model on this machine: a frontend and N workers in one process, no external service',
  details: [
    'Examples:',
    '  dynamo run                                  # 2 onnx workers on the tiny test model, :8000',
    '  dynamo run --model-dir ./my-model --workers 1',
    '  dynamo run --engine mocker --workers 4 --speedup-ratio 10',
    '  dynamo run --prefill-workers 1 --decode-workers 1     # disaggregated prefill/decode',
    '  dynamo run --etcd http://127.0.0.1:2379 --nats nats://127.0.0.1:4222   # others may join',
    '  dynamo run --engine mocker --planner --profile mocker.json --ttft 300 --itl 30 \\',
    '      --adjustment-interval 10 --min-replicas 0 --max-replicas 4   # SLA planner, scale to zero',
    '',
    "--planner runs the SLA planner (as `dynamo planner`) over this process's workers: it reads the",
    "frontend's own metrics (no Prometheus) and the workers' load reports, and starts or gracefully",
    'stops workers of each role (agg, or prefill and decode). With --min-replicas 0 a role may go to zero',
    'workers: the model stays listed and its requests wait (--worker-wait-queue, --worker-wait-timeout)',
    'until the planner has started a worker for them, or get a 503 naming the model and the wait.',
  ].join('\n'),
  options: {
    ...HTTP_OPTIONS,
    namespace: NAMESPACE_OPTION,
    ...RUNTIME_OPTIONS,
    workers: {
      flag: 'workers',
      env: 'DYN_WORKERS',
      schema: z.coerce.number().int().min(1).max(64).default(2),
      description: 'aggregated workers to start (prefill and decode in each)',
      placeholder: '<n>',
    },
    prefillWorkers: {
      flag: 'prefill-workers',
      env: 'DYN_PREFILL_WORKERS',
      schema: z.coerce.number().int().min(0).max(64).default(0),
      description: 'disaggregated serving: prefill workers (with --decode-workers; replaces --workers)',
      placeholder: '<n>',
    },
    decodeWorkers: {
      flag: 'decode-workers',
      env: 'DYN_DECODE_WORKERS',
      schema: z.coerce.number().int().min(0).max(64).default(0),
      description:
        'disaggregated serving: decode workers (they prefill locally while no prefill worker is up)',
      placeholder: '<n>',
    },
    engine: {
      flag: 'engine',
      env: 'DYN_ENGINE',
      schema: z.enum(['onnx', 'mocker']).default('onnx'),
      description: 'onnx (onnxruntime on CPU) or mocker (simulated GPU engine)',
      placeholder: '<engine>',
    },
    modelDir: {
      flag: 'model-dir',
      env: 'DYN_MODEL_DIR',
      schema: z.string().min(1).optional(),
      description: 'onnx: a model directory (default: the tiny test model, generated on first run)',
      placeholder: '<dir>',
    },
    modelName: MODEL_NAME_OPTION,
    speedupRatio: SPEEDUP_RATIO_OPTION,
    ...FRONTEND_OPTIONS,
    ...ROUTER_OPTIONS,
    planner: {
      flag: 'planner',
      env: 'DYN_PLANNER',
      kind: 'boolean',
      schema: z.boolean().default(false),
      description: 'run the SLA planner over the workers (needs --profile)',
    },
    ...PLANNER_OPTIONS,
    ...WORKER_WAIT_OPTIONS,
    gracefulShutdown: gracefulShutdownOption(
      10_000,
      'on SIGTERM / Ctrl-C, how long the whole stop may take: new requests are refused, those in flight finish (also: how long a worker stopped by --planner drains)',
    ),
  },
  async run(o, { log, signal }) {
    if (o.prefillWorkers > 0 && o.decodeWorkers === 0)
      throw new UsageError('--prefill-workers needs --decode-workers: prefill workers do not decode');
    const disagg =
      o.decodeWorkers > 0 ? { prefillWorkers: o.prefillWorkers, decodeWorkers: o.decodeWorkers } : undefined;
    if (o.planner && o.minReplicas > o.maxReplicas)
      throw new UsageError(`--min-replicas ${o.minReplicas} is above --max-replicas ${o.maxReplicas}`);
    const planner = o.planner
      ? { planner: plannerSettings(o), profile: await loadProfile(o.profile) }
      : undefined;
    const engine =
      o.engine === 'onnx'
        ? { kind: 'onnx' as const, modelDir: o.modelDir ?? '' }
        : { kind: 'mocker' as const, tokenizerDir: defaultTokenizerDir(), speedupRatio: o.speedupRatio };
    const deployment = await startAllInOne(
      {
        workers: o.workers,
        disagg,
        worker: { namespace: o.namespace, ...(o.modelName ? { modelName: o.modelName } : {}), engine },
        frontend: { ...frontendConfig(o), workerWait: workerWaitSettings(o) },
        planner,
        etcdEndpoints: o.etcd,
        natsServer: o.nats,
        security: connectionSecurity(o),
        gracefulShutdownMs: o.gracefulShutdown,
      },
      log,
    );
    const url = deployment.frontend.url;
    const serving = disagg
      ? `${disagg.prefillWorkers} prefill and ${disagg.decodeWorkers} decode ${o.engine} worker(s)`
      : `${o.workers} ${o.engine} worker(s)`;
    const planning = planner
      ? ` (planner: ${o.minReplicas}–${o.maxReplicas} per role, TTFT ${o.ttft} ms, ITL ${o.itl} ms${o.advisory ? ', advisory' : ''})`
      : '';
    const body = JSON.stringify({
      model: deployment.modelName,
      messages: [{ role: 'user', content: 'Hello!' }],
      max_tokens: 32,
    });
    // Once, after startAllInOne (the frontend routes to the workers by then). A person at a terminal gets
    // the banner; a log collector gets one JSON line instead of text between its JSON lines.
    if (process.stderr.isTTY !== true) {
      const summary = `dynamo run: serving model '${deployment.modelName}' on ${url} with ${serving}${planning}`;
      log.info({ url, model: deployment.modelName }, summary);
    } else {
      process.stderr.write(
        [
          '',
          `dynamo run: serving model '${deployment.modelName}' on ${url} with ${serving}${planning}. Try:`,
          '',
          `  curl -s ${url}/v1/chat/completions -H 'content-type: application/json' -d '${body}'`,
          '',
          `  node -e "import('openai').then(async ({ default: OpenAI }) => { const c = new OpenAI({ baseURL: '${url}/v1', apiKey: 'none' }); const r = await c.chat.completions.create(${body.replaceAll('"', "'")}); console.log(r.choices[0].message.content) })"`,
          '',
          `Ctrl-C stops everything (requests in flight may finish for ${o.gracefulShutdown} ms; a second Ctrl-C exits at once).`,
          '',
        ].join('\n'),
      );
    }
    if (!signal.aborted)
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    log.info({ graceMs: o.gracefulShutdown }, 'stopping: refusing new requests, finishing those in flight');
    await deployment.stop();
    return 0;
  },
});
