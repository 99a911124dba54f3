// One generation, answered over HTTP: frames from the engine client → incremental detokenizer → stop
// strings → SSE chunks (streamed) or one JSON body (unary). Shared by /v1/chat/completions and
// /v1/completions, which differ only in the shape of their chunks and bodies.
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GenerateResponse } from '../api/index.js';
import type { ChatCompletion, Completion, OpenAiFinishReason, Usage } from '../api/openai.js';
import { IncrementalDetokenizer } from '../llm/detokenizer.js';
import type { ModelResources } from '../llm/model-resources.js';
import type { PreprocessedRequest } from '../llm/preprocessor.js';
import { StopStringMatcher } from '../llm/stop-strings.js';
import { ROUTE_DEBUG_HEADER, ROUTE_EXPLANATION_HEADER, type RouteExplanation } from '../router/index.js';
import type { EngineClient } from './engine-client.js';
import { HttpError, toHttpError } from './errors.js';
import type { ApiEndpoint, FrontendMetrics, RequestObserver } from './metrics.js';
import type { ServedModel } from './model-registry.js';
import { type ChunkFormat, chatChunks, completionChunks, DONE, SSE_HEADERS, SseWriter } from './sse.js';
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

  constructor(job: GenerationJob) {
    this.detokenizer = new IncrementalDetokenizer(job.resources.tokenizer, job.pre.tokenIds);
    this.stops = new StopStringMatcher(job.pre.stopStrings);
  }

  /** The text a frame releases; sets `finish` when the generation is over. */
  take(frame: GenerateResponse): string {
    if (!this.seenFirst) {
      this.seenFirst = true;
      this.cachedTokens = frame.cachedTokens ?? 0;
    }
    this.completionTokens += frame.tokenIds.length;
    let delta = this.detokenizer.push(frame.tokenIds);
    const reason = frame.finishReason;
    if (reason !== undefined) delta += this.detokenizer.flush();
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
  ) {}

  async respond(request: FastifyRequest, reply: FastifyReply, job: GenerationJob): Promise<unknown> {
    const prefix = job.endpoint === 'chat_completions' ? 'chatcmpl-' : 'cmpl-';
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
  ): Promise<ChatCompletion | Completion> {
    let text = '';
    for await (const frame of frames) {
      observer.firstToken();
      observer.tokens(frame.tokenIds.length);
      text += state.take(frame);
      if (state.finish !== undefined && !state.engineFinished) break; // else: read on to the end of the call
    }
    const usage = state.usage(job.pre.tokenIds.length);
    observer.finish('success', toObserved(usage));
    const finishReason = state.finish ?? 'stop';
    const created = Math.floor(Date.now() / 1000);
    const model = job.model.card.name;
    if (job.endpoint === 'chat_completions') {
      return {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: text },
            logprobs: null,
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
      choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason }],
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
    const format: ChunkFormat =
      job.endpoint === 'chat_completions'
        ? chatChunks(id, created, model, job.includeUsage)
        : completionChunks(id, created, model, job.includeUsage);
    const res = reply.raw;
    let opened: SseWriter | undefined;
    const open = (): SseWriter => {
      if (opened) return opened;
      reply.hijack();
      res.writeHead(
        200,
        explain !== undefined && explain.length > 0
          ? { ...SSE_HEADERS, [ROUTE_EXPLANATION_HEADER]: JSON.stringify(explain) }
          : SSE_HEADERS,
      );
      opened = new SseWriter(res);
      const opening = format.opening();
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
      opened.end(`data: ${JSON.stringify(toHttpError(err).toBody())}\n\n${DONE}`);
      return reply;
    } finally {
      stopKeepAlive();
    }
    const out = open();
    try {
      while (next.done !== true) {
        const frame = next.value;
        observer.firstToken();
        observer.tokens(frame.tokenIds.length);
        const text = state.take(frame);
        if (text !== '') {
          const full = out.write(format.text(text));
          if (full !== undefined) await full;
        }
        if (state.finish !== undefined && !state.engineFinished) break; // else: read on to the end of the call
        next = await frames.next();
      }
    } catch (err) {
      if (res.destroyed) throw err;
      // Headers are sent: the error travels as an event (the OpenAI SDK raises it), then the stream ends.
      observer.finish('error');
      out.end(`data: ${JSON.stringify(toHttpError(err).toBody())}\n\n${DONE}`);
      return reply;
    }
    if (res.destroyed) throw new HttpError('INTERNAL', 'the client disconnected');
    let tail = format.finish(state.finish ?? 'stop');
    const usage = state.usage(job.pre.tokenIds.length);
    if (job.includeUsage) tail += format.usage(usage);
    out.end(tail + DONE);
    observer.finish('success', toObserved(usage));
    return reply;
  }
}

function toObserved(usage: Usage) {
  return {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    cachedTokens: usage.prompt_tokens_details.cached_tokens,
  };
}
