import { z } from 'zod';
import { DEFAULT_WORKER_COMPONENT, disaggregationModeSchema, nameSchema } from '../../api/index.js';
import { serveWorker } from '../../worker/serve.js';
import { defineCommand } from '../command.js';
import { ENGINE_OPTIONS, engineConfig } from '../engine-options.js';
import {
  connectionSecurity,
  gracefulShutdownOption,
  MODEL_NAME_OPTION,
  NAMESPACE_OPTION,
  RUNTIME_OPTIONS,
} from '../shared-options.js';

const int = (min = 1) => z.coerce.number().int().min(min);

export const command = defineCommand({
  name: 'worker',
  summary: 'serve an engine (onnx or mocker) on the runtime: generate, kv_dump, model_files, kv_release',
  details: [
    'Examples:',
    '  ETCD_ENDPOINTS=http://127.0.0.1:2379 NATS_SERVER=nats://127.0.0.1:4222 dynamo worker --engine mocker',
    '  dynamo worker --engine mocker --speedup-ratio 10 --num-gpu-blocks 4096',
    '  dynamo worker --engine onnx --model-dir ./models/tiny',
    '  dynamo worker --engine mocker --disaggregation-mode prefill   # and another with decode',
    '',
    'Disaggregated serving (--disaggregation-mode): a prefill worker computes prompts and keeps their KV',
    'blocks pinned (up to --kv-pin-ttl-ms) for decode workers to pull from its KV data plane',
    '(--kv-data-plane-host/-port, TCP with NATS); a decode worker pulls the blocks it lacks and decodes.',
    'agg (the default) serves plain requests and both phases. The mocker moves no bytes: it waits',
    'bytes / --kv-transfer-bandwidth + 1 ms (divided by --speedup-ratio), bytes from --kv-layers,',
    '--kv-heads, --kv-head-dim and fp16.',
    '',
    'Engine defaults: mocker --num-gpu-blocks 16384 --block-size 64 --max-num-seqs 256',
    '--max-num-batched-tokens 8192; onnx 4096 blocks of 16 tokens, 64 sequences, 512 batched tokens.',
    'Mocker timing: prefill ms = a·t² + b·t + c (t uncached prompt tokens of a step), decode ms =',
    'a·u² + b·u + c (u = active / total KV blocks, at least 1 ms), each divided by --speedup-ratio.',
  ].join('\n'),
  options: {
    namespace: NAMESPACE_OPTION,
    component: {
      flag: 'component',
      env: 'DYN_COMPONENT',
      schema: nameSchema.default(DEFAULT_WORKER_COMPONENT),
      description: 'component the worker registers as',
      placeholder: '<name>',
    },
    ...RUNTIME_OPTIONS,
    modelName: MODEL_NAME_OPTION,
    systemPort: {
      flag: 'system-port',
      env: 'DYN_SYSTEM_PORT',
      schema: z.coerce.number().int().min(0).max(65535).default(9090),
      description: 'port of /live, /health, /metrics (0: any free port)',
      placeholder: '<port>',
    },
    disaggregationMode: {
      flag: 'disaggregation-mode',
      env: 'DYN_DISAGGREGATION_MODE',
      schema: disaggregationModeSchema.default('agg'),
      description:
        'role: agg (prefill and decode here; also serves both disaggregated phases), prefill, or decode',
      placeholder: '<agg|prefill|decode>',
    },
    kvPinTtl: {
      flag: 'kv-pin-ttl-ms',
      env: 'DYN_KV_PIN_TTL_MS',
      schema: int().default(30_000),
      description: 'prefill/agg: how long prompt KV blocks stay pinned for a decode worker to pull',
      placeholder: '<ms>',
    },
    kvDataPlaneHost: {
      flag: 'kv-data-plane-host',
      env: 'DYN_KV_DATA_PLANE_HOST',
      schema: z.string().min(1).max(255).optional(),
      description:
        'prefill/agg: address the KV data plane listens on and announces (default: $POD_IP, else 127.0.0.1)',
      placeholder: '<host>',
    },
    kvDataPlanePort: {
      flag: 'kv-data-plane-port',
      env: 'DYN_KV_DATA_PLANE_PORT',
      schema: z.coerce.number().int().min(0).max(65535).default(0),
      description: 'prefill/agg: TCP port of the KV data plane (0: any free port)',
      placeholder: '<port>',
    },
    ...ENGINE_OPTIONS,
    loadMetricsInterval: {
      flag: 'load-metrics-interval-ms',
      env: 'DYN_LOAD_METRICS_INTERVAL_MS',
      schema: int().default(1000),
      description: 'how often load metrics are published',
      placeholder: '<ms>',
    },
    maxWaitingRequests: {
      flag: 'max-waiting-requests',
      env: 'DYN_MAX_WAITING_REQUESTS',
      schema: int(0).optional(),
      description:
        'generate streams that may wait beyond --max-num-seqs running ones; more are refused as overloaded (default: --max-num-seqs)',
      placeholder: '<n>',
    },
    gracefulShutdown: gracefulShutdownOption(
      30_000,
      'on SIGTERM, how long the whole stop may take: unregister, in-flight requests finish, close (exit 1 when a step was cut short)',
    ),
  },
  async run(o, { log, signal }) {
    const optional = <K extends string, V>(key: K, value: V | undefined) =>
      (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
    const engine = engineConfig(o);
    const cut = await serveWorker(
      {
        worker: {
          namespace: o.namespace,
          component: o.component,
          loadMetricsIntervalMs: o.loadMetricsInterval,
          disaggregationMode: o.disaggregationMode,
          kvPinTtlMs: o.kvPinTtl,
          engine,
          ...optional('modelName', o.modelName),
          ...optional('maxWaitingRequests', o.maxWaitingRequests),
        },
        ...optional('etcdEndpoints', o.etcd),
        ...optional('natsServer', o.nats),
        security: connectionSecurity(o),
        systemPort: o.systemPort,
        gracefulShutdownMs: o.gracefulShutdown,
        kvDataPlane: {
          host: o.kvDataPlaneHost ?? (process.env.POD_IP || '127.0.0.1'),
          port: o.kvDataPlanePort,
        },
      },
      log,
      signal,
    );
    // A stop that had to cut a step short (a server down, streams past the grace period) says so.
    return cut.length === 0 ? 0 : 1;
  },
});
