// The payload of a worker's `generate` endpoint: a preprocessed request (token ids in, token ids out).
// The frontend owns text (templates, tokenization, detokenization, stop strings); the engine owns
// tokens (sampling, stop token ids, max tokens).
import { z } from 'zod';

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
});
export type GenerateResponse = z.infer<typeof generateResponseSchema>;
