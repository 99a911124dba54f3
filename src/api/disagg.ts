// Disaggregated prefill/decode (DESIGN §12): a worker's role, the transfer descriptor a prefill worker
// answers with, and the KV data plane's address and typed errors. The frontend, both engines and the
// data plane share these shapes.
import { z } from 'zod';
import { blockHashSchema, instanceIdSchema } from './ids.js';

export const DISAGGREGATION_MODES = ['agg', 'prefill', 'decode'] as const;
export type DisaggregationMode = (typeof DISAGGREGATION_MODES)[number];
export const disaggregationModeSchema = z.enum(DISAGGREGATION_MODES);

/** Where a worker serves its KV blocks: a TCP listener, or a name in the in-memory data plane. */
export const kvDataPlaneAddressSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('tcp'),
    host: z.string().min(1).max(255),
    port: z.number().int().min(1).max(65535),
  }),
  z.object({ kind: z.literal('memory'), address: z.string().min(1).max(256) }),
]);
export type KvDataPlaneAddress = z.infer<typeof kvDataPlaneAddressSchema>;

/**
 * What a prefill worker answers with besides the first token: where and under which handle the
 * prompt's KV blocks wait (pinned) for a decode worker to pull them, until released or expired.
 */
export const kvTransferDescriptorSchema = z.object({
  /** The prefill worker's instance. */
  instanceId: instanceIdSchema,
  address: kvDataPlaneAddressSchema,
  /** Opaque to everyone but the prefill worker: names the pin. */
  handle: z.string().min(1).max(128),
  model: z.string().min(1).max(256),
  /** Sequence hashes of the prompt's full blocks, in order (DESIGN §6). */
  blockHashes: z.array(blockHashSchema).max(1 << 20),
  /** Prompt tokens whose KV the prefill computed (the full blocks hold floor(tokens / B)·B of them). */
  tokenCount: z.number().int().nonnegative(),
  blockSize: z.number().int().positive(),
  /** Milliseconds since the epoch after which the prefill worker may drop the pin. */
  expiresAt: z.number().int().nonnegative(),
});
export type KvTransferDescriptor = z.infer<typeof kvTransferDescriptorSchema>;

/** The payload of a prefill worker's kv_release endpoint. */
export const kvReleaseRequestSchema = z.object({ handle: z.string().min(1).max(128) });
export type KvReleaseRequest = z.infer<typeof kvReleaseRequestSchema>;

/**
 * Why a pull or a descriptor was refused.
 * - `unknown_handle`: the prefill worker holds no pin by that handle (released, or never made).
 * - `expired`: the pin's time ran out; its blocks were released.
 * - `model_mismatch`: the descriptor is for another model than the request's.
 * - `blocks_mismatch`: the descriptor's blocks are not the request's prompt blocks.
 * - `layout_mismatch`: the two workers' KV layouts (layers, heads, head size, dtype, block size) differ.
 * - `unreachable`: the prefill worker's data plane cannot be reached (it died).
 * - `protocol`: a malformed frame.
 */
export const KV_TRANSFER_ERROR_CODES = [
  'unknown_handle',
  'expired',
  'model_mismatch',
  'blocks_mismatch',
  'layout_mismatch',
  'unreachable',
  'protocol',
] as const;
export type KvTransferErrorCode = (typeof KV_TRANSFER_ERROR_CODES)[number];

export class KvTransferError extends Error {
  override name = 'KvTransferError';
  constructor(
    readonly code: KvTransferErrorCode,
    /** The message without the code: what travels in an error frame. */
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

/** Bytes per KV element, by dtype. */
export const KV_DTYPE_BYTES = { float32: 4, float16: 2 } as const;

/**
 * The shape of one KV block as the two ends of a transfer hold it; they must agree exactly (else
 * `layout_mismatch`). Bounds keep one block's bytes far below what a frame can carry.
 */
export const kvBlockLayoutSchema = z.object({
  numLayers: z.number().int().positive().max(1024),
  numKvHeads: z.number().int().positive().max(1024),
  headDim: z.number().int().positive().max(4096),
  dtype: z.enum(['float32', 'float16']),
  /** Tokens per block (the model card's kvCacheBlockSize). */
  blockSize: z.number().int().positive().max(4096),
});
export type KvBlockLayout = z.infer<typeof kvBlockLayoutSchema>;

/**
 * Bytes of one block in one layer as the data plane moves them: K ([kvHeads, blockSize, headDim]) then
 * V (same shape), in the layout's dtype.
 */
export function kvLayerBlockBytes(layout: KvBlockLayout): number {
  return 2 * layout.numKvHeads * layout.blockSize * layout.headDim * KV_DTYPE_BYTES[layout.dtype];
}

/** What a decode worker asks a prefill worker's data plane for: some of a pin's blocks, in this order. */
export const kvPullRequestSchema = z.object({
  handle: z.string().min(1).max(128),
  model: z.string().min(1).max(256),
  /** The pinned blocks the puller lacks (a subset of the descriptor's), by sequence hash. */
  blockHashes: z.array(blockHashSchema).max(1 << 20),
  layout: kvBlockLayoutSchema,
});
export type KvPullRequest = z.infer<typeof kvPullRequestSchema>;

/** A refused or failed pull, as the data plane carries it from the serving worker to the puller. */
export const kvTransferErrorFrameSchema = z.object({
  code: z.enum(KV_TRANSFER_ERROR_CODES),
  message: z.string().max(4096),
});
export type KvTransferErrorFrame = z.infer<typeof kvTransferErrorFrameSchema>;
