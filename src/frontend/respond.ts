// A request's generations, answered over HTTP: frames from the engine client → incremental detokenizer
// → stop strings → SSE chunks (streamed) or one JSON body (unary). Shared by /v1/chat/completions,
// /v1/completions and /v1/responses, which differ only in the shape of their chunks and bodies.
//
// n > 1: each choice is a generation of its own (request id `<id>-<i>`, seed + i), sent through the
// engine client at once and routed together (ChoiceGroup); streamed, their chunks interleave as their
// frames come, each with its index; the usage sums them; one failing choice fails the request.
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GenerateResponse } from '../api/index.js';
import type {
  ChatCompletion,
  ChatCompletionRequest,
  ChatFinishReason,
  Completion,
  OpenAiFinishReason,
  Usage,
} from '../api/openai.js';
import type { ResponseEcho, ResponseObject } from '../api/openai-responses.js';
import { IncrementalDetokenizer } from '../llm/detokenizer.js';
import type { ModelResources } from '../llm/model-resources.js';
import type { PreprocessedRequest } from '../llm/preprocessor.js';
import { StopStringMatcher } from '../llm/stop-strings.js';
import {
  type ChatOutput,
  chatMessage,
  chatOutputFor,
  type OutputParserSettings,
  type ToolCall,
} from '../llm/tool-calls/chat-output.js';
import { ROUTE_DEBUG_HEADER, ROUTE_EXPLANATION_HEADER, type RouteExplanation } from '../router/index.js';
import { ChoiceGroup, type EngineClient } from './engine-client.js';
import { HttpError, toHttpError } from './errors.js';
import { LogprobsCollector } from './logprobs.js';
import type { ApiEndpoint, FrontendMetrics, RequestObserver } from './metrics.js';
import type { ServedModel } from './model-registry.js';
import { noteGeneration } from './plugins/access-log.plugin.js';
import { responseEvents, responseObject, statusOf } from './responses-format.js';
import {
  type ChatChunkFormat,
  type ChunkFormat,
  chatChunks,
  completionChunks,
  SSE_HEADERS,
  SseWriter,
} from './sse.js';
import { KEEP_ALIVE_COMMENT, type SseKeepAlive } from './sse-keep-alive.js';

/** The abort reason once a response is over; one object, not a DOMException per request. */
const RESPONSE_ENDED = new Error('the response ended');

export interface GenerationJob {
  endpoint: ApiEndpoint;
  model: ServedModel;
  resources: ModelResources;
  pre: PreprocessedRequest;
  stream: boolean;
  includeUsage: boolean;
  /** Usage so far on every chunk (vLLM's stream_options.continuous_usage_stats). */
  continuousUsage?: boolean;
  /** /v1/responses: what the response object repeats of the request. */
  responses?: ResponseEcho;
  /** Choices (n): 1 unless asked. */
  n?: number;
  /** Chat only: a new parser per choice that splits reasoning and tool calls out of the text. */
  output?: () => ChatOutput | undefined;
}

/** Turns frames into text, holding back stop-string candidates; counts tokens. */
class TextState {
  readonly detokenizer: IncrementalDetokenizer;
  readonly stops: StopStringMatcher;
  completionTokens = 0;
  cachedTokens = 0;
  seenFirst = false;
  finish: OpenAiFinishReason | undefined;
  /** The engine ended the sequence itself (nothing left to cancel on the worker). */
  engineFinished = false;
  /** When the request asked for logprobs. */
  readonly logprobs: LogprobsCollector | undefined;

  /** min_tokens: stop strings are not looked for in the first this many tokens (as vLLM). */
  readonly #minTokens: number;

  constructor(resources: ModelResources, pre: PreprocessedRequest) {
    this.detokenizer = new IncrementalDetokenizer(
      resources.tokenizer,
      pre.tokenIds,
      pre.skipSpecialTokens ?? true,
    );
    this.stops = new StopStringMatcher(pre.stopStrings);
    this.#minTokens = pre.stop.minTokens ?? 0;
    if (pre.sampling.logprobs !== undefined) this.logprobs = new LogprobsCollector(resources.tokenizer);
  }

