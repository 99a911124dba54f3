// The OpenAI protocol as the frontend accepts it: request bodies of /v1/chat/completions and
// /v1/completions, and the shapes of what it answers. Objects are strict: a field we know but do not
// support (best_of other than n, images, ...) is refused with a message that says so. A top-level field we
// do not know at all is ignored and named in a response header (plugins/request-fields.plugin.ts), or
// refused under --strict-request-fields; nested objects stay strict.
import { z } from 'zod';
import { MAX_TOKEN_ID } from './ids.js';

const unsupported = (what: string) => ({ error: `${what} is not supported` });

const tokenIdSchema = z.number().int().min(0).max(MAX_TOKEN_ID);

/** The most choices (n) one request may ask for: each is a generation of its own. */
export const MAX_CHOICES = 16;

/**
 * Dynamo's `nvext` (lib/llm/src/protocols/openai/nvext.rs in ai-dynamo/dynamo; ignore_eos, top_k and
 * repetition_penalty from its earlier releases). The sampling fields act as their top-level twins;
 * the others are accepted and named as ignored (NVEXT_ACTED_ON lists what acts).
 */
const nvextSchema = z.looseObject({
  /** Greedy sampling, whatever the temperature. */
  greed_sampling: z.boolean().nullish(),
  ignore_eos: z.boolean().nullish(),
  top_k: z.number().int().min(-1).max(0x7fffffff).nullish(),
  repetition_penalty: z.number().gt(0).max(100).nullish(),
  annotations: z.array(z.string()).nullish(),
  use_raw_prompt: z.boolean().nullish(),
  backend_instance_id: z.number().int().nullish(),
  extra_fields: z.array(z.string()).nullish(),
  max_thinking_tokens: z.number().int().nullish(),
});
export type NvExt = z.infer<typeof nvextSchema>;
export const NVEXT_ACTED_ON: ReadonlySet<string> = new Set([
  'greed_sampling',
  'ignore_eos',
  'top_k',
  'repetition_penalty',
]);

/** Sampling and stop fields shared by both endpoints. */
const commonFields = {
  model: z.string().min(1).max(256),
  max_tokens: z.number().int().min(1).max(0x7fffffff).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  /** vLLM's extension; -1 (or 0) disables it. */
  top_k: z.number().int().min(-1).max(0x7fffffff).nullish(),
  seed: z.number().int().nullish(),
  /** Bounded so that matching them costs little per token, whatever a client sends. */
  stop: z.union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).max(8)]).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  /** vLLM's extension. */
  repetition_penalty: z.number().gt(0).max(100).nullish(),
  /** Choices: each a generation of its own (src/frontend/respond.ts). */
  n: z.number().int().min(1).max(MAX_CHOICES).nullish(),
  /** vLLM's extension: do not stop at the model's end-of-sequence tokens. */
  ignore_eos: z.boolean().nullish(),
  /** vLLM's extension: neither EOS nor stop_token_ids (nor stop strings) end the output before this many tokens. */
  min_tokens: z.number().int().min(0).max(0x7fffffff).nullish(),
  /** vLLM's extension: drop tokens less likely than min_p times the most likely one. */
  min_p: z.number().min(0).max(1).nullish(),
  /** vLLM's extension: more token ids that end the output (besides EOS). */
  stop_token_ids: z.array(tokenIdSchema).max(64).nullish(),
  /** vLLM's extension: false keeps special tokens (<|im_end|>, ...) in the output text. */
  skip_special_tokens: z.boolean().nullish(),
  stream: z.boolean().nullish(),
  stream_options: z
    .strictObject({
      include_usage: z.boolean().nullish(),
      /** vLLM's extension: usage (so far) on every chunk. */
      continuous_usage_stats: z.boolean().nullish(),
    })
    .nullish(),
  /** Dynamo's extensions (NVIDIA's `nvext`). */
  nvext: nvextSchema.nullish(),
  /** Token id (a decimal string, as OpenAI's JSON keys are) → bias added to its logit before sampling. */
  logit_bias: z
    .record(
      z.string().regex(/^\d{1,10}$/, 'keys must be token ids (decimal integers)'),
      z.number().min(-100).max(100),
    )
    .refine((r) => Object.keys(r).length <= 1024, 'at most 1024 token ids')
    .nullish(),
  // Fields that only describe the caller: accepted, not acted on (a stateless server stores nothing).
  user: z.string().max(1024).nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  prompt_cache_key: z.string().max(1024).nullish(),
  safety_identifier: z.string().max(1024).nullish(),
  service_tier: z.string().max(64).nullish(),
  store: z.boolean().nullish(),
};

