// The model card a worker registers in discovery next to its instance (DESIGN §5). Large files
// (tokenizer.json, tokenizer_config.json) are not in it: frontends fetch them once from a worker's
// model_files endpoint and cache them by checksum.
import { z } from 'zod';
import { disaggregationModeSchema, kvDataPlaneAddressSchema } from './disagg.js';

export const MODEL_TYPES = ['chat', 'completions'] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

const checksum = z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 hex digest');

export const modelCardSchema = z.object({
  /** The name clients put in `model`. */
  name: z.string().min(1).max(256),
  modelTypes: z.array(z.enum(MODEL_TYPES)).min(1),
  engine: z.enum(['onnx', 'mocker']),
  contextLength: z.number().int().positive(),
  /** Tokens per KV block (B of DESIGN §6). */
  kvCacheBlockSize: z.number().int().positive(),
  totalKvBlocks: z.number().int().positive(),
  maxNumSeqs: z.number().int().positive(),
  maxNumBatchedTokens: z.number().int().positive(),
  /**
   * Token ids a prompt may hold are [0, vocabSize): the frontend answers 400 for others. Absent in
   * cards of workers from before it: ids are then not checked.
   */
  vocabSize: z.number().int().positive().optional(),
  /** Token ids that end a sequence unless ignore_eos. */
  eosTokenIds: z.array(z.number().int().nonnegative()),
  /** sha256 of tokenizer.json, fetched through model_files. */
  tokenizerChecksum: checksum,
  /** sha256 of tokenizer_config.json (chat template, special tokens); null when the model has none. */
  tokenizerConfigChecksum: checksum.nullable(),
  /** The worker's role (DESIGN §12); cards written before roles existed are aggregated. */
  disaggregationMode: disaggregationModeSchema.default('agg'),
  /** Shape of one KV block: what a transfer moves, and what two workers must agree on to share blocks. */
  kvLayout: z
    .object({
      numLayers: z.number().int().positive(),
      numKvHeads: z.number().int().positive(),
      headDim: z.number().int().positive(),
      dtype: z.enum(['float32', 'float16']),
    })
    .optional(),
  /** Where the worker serves its KV blocks to decode workers (prefill and agg workers that have one). */
  kvDataPlane: kvDataPlaneAddressSchema.optional(),
});
export type ModelCard = z.infer<typeof modelCardSchema>;

/** Files a frontend may fetch from a worker's model_files endpoint. */
export const MODEL_FILES = ['tokenizer.json', 'tokenizer_config.json'] as const;
export const modelFileRequestSchema = z.object({ file: z.enum(MODEL_FILES) });
export type ModelFileRequest = z.infer<typeof modelFileRequestSchema>;
/**
 * One frame of a model_files answer. A file comes as one or more frames, each with a slice of `content`
 * (frames stay far below the request plane's payload limit) and the sha256 of the whole file; the caller
 * concatenates the slices in order and checks the sha256.
 */
export const modelFileSchema = z.object({ file: z.enum(MODEL_FILES), checksum, content: z.string() });
export type ModelFile = z.infer<typeof modelFileSchema>;