  /** The logprobs of the tokens since the last call, serialized for a chunk (none pending: undefined). */
  chunkLogprobs(chat: boolean): string | undefined {
    const lp = this.logprobs;
    if (lp === undefined || !lp.pending) return undefined;
    return JSON.stringify(chat ? lp.chat() : lp.completion());
  }

  /** The text a frame releases; sets `finish` when the generation is over. */
  take(frame: GenerateResponse): string {
    if (!this.seenFirst) {
      this.seenFirst = true;
      this.cachedTokens = frame.cachedTokens ?? 0;
    }
    this.completionTokens += frame.tokenIds.length;
    this.logprobs?.push(frame);
    let delta = this.detokenizer.push(frame.tokenIds);
    const reason = frame.finishReason;
    if (reason !== undefined) delta += this.detokenizer.flush();
    if (reason === undefined && this.completionTokens <= this.#minTokens) return delta;
    const text = this.stops.push(delta);
    if (this.stops.stopped) {
      this.finish = 'stop';
      return text;
    }
    if (reason !== undefined) {
      const rest = text + this.stops.flush();
      this.engineFinished = true;
      this.finish = reason === 'length' && !this.stops.stopped ? 'length' : 'stop';
      return rest;
    }
    return text;
  }

  usage(promptTokens: number): Usage {
    return {
      prompt_tokens: promptTokens,
      completion_tokens: this.completionTokens,
      total_tokens: promptTokens + this.completionTokens,
      prompt_tokens_details: { cached_tokens: this.cachedTokens },
    };
  }
}

/** One choice of a request: its generation, text state, output parser and cancellation. */
interface Choice {
  index: number;
  frames: AsyncGenerator<GenerateResponse, void>;
  state: TextState;
  output: ChatOutput | undefined;
  controller: AbortController;
  /** Tool calls already streamed. */
  sentCalls: number;
  /** Streamed: its chunks (one format per choice index). */
  format?: ChunkFormat;
}

/** Choice i's request: seed + i, as vLLM's ParentRequest, so that seeded choices differ. */
function choicePre(pre: PreprocessedRequest, i: number): PreprocessedRequest {
  const seed = pre.sampling.seed;
  return i === 0 || seed === undefined ? pre : { ...pre, sampling: { ...pre.sampling, seed: seed + i } };
}

/** The request's usage: the prompt once, the choices' completion tokens summed, the first choice's cache hits. */
function usageOf(choices: readonly Choice[], promptTokens: number): Usage {
  if (choices.length === 1) return (choices[0] as Choice).state.usage(promptTokens);
  let completion = 0;
  for (const c of choices) completion += c.state.completionTokens;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completion,
    total_tokens: promptTokens + completion,
    prompt_tokens_details: { cached_tokens: (choices[0] as Choice).state.cachedTokens },
  };
}

export class Responder {
  constructor(
    private readonly engine: EngineClient,
    private readonly metrics: FrontendMetrics,
    private readonly keepAlive: SseKeepAlive,
    /** --tool-call-parser / --reasoning-parser; detected per model where absent. */
    private readonly parsers: OutputParserSettings = {},
  ) {}

  /** The output parser a chat request needs, if any (reasoning model, or tools offered). */
  chatOutput(
    req: ChatCompletionRequest,
    resources: ModelResources,
    promptIds: number[],
  ): ChatOutput | undefined {
    // The last prompt tokens tell whether the template opened a <think> block for the output.
    const tail = () => resources.tokenizer.decode(promptIds.slice(-4), false);
    return chatOutputFor(req, resources.chatTemplate, tail, this.parsers);
  }