/** Only text: any other part (image_url, input_audio, file) is refused. */
const textPartSchema = z.strictObject({
  type: z.literal('text', { error: 'only text content parts are supported' }),
  text: z.string(),
});
const contentSchema = z.union([z.string(), z.array(textPartSchema).min(1)], {
  error: (iss) => (iss.code === 'invalid_union' ? 'expected a string or an array of text parts' : undefined),
});

const toolCallSchema = z.strictObject({
  id: z.string(),
  type: z.literal('function'),
  function: z.strictObject({ name: z.string(), arguments: z.string() }),
});

const messageSchema = z.discriminatedUnion(
  'role',
  [
    z.strictObject({ role: z.literal('system'), content: contentSchema, name: z.string().nullish() }),
    z.strictObject({ role: z.literal('developer'), content: contentSchema, name: z.string().nullish() }),
    z.strictObject({ role: z.literal('user'), content: contentSchema, name: z.string().nullish() }),
    z.strictObject({
      role: z.literal('assistant'),
      content: contentSchema.nullish(),
      name: z.string().nullish(),
      tool_calls: z.array(toolCallSchema).nullish(),
      reasoning_content: z.string().nullish(),
      refusal: z.string().nullish(),
    }),
    z.strictObject({ role: z.literal('tool'), content: contentSchema, tool_call_id: z.string() }),
  ],
  {
    error: (iss) =>
      iss.code === 'invalid_union'
        ? 'role must be one of system, developer, user, assistant, tool'
        : undefined,
  },
);
export type ChatMessage = z.infer<typeof messageSchema>;

const toolSchema = z.strictObject({
  type: z.literal('function'),
  function: z.strictObject({
    name: z.string().min(1).max(256),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  }),
});

