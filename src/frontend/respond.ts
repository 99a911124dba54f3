// One generation, answered over HTTP: frames from the engine client → incremental detokenizer → stop
// strings → SSE chunks (streamed) or one JSON body (unary). Shared by /v1/chat/completions,
// /v1/completions and /v1/responses, which differ only in the shape of their chunks and bodies.
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
import type { EngineClient } from './engine-client.js';
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
  /** Chat only: splits reasoning and tool calls out of the text (see Responder.chatOutput). */
  output?: ChatOutput | undefined;
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

  constructor(job: GenerationJob) {
    this.detokenizer = new IncrementalDetokenizer(
      job.resources.tokenizer,
      job.pre.tokenIds,
      job.pre.skipSpecialTokens ?? true,
    );
    this.stops = new StopStringMatcher(job.pre.stopStrings);
    this.#minTokens = job.pre.stop.minTokens ?? 0;
    if (job.pre.sampling.logprobs !== undefined)
      this.logprobs = new LogprobsCollector(job.resources.tokenizer);
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
    const controller = new AbortController();
    let clientGone = false;
    // 'close' before the response ended: the client went away; cancel the request on its worker.
    const onClose = () => {
      if (!reply.raw.writableEnded) {
        clientGone = true;
        controller.abort(new Error('the client disconnected'));
      }
    };
    reply.raw.on('close', onClose);
    const observer = this.metrics.start(
      request,
      job.model.card.name,
      job.endpoint,
      job.stream ? 'stream' : 'unary',
    );
    // Route debug: only a request that asks gets somewhere to put its decisions (the routers fill it
    // only under --router-debug); they go out as a header, so only those made before the headers.
    const explain: RouteExplanation[] | undefined =
      request.headers[ROUTE_DEBUG_HEADER] === '1' ? [] : undefined;
    const frames = this.engine.generate(
      job.model,
      job.pre,
      request.id,
      request.headers,
      controller.signal,
      explain,
    );
    const state = new TextState(job);
    noteGeneration(request, job.model.card.name, () => state.completionTokens);
    try {
      if (job.stream) return await this.stream(reply, job, id, frames, state, observer, explain);
      const body = await this.unary(job, id, frames, state, observer);
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
      if (!state.engineFinished) controller.abort(RESPONSE_ENDED);
      await frames.return(undefined).catch(() => undefined);
    }
  }

  private async unary(
    job: GenerationJob,
    id: string,
    frames: AsyncGenerator<GenerateResponse, void>,
    state: TextState,
    observer: RequestObserver,
  ): Promise<ChatCompletion | Completion | ResponseObject> {
    let text = '';
    let reasoning = '';
    const output = job.output;
    for await (const frame of frames) {
      observer.firstToken();
      observer.tokens(frame.tokenIds.length);
      if (output === undefined) text += state.take(frame);
      else {
        text += output.push(state.take(frame));
        reasoning += output.reasoning;
      }
      if (state.finish !== undefined && !state.engineFinished) break; // else: read on to the end of the call
    }
    if (output !== undefined) {
      text += output.finish();
      reasoning += output.reasoning;
    }
    const usage = state.usage(job.pre.tokenIds.length);
    observer.finish('success', toObserved(usage));
    const finishReason = chatFinish(state.finish ?? 'stop', output);
    const created = Math.floor(Date.now() / 1000);
    const model = job.model.card.name;
    if (job.responses !== undefined) {
      const status = statusOf(state.finish ?? 'stop');
      return responseObject(id, created, model, job.responses, { status, text, usage });
    }
    if (job.endpoint === 'chat_completions') {
      return {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message:
              output === undefined
                ? { role: 'assistant', content: text }
                : chatMessage(text, reasoning, output.calls),
            logprobs: state.logprobs?.chat() ?? null,
            finish_reason: finishReason,
          },
        ],
        usage,
      };
    }
    return {
      id,
      object: 'text_completion',
      created,
      model,
      choices: [
        {
          index: 0,
          text,
          logprobs: state.logprobs?.completion() ?? null,
          finish_reason: state.finish ?? 'stop',
        },
      ],
      usage,
    };
  }

  private async stream(
    reply: FastifyReply,
    job: GenerationJob,
    id: string,
    frames: AsyncGenerator<GenerateResponse, void>,
    state: TextState,
    observer: RequestObserver,
    explain: RouteExplanation[] | undefined,
  ): Promise<FastifyReply> {
    const created = Math.floor(Date.now() / 1000);
    const model = job.model.card.name;
    const continuous = job.continuousUsage === true;
    const format: ChunkFormat =
      job.responses !== undefined
        ? responseEvents(id, created, model, job.responses)
        : job.endpoint === 'chat_completions'
          ? chatChunks(id, created, model, job.includeUsage, continuous)
          : completionChunks(id, created, model, job.includeUsage, continuous);
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
      const opening = format.opening(continuous ? state.usage(job.pre.tokenIds.length) : undefined);
      if (opening !== '') opened.write(opening);
      return opened;
    };
    // Wait for the first frame before answering 200, so that "no worker" or "busy" is a proper status;
    // a wait past the keep-alive interval (queued) answers 200 and sends comments meanwhile, and a
    // later error then travels as an error event like any mid-stream one.
    const stopKeepAlive = this.keepAlive.add(() => {
      if (!res.destroyed) open().write(KEEP_ALIVE_COMMENT);
    });
    let next: IteratorResult<GenerateResponse, void>;
    try {
      next = await frames.next();
    } catch (err) {
      if (opened === undefined || res.destroyed) throw err;
      observer.finish('error');
      opened.end(format.error(toHttpError(err).toBody()));
      return reply;
    } finally {
      stopKeepAlive();
    }
    const out = open();
    const output = job.output;
    const chatLogprobs = job.endpoint === 'chat_completions';
    let sentCalls = 0;
    try {
      while (next.done !== true) {
        const frame = next.value;
        observer.firstToken();
        observer.tokens(frame.tokenIds.length);
        const text = state.take(frame);
        if (output !== undefined) {
          const usage = continuous ? state.usage(job.pre.tokenIds.length) : undefined;
          const content = output.push(text);
          const lp = content === '' ? undefined : state.chunkLogprobs(true);
          const chunks = parsedChunks(format as ChatChunkFormat, output, content, sentCalls, usage, lp);
          sentCalls = output.calls.length;
          const full = chunks === '' ? undefined : out.write(chunks);
          if (full !== undefined) await full;
        } else if (text !== '') {
          const usage = continuous ? state.usage(job.pre.tokenIds.length) : undefined;
          const full = out.write(format.text(text, usage, state.chunkLogprobs(chatLogprobs)));
          if (full !== undefined) await full;
        }
        if (state.finish !== undefined && !state.engineFinished) break; // else: read on to the end of the call
        next = await frames.next();
      }
    } catch (err) {
      if (res.destroyed) throw err;
      // Headers are sent: the error travels as an event (the OpenAI SDK raises it), then the stream ends.
      observer.finish('error');
      out.end(format.error(toHttpError(err).toBody()));
      return reply;
    }
    if (res.destroyed) throw new HttpError('INTERNAL', 'the client disconnected');
    const usage = state.usage(job.pre.tokenIds.length);
    const chat = format as ChatChunkFormat; // output is set for chat completions only
    const soFar = continuous ? usage : undefined;
    // Logprobs no text chunk carried (held-back text, reasoning, tool calls): with the last content,
    // else on a chunk of their own.
    const last = output?.finish() ?? '';
    const leftover = state.chunkLogprobs(chatLogprobs);
    let tail = leftover !== undefined && last === '' ? format.text('', soFar, leftover) : '';
    tail +=
      output === undefined
        ? format.finish(state.finish ?? 'stop', usage)
        : parsedChunks(chat, output, last, sentCalls, soFar, leftover) +
          chat.finish(chatFinish(state.finish ?? 'stop', output), usage);
    if (job.includeUsage) tail += format.usage(usage);
    out.end(tail + format.end);
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