  async respond(request: FastifyRequest, reply: FastifyReply, job: GenerationJob): Promise<unknown> {
    const prefix = { chat_completions: 'chatcmpl-', completions: 'cmpl-', responses: 'resp_' }[job.endpoint];
    const id = `${prefix}${randomUUID()}`;
    const n = job.n ?? 1;
    let clientGone = false;
    // Route debug: only a request that asks gets somewhere to put its decisions (the routers fill it
    // only under --router-debug); they go out as a header, so only those made before the headers.
    const explain: RouteExplanation[] | undefined =
      request.headers[ROUTE_DEBUG_HEADER] === '1' ? [] : undefined;
    const group = n > 1 ? new ChoiceGroup() : undefined;
    const choices: Choice[] = [];
    for (let index = 0; index < n; index++) {
      const controller = new AbortController();
      const pre = choicePre(job.pre, index);
      const frames = this.engine.generate(
        job.model,
        pre,
        n === 1 ? request.id : `${request.id}-${index}`,
        request.headers,
        controller.signal,
        explain,
        group && { group, index },
      );
      const state = new TextState(job.resources, pre);
      choices.push({ index, frames, state, output: job.output?.(), controller, sentCalls: 0 });
    }
    // 'close' before the response ended: the client went away; cancel every choice on its worker.
    const onClose = () => {
      if (!reply.raw.writableEnded) {
        clientGone = true;
        const gone = new Error('the client disconnected');
        for (const c of choices) c.controller.abort(gone);
      }
    };
    reply.raw.on('close', onClose);
    const observer = this.metrics.start(
      request,
      job.model.card.name,
      job.endpoint,
      job.stream ? 'stream' : 'unary',
    );
    noteGeneration(request, job.model.card.name, () => usageOf(choices, 0).completion_tokens);
    try {
      if (job.stream) return await this.stream(reply, job, id, choices, observer, explain);
      const body = await this.unary(job, id, choices, observer);
      if (explain !== undefined && explain.length > 0) {
        reply.header(ROUTE_EXPLANATION_HEADER, JSON.stringify(explain));
      }
      return body;
    } catch (err) {
      if (clientGone) {
        this.metrics.disconnects.labels(job.model.card.name).inc();
        observer.finish('cancelled');
        // Nobody to answer: tell fastify the response is handled.
        if (!reply.sent) reply.hijack();
        return reply;
      }
      observer.finish('error');
      throw err;
    } finally {
      reply.raw.off('close', onClose);
      // Leaving early (stop string, error, disconnect) cancels the call on the worker, and closing the
      // generator runs its cleanup (the router frees the attempt); both are no-ops once it finished.
      for (const c of choices) if (!c.state.engineFinished) c.controller.abort(RESPONSE_ENDED);
      await Promise.all(choices.map((c) => c.frames.return(undefined).catch(() => undefined)));
    }
  }

  /** One choice's text (and reasoning), read to its end; a choice ended by a stop string is cancelled. */
  private async collect(
    choice: Choice,
    observer: RequestObserver,
  ): Promise<{ text: string; reasoning: string }> {
    let text = '';
    let reasoning = '';
    const { state, output } = choice;
    for await (const frame of choice.frames) {
      observer.firstToken();
      observer.tokens(frame.tokenIds.length);
      if (output === undefined) text += state.take(frame);
      else {
        text += output.push(state.take(frame));
        reasoning += output.reasoning;
      }
      if (state.finish !== undefined && !state.engineFinished) break; // else: read on to the end of the call
    }
    if (!state.engineFinished) choice.controller.abort(RESPONSE_ENDED);
    if (output !== undefined) {
      text += output.finish();
      reasoning += output.reasoning;
    }
    return { text, reasoning };
  }

  private async unary(
    job: GenerationJob,
    id: string,
    choices: Choice[],
    observer: RequestObserver,
  ): Promise<ChatCompletion | Completion | ResponseObject> {
    const results =
      choices.length === 1
        ? [await this.collect(choices[0] as Choice, observer)]
        : await Promise.all(choices.map((c) => this.collect(c, observer)));
    const usage = usageOf(choices, job.pre.tokenIds.length);
    observer.finish('success', toObserved(usage));
    const created = Math.floor(Date.now() / 1000);
    const model = job.model.card.name;
    if (job.responses !== undefined) {
      const { state } = choices[0] as Choice;
      const status = statusOf(state.finish ?? 'stop');
      const text = (results[0] as { text: string }).text;
      return responseObject(id, created, model, job.responses, { status, text, usage });
    }
    if (job.endpoint === 'chat_completions') {
      return {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: choices.map(({ index, state, output }) => {
          const { text, reasoning } = results[index] as { text: string; reasoning: string };
          return {
            index,
            message:
              output === undefined
                ? { role: 'assistant' as const, content: text }
                : chatMessage(text, reasoning, output.calls),
            logprobs: state.logprobs?.chat() ?? null,
            finish_reason: chatFinish(state.finish ?? 'stop', output),
          };
        }),
        usage,
      };
    }
    return {
      id,
      object: 'text_completion',
      created,
      model,
      choices: choices.map(({ index, state }) => ({
        index,
        text: (results[index] as { text: string }).text,
        logprobs: state.logprobs?.completion() ?? null,
        finish_reason: state.finish ?? 'stop',
      })),
      usage,
    };
  }