export const chatCompletionRequestSchema = z.strictObject({
  ...commonFields,
  messages: z.array(messageSchema).min(1).max(4096),
  max_completion_tokens: z.number().int().min(1).max(0x7fffffff).nullish(),
  /** Handed to the chat template; calls are parsed out of the output (src/llm/tool-calls). */
  tools: z.array(toolSchema).max(256).nullish(),
  tool_choice: z
    .union(
      [
        z.enum(['none', 'auto', 'required']),
        z.strictObject({ type: z.literal('function'), function: z.strictObject({ name: z.string() }) }),
      ],
      {
        error: (iss) =>
          iss.code === 'invalid_union'
            ? 'expected "none", "auto", "required" or {"type":"function","function":{"name":...}}'
            : undefined,
      },
    )
    .nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  /** vLLM's extension: extra variables for the chat template (e.g. enable_thinking). */
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
  /** Each output token's logprob (choices[].logprobs.content), with top_logprobs alternatives. */
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  /** Structured output, enforced while decoding (src/llm/structured-output.ts). */
  response_format: z
    .discriminatedUnion('type', [
      z.strictObject({ type: z.literal('text') }),
      z.strictObject({ type: z.literal('json_object') }),
      z.strictObject({
        type: z.literal('json_schema'),
        json_schema: z.strictObject({
          name: z.string().regex(/^[\w-]{1,64}$/, 'letters, digits, _ and -, at most 64'),
          description: z.string().nullish(),
          schema: z.record(z.string(), z.unknown()).nullish(),
          strict: z.boolean().nullish(),
        }),
      }),
    ])
    .nullish(),
  modalities: z.array(z.literal('text', { error: 'only the text modality is supported' })).nullish(),
  audio: z.null(unsupported('audio output')).optional(),
  prediction: z.null(unsupported('prediction')).optional(),
  functions: z.null(unsupported('functions (use tools)')).optional(),
  function_call: z.null(unsupported('function_call (use tool_choice)')).optional(),
  reasoning_effort: z.null(unsupported('reasoning_effort')).optional(),
  web_search_options: z.null(unsupported('web_search_options')).optional(),
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

const completionFields = z.strictObject({
  ...commonFields,
  /** One prompt: text or token ids; a batch of one is accepted, a larger batch is not. */
  prompt: z
    .union(
      [z.string(), z.array(z.union([tokenIdSchema, z.string(), z.array(tokenIdSchema).min(1)])).min(1)],
      {
        error: (iss) =>
          iss.code === 'invalid_union'
            ? 'expected a string, token ids, or a list of one of those'
            : undefined,
      },
    )
    .superRefine((prompt, ctx) => {
      if (typeof prompt === 'string' || prompt.every((p) => typeof p === 'number')) return;
      if (prompt.length === 1) return; // a batch of one text or one list of ids
      ctx.addIssue({
        code: 'custom',
        message:
          prompt.length > 1
            ? 'only one prompt per request is supported'
            : 'token ids and texts cannot be mixed',
      });
    }),
  suffix: z.null(unsupported('suffix')).optional(),
  echo: z.literal(false, unsupported('echo')).nullish(),
  /** Only as many as n (all of them returned): ranking more candidates is not done. */
  best_of: z.number().int().min(1).max(MAX_CHOICES).nullish(),
  /** This many alternatives per token, with each token's logprob (OpenAI allows up to 5, vLLM 20). */
  logprobs: z.number().int().min(0).max(20).nullish(),
});
export const completionRequestSchema = completionFields.superRefine((req, ctx) => {
  if (req.best_of != null && req.best_of !== (req.n ?? 1))
    ctx.addIssue({ code: 'custom', path: ['best_of'], message: 'best_of other than n is not supported' });
});
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

export const FINISH_REASONS_OPENAI = ['stop', 'length'] as const;
export type OpenAiFinishReason = (typeof FINISH_REASONS_OPENAI)[number];
/** A chat completion also ends with `tool_calls` when the model called tools. */
export const FINISH_REASONS_CHAT = [...FINISH_REASONS_OPENAI, 'tool_calls'] as const;
export type ChatFinishReason = (typeof FINISH_REASONS_CHAT)[number];

export const usageSchema = z.object({
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
  prompt_tokens_details: z.object({ cached_tokens: z.number().int() }),
});
export type Usage = z.infer<typeof usageSchema>;

const chatTokenLogprobSchema = z.object({
  token: z.string(),
  logprob: z.number(),
  /** The token text's UTF-8 bytes. */
  bytes: z.array(z.number().int()).nullable(),
});
export const chatLogprobsSchema = z.object({
  content: z.array(chatTokenLogprobSchema.extend({ top_logprobs: z.array(chatTokenLogprobSchema) })),
  refusal: z.null(),
});
export type ChatLogprobs = z.infer<typeof chatLogprobsSchema>;

export const completionLogprobsSchema = z.object({
  tokens: z.array(z.string()),
  token_logprobs: z.array(z.number()),
  top_logprobs: z.array(z.record(z.string(), z.number())),
  /** Where each token's text starts in the choice's text (UTF-16 code units). */
  text_offset: z.array(z.number().int()),
});
export type CompletionLogprobs = z.infer<typeof completionLogprobsSchema>;

export const chatCompletionSchema = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number().int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number().int(),
      message: z.object({
        role: z.literal('assistant'),
        /** null when the reply is only tool calls. */
        content: z.string().nullable(),
        reasoning_content: z.string().optional(),
        tool_calls: z.array(toolCallSchema).optional(),
      }),
      logprobs: chatLogprobsSchema.nullable(),
      finish_reason: z.enum(FINISH_REASONS_CHAT),
    }),
  ),
  usage: usageSchema,
});
export type ChatCompletion = z.infer<typeof chatCompletionSchema>;

export const completionSchema = z.object({
  id: z.string(),
  object: z.literal('text_completion'),
  created: z.number().int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number().int(),
      text: z.string(),
      logprobs: completionLogprobsSchema.nullable(),
      finish_reason: z.enum(FINISH_REASONS_OPENAI),
    }),
  ),
  usage: usageSchema,
});
export type Completion = z.infer<typeof completionSchema>;

export const modelListSchema = z.object({
  object: z.literal('list'),
  data: z.array(
    z.object({ id: z.string(), object: z.literal('model'), created: z.number().int(), owned_by: z.string() }),
  ),
});
export type ModelList = z.infer<typeof modelListSchema>;

/** OpenAI's error body. */
export const errorBodySchema = z.object({
  error: z.object({
    message: z.string(),
    type: z.string(),
    param: z.string().nullable(),
    code: z.string().nullable(),
  }),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;
