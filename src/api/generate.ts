// The payload of a worker's `generate` endpoint: a preprocessed request (token ids in, token ids out).
// The frontend owns text (templates, tokenization, detokenization, stop strings); the engine owns
// tokens (sampling, stop token ids, max tokens).
import { z } from 'zod';
import { kvTransferDescriptorSchema, kvTransferErrorFrameSchema } from './disagg.js';

const tokenId = z.number().int().nonnegative().max(0xffffffff);

export const samplingOptionsSchema = z.object({
  /** 0 (or absent) is greedy. */
  temperature: z.number().min(0).max(100).optional(),
  topP: z.number().gt(0).max(1).optional(),
  topK: z.number().int().nonnegative().optional(),
  seed: z.number().int().optional(),
  repetitionPenalty: z.number().gt(0).max(100).optional(),
  frequencyPenalty: z.number().min(-2).max(2).optional(),
  presencePenalty: z.number().min(-2).max(2).optional(),
});
export type SamplingOptions = z.infer<typeof samplingOptionsSchema>;

export const stopConditionsSchema = z.object({
  maxTokens: z.number().int().positive().optional(),
  stopTokenIds: z.array(tokenId).optional(),
  ignoreEos: z.boolean().optional(),
});
export type StopConditions = z.infer<typeof stopConditionsSchema>;

export const generateRequestSchema = z.object({
  requestId: z.string().min(1).max(256),
  model: z.string().min(1),
  tokenIds: z.array(tokenId).min(1),
  sampling: samplingOptionsSchema,
  stop: stopConditionsSchema,
  /**
   * Disaggregated serving (DESIGN §12). `prefill`: compute the prompt's KV, answer the first token and a
   * transfer descriptor (on the last frame), keep the blocks pinned for a decode worker. `decode`: pull
   * the blocks this worker lacks from the descriptor's prefill worker, then decode after `firstTokenId`.
   * Absent: aggregated (prefill and decode here).
   */
  disagg: z
    .discriminatedUnion('phase', [
      z.object({ phase: z.literal('prefill') }),
      z.object({
        phase: z.literal('decode'),
        firstTokenId: tokenId,
        descriptor: kvTransferDescriptorSchema,
      }),
    ])
    .optional(),
});
export type GenerateRequest = z.infer<typeof generateRequestSchema>;

export const FINISH_REASONS = ['stop', 'length', 'cancelled', 'error'] as const;
export type FinishReason = (typeof FINISH_REASONS)[number];

/** One frame of the response stream: new token ids; the last frame carries finishReason. */
export const generateResponseSchema = z.object({
  tokenIds: z.array(tokenId),
  /** Prompt tokens served from the prefix cache; set on the first frame. */
  cachedTokens: z.number().int().nonnegative().optional(),
  finishReason: z.enum(FINISH_REASONS).optional(),
  /** Prefill phase only, on the last frame: where the prompt's pinned KV blocks can be pulled. */
  transfer: kvTransferDescriptorSchema.optional(),
  /**
   * Decode phase only, on a last frame with finishReason 'error': the descriptor was refused or the
   * pull failed (typed code), so the frontend may prefill elsewhere.
   */
  transferError: kvTransferErrorFrameSchema.optional(),
});
export type GenerateResponse = z.infer<typeof generateResponseSchema>;
