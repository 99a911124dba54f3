// The OpenAI protocol as the frontend accepts it: request bodies of /v1/chat/completions and
// /v1/completions, and the shapes of what it answers. Objects are strict: a field we do not know is
// refused (400 naming it), and a field we know but do not support (n > 1, logit_bias, images, ...) is
// refused with a message that says so, never silently ignored.
import { z } from 'zod';

const unsupported = (what: string) => ({ error: `${what} is not supported` });

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
  n: z.literal(1, unsupported('n other than 1')).nullish(),
  /** vLLM's extension: do not stop at the model's end-of-sequence tokens. */
  ignore_eos: z.boolean().nullish(),
  user: z.string().max(1024).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z
    .strictObject({
      include_usage: z.boolean().nullish(),
      continuous_usage_stats: z.literal(false, unsupported('continuous_usage_stats')).nullish(),
    })
    .nullish(),
  logit_bias: z
    .record(z.string(), z.number())
    .refine((r) => Object.keys(r).length === 0, 'logit_bias is not supported')
    .nullish(),
  service_tier: z.enum(['auto', 'default']).nullish(),
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
  /** Handed to chat templates that use them; we do not parse tool calls out of the output. */
  tools: z.array(toolSchema).max(256).nullish(),
  tool_choice: z
    .enum(['none', 'auto'], { error: 'tool_choice other than "none" or "auto" is not supported' })
    .nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  /** vLLM's extension: extra variables for the chat template (e.g. enable_thinking). */
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
  logprobs: z.literal(false, unsupported('logprobs')).nullish(),
  top_logprobs: z.null(unsupported('top_logprobs')).optional(),
  response_format: z
    .strictObject({ type: z.literal('text', { error: 'response_format other than text is not supported' }) })
    .nullish(),
  modalities: z.array(z.literal('text', { error: 'only the text modality is supported' })).nullish(),
  store: z.literal(false, unsupported('store')).nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  audio: z.null(unsupported('audio output')).optional(),
  prediction: z.null(unsupported('prediction')).optional(),
  functions: z.null(unsupported('functions (use tools)')).optional(),
  function_call: z.null(unsupported('function_call (use tool_choice)')).optional(),
  reasoning_effort: z.null(unsupported('reasoning_effort')).optional(),
  web_search_options: z.null(unsupported('web_search_options')).optional(),
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

const tokenIdSchema = z.number().int().min(0).max(0xffffffff);

export const completionRequestSchema = z.strictObject({
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
  best_of: z.literal(1, unsupported('best_of other than 1')).nullish(),
  logprobs: z.null(unsupported('logprobs')).optional(),
});
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

export const FINISH_REASONS_OPENAI = ['stop', 'length'] as const;
export type OpenAiFinishReason = (typeof FINISH_REASONS_OPENAI)[number];

export const usageSchema = z.object({
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
  prompt_tokens_details: z.object({ cached_tokens: z.number().int() }),
});
export type Usage = z.infer<typeof usageSchema>;

export const chatCompletionSchema = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number().int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number().int(),
      message: z.object({ role: z.literal('assistant'), content: z.string() }),
      logprobs: z.null(),
      finish_reason: z.enum(FINISH_REASONS_OPENAI),
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
      logprobs: z.null(),
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
