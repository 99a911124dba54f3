// OpenAI request → what a worker's generate endpoint takes (token ids, sampling, stop conditions),
// plus what stays at the frontend: the stop strings, matched on the detokenized text.
import type { GrammarSpec, SamplingOptions, StopConditions } from '../api/generate.js';
import type { ModelCard } from '../api/model-card.js';
import type { ChatCompletionRequest, CompletionRequest } from '../api/openai.js';
import { ChatTemplateError } from './chat-template.js';
import type { ModelResources } from './model-resources.js';

export interface PreprocessedRequest {
  tokenIds: number[];
  sampling: SamplingOptions;
  stop: StopConditions & { maxTokens: number };
  stopStrings: string[];
  /** false: special tokens stay in the output text (vLLM's skip_special_tokens); absent: skipped. */
  skipSpecialTokens?: boolean;
  /** Structured output (response_format), checked by src/llm/structured-output.ts. */
  grammar?: GrammarSpec;
}

export type PromptErrorKind =
  | 'context_too_long'
  | 'max_tokens'
  | 'template'
  | 'no_chat_template'
  | 'empty_prompt'
  | 'min_tokens'
  | 'logit_bias'
  | 'top_logprobs';

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

/** A top-level field wins over its twin in Dynamo's `nvext`. */
function sampling(req: CommonRequest, vocabSize: number | undefined): SamplingOptions {
  const out: SamplingOptions = {};
  const nv = req.nvext;
  if (req.temperature != null) out.temperature = req.temperature;
  if (nv?.greed_sampling === true) out.temperature = 0;
  if (req.top_p != null) out.topP = req.top_p;
  const topK = req.top_k ?? nv?.top_k;
  if (topK != null && topK > 0) out.topK = topK;
  if (req.min_p != null && req.min_p > 0) out.minP = req.min_p;
  if (req.seed != null) out.seed = req.seed;
  if (req.presence_penalty != null) out.presencePenalty = req.presence_penalty;
  if (req.frequency_penalty != null) out.frequencyPenalty = req.frequency_penalty;
  const repetition = req.repetition_penalty ?? nv?.repetition_penalty;
  if (repetition != null) out.repetitionPenalty = repetition;
  const logprobs =
    'messages' in req ? (req.logprobs === true ? (req.top_logprobs ?? 0) : undefined) : req.logprobs;
  if (logprobs != null) out.logprobs = logprobs;
  if (req.logit_bias != null && Object.keys(req.logit_bias).length > 0)
    out.logitBias = logitBias(req.logit_bias, vocabSize);
  return out;
}

/** The bias map as [id, bias] pairs; an id outside the vocabulary (when the card says its size) is refused. */
function logitBias(bias: Record<string, number>, vocabSize: number | undefined): [number, number][] {
  return Object.entries(bias).map(([key, value]) => {
    const id = Number(key);
    if (id > 0xffffffff || (vocabSize !== undefined && id >= vocabSize)) {
      const size = vocabSize === undefined ? '' : ` (size ${vocabSize})`;
      const message = `logit_bias: token id ${key} is outside the vocabulary${size}`;
      throw new PromptError('logit_bias', message, 'logit_bias');
    }
    return [id, value];
  });
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
  const maxTokens = requestedMax ?? room;
  if (req.min_tokens != null && req.min_tokens > maxTokens) {
    throw new PromptError(
      'min_tokens',
      `min_tokens: ${req.min_tokens} is more than the ${maxTokens} tokens this request may generate`,
      'min_tokens',
    );
  }
  const stop: PreprocessedRequest['stop'] = { maxTokens };
  const ignoreEos = (req.ignore_eos ?? req.nvext?.ignore_eos) === true;
  if (ignoreEos) stop.ignoreEos = true;
  const stopIds = [...(ignoreEos ? [] : card.eosTokenIds), ...(req.stop_token_ids ?? [])];
  if (stopIds.length > 0) stop.stopTokenIds = stopIds;
  if (req.min_tokens != null && req.min_tokens > 0) stop.minTokens = req.min_tokens;
  const stopStrings = req.stop == null ? [] : typeof req.stop === 'string' ? [req.stop] : req.stop;
  const out: PreprocessedRequest = { tokenIds, sampling: sampling(req, card.vocabSize), stop, stopStrings };
  if (req.skip_special_tokens === false) out.skipSpecialTokens = false;
  return out;
}

/** `maxParam`: the field a refused output length is named by (/v1/responses: max_output_tokens). */
export function preprocessChat(
  req: ChatCompletionRequest,
  card: ModelCard,
  model: ModelResources,
  maxParam = 'max_tokens',
): PreprocessedRequest {
  if (model.chatTemplate === null) {
    throw new PromptError('no_chat_template', `model ${card.name} has no chat template`, 'model');
  }
  if (req.top_logprobs != null && req.top_logprobs > 0 && req.logprobs !== true) {
    const message = 'top_logprobs: logprobs must be true when top_logprobs is set';
    throw new PromptError('top_logprobs', message, 'top_logprobs');
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
  return finish(req, req.max_completion_tokens ?? req.max_tokens, maxParam, tokenIds, card);
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
