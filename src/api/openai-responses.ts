// OpenAI's Responses API (POST /v1/responses), the stateless subset the frontend serves: text or
// message input, instructions, sampling, streamed events. Nothing is stored, so `store: true`,
// `previous_response_id`, `conversation` and `background` are refused by name; tools and other input
// item kinds (function calls, files, images) too. Shapes follow the `openai` npm SDK's types
// (resources/responses/responses.d.ts), which its `responses.stream` helper checks event by event.
import { z } from 'zod';
import type { Usage } from './openai.js';

const unsupported = (what: string) => ({ error: `${what} is not supported` });

/** input_text (user, system, developer) and output_text (an assistant turn sent back). */
const textPartSchema = z.looseObject({
  type: z.enum(['input_text', 'output_text'], {
    error: 'only input_text and output_text content parts are supported',
  }),
  text: z.string(),
});

const messageItemSchema = z.looseObject({
  type: z.literal('message', { error: 'only message input items are supported' }).optional(),
  role: z.enum(['user', 'system', 'developer', 'assistant'], {
    error: 'role must be one of user, system, developer, assistant',
  }),
  content: z.union([z.string(), z.array(textPartSchema).min(1)], {
    error: (iss) =>
      iss.code === 'invalid_union' ? 'expected a string or an array of text parts' : undefined,
  }),
});
export type ResponseInputMessage = z.infer<typeof messageItemSchema>;

export const responseCreateRequestSchema = z.strictObject({
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(messageItemSchema).min(1).max(4096)], {
    error: (iss) =>
      iss.code === 'invalid_union' ? 'expected a string or a list of message items' : undefined,
  }),
  /** A system message before the input. */
  instructions: z.string().nullish(),
  max_output_tokens: z.number().int().min(1).max(0x7fffffff).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  stream: z.boolean().nullish(),
  /** include_obfuscation pads events against side channels; a local server sends none. */
  stream_options: z.looseObject({ include_obfuscation: z.boolean().nullish() }).nullish(),
  store: z.literal(false, unsupported('store (this server is stateless: send store: false)')).nullish(),
  previous_response_id: z.null(unsupported('previous_response_id (this server is stateless)')).optional(),
  conversation: z.null(unsupported('conversation (this server is stateless)')).optional(),
  background: z.literal(false, unsupported('background')).nullish(),
  tools: z.array(z.unknown()).max(0, unsupported('tools on /v1/responses')).nullish(),
  tool_choice: z.enum(['none', 'auto'], unsupported('tool_choice other than none or auto')).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  text: z
    .looseObject({
      format: z
        .looseObject({ type: z.literal('text', unsupported('text.format other than text')) })
        .nullish(),
    })
    .nullish(),
  truncation: z.literal('disabled', unsupported('truncation other than disabled')).nullish(),
  include: z.array(z.string()).max(0, unsupported('include')).nullish(),
  reasoning: z.null(unsupported('reasoning')).optional(),
  top_logprobs: z.null(unsupported('top_logprobs')).optional(),
  // Fields that only describe the caller: accepted, not acted on.
  user: z.string().max(1024).nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  prompt_cache_key: z.string().max(1024).nullish(),
  safety_identifier: z.string().max(1024).nullish(),
  service_tier: z.string().max(64).nullish(),
});
export type ResponseCreateRequest = z.infer<typeof responseCreateRequestSchema>;

/** What a response object repeats of its request. */
export interface ResponseEcho {
  instructions: string | null;
  maxOutputTokens: number | null;
  temperature: number | null;
  topP: number | null;
  metadata: Record<string, string> | null;
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete';

export interface ResponseOutputText {
  type: 'output_text';
  text: string;
  annotations: [];
  logprobs: [];
}

export interface ResponseOutputMessage {
  id: string;
  type: 'message';
  status: ResponseStatus;
  role: 'assistant';
  content: ResponseOutputText[];
}

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export interface ResponseObject {
  id: string;
  object: 'response';
  created_at: number;
  status: ResponseStatus;
  error: null;
  incomplete_details: { reason: 'max_output_tokens' } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  metadata: Record<string, string>;
  model: string;
  output: ResponseOutputMessage[];
  output_text: string;
  parallel_tool_calls: boolean;
  previous_response_id: null;
  store: false;
  temperature: number | null;
  text: { format: { type: 'text' } };
  tool_choice: 'auto';
  tools: [];
  top_p: number | null;
  truncation: 'disabled';
  usage: ResponseUsage | null;
}

export function responseUsage(usage: Usage): ResponseUsage {
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: usage.prompt_tokens_details.cached_tokens },
    output_tokens: usage.completion_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.total_tokens,
  };
}