  private async stream(
    reply: FastifyReply,
    job: GenerationJob,
    id: string,
    choices: Choice[],
    observer: RequestObserver,
    explain: RouteExplanation[] | undefined,
  ): Promise<FastifyReply> {
    const created = Math.floor(Date.now() / 1000);
    const model = job.model.card.name;
    const continuous = job.continuousUsage === true;
    const promptTokens = job.pre.tokenIds.length;
    for (const c of choices) {
      c.format =
        job.responses !== undefined
          ? responseEvents(id, created, model, job.responses)
          : job.endpoint === 'chat_completions'
            ? chatChunks(id, created, model, job.includeUsage, continuous, c.index)
            : completionChunks(id, created, model, job.includeUsage, continuous, c.index);
    }
    const format = (choices[0] as Choice).format as ChunkFormat;
    const res = reply.raw;
    let opened: SseWriter | undefined;
    const open = (): SseWriter => {
      if (opened) return opened;
      reply.hijack();
      // The headers hooks set on the reply (x-request-id, CORS, ignored fields) go out with the stream's.
      for (const [name, value] of Object.entries(reply.getHeaders()))
        if (value !== undefined) res.setHeader(name, value);
      res.writeHead(
        200,
        explain !== undefined && explain.length > 0
          ? { ...SSE_HEADERS, [ROUTE_EXPLANATION_HEADER]: JSON.stringify(explain) }
          : SSE_HEADERS,
      );
      opened = new SseWriter(res);
      const usage = continuous ? usageOf(choices, promptTokens) : undefined;
      let opening = '';
      for (const c of choices) opening += (c.format as ChunkFormat).opening(usage);
      if (opening !== '') opened.write(opening);
      return opened;
    };
    // Wait for every choice's first frame before answering 200, so that "no worker" or "busy" is a
    // proper status; a wait past the keep-alive interval (queued) answers 200 and sends comments
    // meanwhile, and a later error then travels as an error event like any mid-stream one.
    const stopKeepAlive = this.keepAlive.add(() => {
      if (!res.destroyed) open().write(KEEP_ALIVE_COMMENT);
    });
    let firsts: IteratorResult<GenerateResponse, void>[];
    try {
      firsts =
        choices.length === 1
          ? [await (choices[0] as Choice).frames.next()]
          : await Promise.all(choices.map((c) => c.frames.next()));
    } catch (err) {
      if (opened === undefined || res.destroyed) throw err;
      observer.finish('error');
      opened.end(format.error(toHttpError(err).toBody()));
      return reply;
    } finally {
      stopKeepAlive();
    }
    const out = open();
    const chatLogprobs = job.endpoint === 'chat_completions';
    const soFar = () => (continuous ? usageOf(choices, promptTokens) : undefined);
    /** Writes what a frame releases; a promise when the socket buffer is full. */
    const write = (c: Choice, frame: GenerateResponse): Promise<void> | undefined => {
      observer.firstToken();
      observer.tokens(frame.tokenIds.length);
      const { state, output } = c;
      const text = state.take(frame);
      const fmt = c.format as ChunkFormat;
      if (output !== undefined) {
        const usage = soFar();
        const content = output.push(text);
        const lp = content === '' ? undefined : state.chunkLogprobs(true);
        const chunks = parsedChunks(fmt as ChatChunkFormat, output, content, c.sentCalls, usage, lp);
        c.sentCalls = output.calls.length;
        return chunks === '' ? undefined : out.write(chunks);
      }
      if (text === '') return undefined;
      return out.write(fmt.text(text, soFar(), state.chunkLogprobs(chatLogprobs)));
    };
    /** A choice's last chunks: held-back text and logprobs, then its finish. */
    const tailOf = (c: Choice): string => {
      const { state, output } = c;
      const fmt = c.format as ChunkFormat;
      const chat = fmt as ChatChunkFormat; // output is set for chat completions only
      const usage = usageOf(choices, promptTokens);
      const partial = continuous ? usage : undefined;
      // Logprobs no text chunk carried (held-back text, reasoning, tool calls): with the last content,
      // else on a chunk of their own.
      const last = output?.finish() ?? '';
      const leftover = state.chunkLogprobs(chatLogprobs);
      const tail = leftover !== undefined && last === '' ? fmt.text('', partial, leftover) : '';
      return (
        tail +
        (output === undefined
          ? fmt.finish(state.finish ?? 'stop', usage)
          : parsedChunks(chat, output, last, c.sentCalls, partial, leftover) +
            chat.finish(chatFinish(state.finish ?? 'stop', output), usage))
      );
    };
    /** The choice is over (its last frame taken, or a stop string met: then it is cancelled). */
    const over = (c: Choice, next: IteratorResult<GenerateResponse, void>): boolean => {
      if (next.done === true) return true;
      if (c.state.finish === undefined || c.state.engineFinished) return false; // read on to the call's end
      c.controller.abort(RESPONSE_ENDED);
      return true;
    };
    let tails = '';
    try {
      if (choices.length === 1) {
        const c = choices[0] as Choice;
        let next = firsts[0] as IteratorResult<GenerateResponse, void>;
        while (next.done !== true) {
          const full = write(c, next.value);
          if (full !== undefined) await full;
          if (over(c, next)) break;
          next = await c.frames.next();
        }
      } else {
        // Choices interleave as their frames come: one pending next() per live choice.
        type Step = { c: Choice; next: IteratorResult<GenerateResponse, void> };
        const pending = new Map<Choice, Promise<Step>>();
        const pull = (c: Choice) => {
          const step = c.frames.next().then((next) => ({ c, next }));
          // Handled here too: it may fail while no race is waiting on it (a write awaits a drain, or
          // another choice failed first); the race that takes it still sees the failure.
          step.catch(() => undefined);
          pending.set(c, step);
        };
        const take = async ({ c, next }: Step) => {
          if (next.done !== true) {
            const full = write(c, next.value);
            if (full !== undefined) await full;
          }
          if (over(c, next)) {
            pending.delete(c);
            // Every choice but the last ends here; the last one's tail goes with the usage and [DONE].
            if (pending.size > 0) {
              const full = out.write(tailOf(c));
              if (full !== undefined) await full;
            } else tails = tailOf(c);
          } else pull(c);
        };
        for (const [i, c] of choices.entries())
          pending.set(c, Promise.resolve({ c, next: firsts[i] as IteratorResult<GenerateResponse, void> }));
        while (pending.size > 0) await take(await Promise.race(pending.values()));
      }
    } catch (err) {
      if (res.destroyed) throw err;
      // Headers are sent: the error travels as an event (the OpenAI SDK raises it), then the stream ends.
      observer.finish('error');
      out.end(format.error(toHttpError(err).toBody()));
      return reply;
    }
    if (res.destroyed) throw new HttpError('INTERNAL', 'the client disconnected');
    if (choices.length === 1) tails = tailOf(choices[0] as Choice);
    const usage = usageOf(choices, promptTokens);
    if (job.includeUsage) tails += format.usage(usage);
    out.end(tails + format.end);
    observer.finish('success', toObserved(usage));
    return reply;
  }
}

/** A chat generation that made tool calls and stopped by itself finished with `tool_calls`. */
function chatFinish(reason: OpenAiFinishReason, output: ChatOutput | undefined): ChatFinishReason {
  return reason === 'stop' && output !== undefined && output.calls.length > 0 ? 'tool_calls' : reason;
}

/** The chunks of what one push (or finish) of the output parser released: reasoning, content, new calls. */
/** `usage`: the usage so far, on each chunk (continuous_usage_stats). */
function parsedChunks(
  format: ChatChunkFormat,
  output: ChatOutput,
  content: string,
  sent: number,
  usage?: Usage,
  logprobs?: string,
): string {
  let chunks = output.reasoning === '' ? '' : format.reasoning(output.reasoning, usage);
  if (content !== '') chunks += format.text(content, usage, logprobs);
  for (let i = sent; i < output.calls.length; i++)
    chunks += format.toolCall(i, output.calls[i] as ToolCall, usage);
  return chunks;
}

function toObserved(usage: Usage) {
  return {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    cachedTokens: usage.prompt_tokens_details.cached_tokens,
  };
}
