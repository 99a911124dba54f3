// OpenAI request → what a worker's generate endpoint takes (token ids, sampling, stop conditions),
// plus what stays at the frontend: the stop strings, matched on the detokenized text.
import type { SamplingOptions, StopConditions } from '../api/generate.js';
import type { ModelCard } from '../api/model-card.js';
import type { ChatCompletionRequest, CompletionRequest } from '../api/openai.js';
import { ChatTemplateError } from './chat-template.js';
import type { ModelResources } from './model-resources.js';

export interface PreprocessedRequest {
  tokenIds: number[];
  sampling: SamplingOptions;
  stop: StopConditions & { maxTokens: number };
  stopStrings: string[];
}

export type PromptErrorKind =
  | 'context_too_long'
  | 'max_tokens'
  | 'template'
  | 'no_chat_template'
  | 'empty_prompt';

/** The request cannot be served as asked; `param` names the field at fault. */
export class PromptError extends Error {
  override name = 'PromptError';
  constructor(
    readonly kind: PromptErrorKind,
    message: string,
    readonly param: string | null,
  ) {
    super(message);
  }
}

type CommonRequest = ChatCompletionRequest | CompletionRequest;

function sampling(req: CommonRequest): SamplingOptions {
  const out: SamplingOptions = {};
  if (req.temperature != null) out.temperature = req.temperature;
  if (req.top_p != null) out.topP = req.top_p;
  if (req.top_k != null && req.top_k > 0) out.topK = req.top_k;
  if (req.seed != null) out.seed = req.seed;
  if (req.presence_penalty != null) out.presencePenalty = req.presence_penalty;
  if (req.frequency_penalty != null) out.frequencyPenalty = req.frequency_penalty;
  if (req.repetition_penalty != null) out.repetitionPenalty = req.repetition_penalty;
  return out;
}

function finish(
  req: CommonRequest,
  requestedMax: number | null | undefined,
  maxParam: string,
  tokenIds: number[],
  card: ModelCard,
): PreprocessedRequest {
  if (tokenIds.length === 0) throw new PromptError('empty_prompt', 'the prompt is empty', 'prompt');
  const room = card.contextLength - tokenIds.length;
  if (room <= 0) {
    throw new PromptError(
      'context_too_long',
      `the prompt has ${tokenIds.length} tokens; the model's context length is ${card.contextLength}`,
      null,
    );
  }
  if (requestedMax != null && requestedMax > room) {
    throw new PromptError(
      'max_tokens',
      `${maxParam}: the model's context length is ${card.contextLength} tokens and the prompt has ` +
        `${tokenIds.length}, so at most ${room} can be generated; ${requestedMax} were asked`,
      maxParam,
    );
  }
  const stop: PreprocessedRequest['stop'] = { maxTokens: requestedMax ?? room };
  if (req.ignore_eos === true) stop.ignoreEos = true;
  else stop.stopTokenIds = card.eosTokenIds;
  const stopStrings = req.stop == null ? [] : typeof req.stop === 'string' ? [req.stop] : req.stop;
  return { tokenIds, sampling: sampling(req), stop, stopStrings };
}

export function preprocessChat(
  req: ChatCompletionRequest,
  card: ModelCard,
  model: ModelResources,
): PreprocessedRequest {
  if (model.chatTemplate === null) {
    throw new PromptError('no_chat_template', `model ${card.name} has no chat template`, 'model');
  }
  let prompt: string;
  try {
    prompt = model.chatTemplate.render(req.messages, {
      tools: req.tool_choice === 'none' ? undefined : (req.tools ?? undefined),
      kwargs: req.chat_template_kwargs ?? undefined,
    });
  } catch (err) {
    if (err instanceof ChatTemplateError) throw new PromptError('template', err.message, 'messages');
    throw err;
  }
  // The template already placed the special tokens (BOS...): do not add them twice.
  const tokenIds = model.tokenizer.encode(prompt, false);
  return finish(req, req.max_completion_tokens ?? req.max_tokens, 'max_tokens', tokenIds, card);
}

export function preprocessCompletion(
  req: CompletionRequest,
  card: ModelCard,
  model: ModelResources,
): PreprocessedRequest {
  const p = req.prompt;
  let tokenIds: number[];
  if (typeof p === 'string') tokenIds = model.tokenizer.encode(p, true);
  else if (p.every((x) => typeof x === 'number')) tokenIds = p as number[];
  else {
    const only = p[0];
    tokenIds = typeof only === 'string' ? model.tokenizer.encode(only, true) : (only as number[]);
  }
  return finish(req, req.max_tokens, 'max_tokens', tokenIds, card);
}
