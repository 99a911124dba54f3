// The payload of a worker's `generate` endpoint: a preprocessed request (token ids in, token ids out).
// The frontend owns text (templates, tokenization, detokenization, stop strings); the engine owns
// tokens (sampling, stop token ids, max tokens).
import { z } from 'zod';
import { kvTransferDescriptorSchema, kvTransferErrorFrameSchema } from './disagg.js';
import { MAX_TOKEN_ID, tokenIdsSchema } from './ids.js';

const tokenId = z.number().int().nonnegative().max(MAX_TOKEN_ID);

export const samplingOptionsSchema = z.object({
  /** 0 (or absent) is greedy. */
  temperature: z.number().min(0).max(100).optional(),
  topP: z.number().gt(0).max(1).optional(),
  topK: z.number().int().nonnegative().optional(),
  /** Drop tokens whose probability is below minP times the top one's (vLLM's min_p). */
  minP: z.number().min(0).max(1).optional(),
  seed: z.number().int().optional(),
  repetitionPenalty: z.number().gt(0).max(100).optional(),
  frequencyPenalty: z.number().min(-2).max(2).optional(),
  presencePenalty: z.number().min(-2).max(2).optional(),
  /** OpenAI's logit_bias: [token id, bias] pairs, added to the logits before the penalties. */
  logitBias: z
    .array(z.tuple([tokenId, z.number().min(-100).max(100)]))
    .max(1024)
    .optional(),
  /**
   * Return each output token's log-probability and this many most likely alternatives (0..20), from
   * the model's raw distribution (before temperature, penalties and logit_bias: vLLM's default).
   */
  logprobs: z.number().int().min(0).max(20).optional(),
});
export type SamplingOptions = z.infer<typeof samplingOptionsSchema>;

/** Structured output: what decoding is constrained to (OpenAI's response_format). */
export const grammarSpecSchema = z.discriminatedUnion('type', [
  /** Any JSON object. */
  z.object({ type: z.literal('json_object') }),
  /** JSON valid against this schema (checked and compilable: the frontend refuses others). */
  z.object({ type: z.literal('json_schema'), schema: z.record(z.string(), z.unknown()) }),
]);
export type GrammarSpec = z.infer<typeof grammarSpecSchema>;

export const stopConditionsSchema = z.object({
  maxTokens: z.number().int().positive().optional(),
  stopTokenIds: tokenIdsSchema().optional(),
  ignoreEos: z.boolean().optional(),
  /** Neither EOS nor stopTokenIds can be sampled before this many output tokens (vLLM's min_tokens). */
  minTokens: z.number().int().nonnegative().optional(),
});
export type StopConditions = z.infer<typeof stopConditionsSchema>;

export const generateRequestSchema = z.object({
  requestId: z.string().min(1).max(256),
  model: z.string().min(1),
  tokenIds: tokenIdsSchema(1),
  sampling: samplingOptionsSchema,
  stop: stopConditionsSchema,
  /** Structured output: tokens that cannot continue valid output are masked before sampling. */
  grammar: grammarSpecSchema.optional(),
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

/** A token's log-probability (−9999 stands for −∞, as in vLLM) and [id, logprob] alternatives, best first. */
export const tokenLogprobSchema = z.object({
  logprob: z.number(),
  top: z.array(z.tuple([tokenId, z.number()])),
});
export type TokenLogprob = z.infer<typeof tokenLogprobSchema>;

export const FINISH_REASONS = ['stop', 'length', 'cancelled', 'error'] as const;
export type FinishReason = (typeof FINISH_REASONS)[number];

/** One frame of the response stream: new token ids; the last frame carries finishReason. */
export const generateResponseSchema = z.object({
  tokenIds: tokenIdsSchema(),
  /** Prompt tokens served from the prefix cache; set on the first frame. */
  cachedTokens: z.number().int().nonnegative().optional(),
  /** When the request asked for logprobs: one entry per token of tokenIds. */
  logprobs: z.array(tokenLogprobSchema).optional(),
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
