// Sends a preprocessed request to workers and streams the frames back, as one unbroken stream whatever
// happens behind it:
//
//   aggregated model:     select(agg) ─► generate ─► frames
//   disaggregated model:  select(decode) ─► short uncached prompt, or no prefill worker? ─► generate there
//   (DESIGN §12)               │ otherwise: select(prefill) ─► generate{prefill} ─► first token + descriptor
//                              └─► generate{decode, first token, descriptor} on the decode worker ─► frames
//
// Failures: a worker that dies mid-stream (disconnected) is excluded and the request migrates (prompt +=
// generated, maxTokens -= generated) at most `migrationLimit` times; a decode worker whose KV pull fails
// (the prefill worker died, its pin expired) ends with a typed transferError and the request prefills
// again on another prefill worker (a migration too); no_responders / unavailable / overloaded: nothing ran,
// try another (overloaded everywhere: the busy answer, 529 + Retry-After).
import type { GenerateRequest, GenerateResponse, InstanceId, KvTransferDescriptor } from '../api/index.js';
import { ENDPOINTS, generateResponseSchema } from '../api/index.js';
import type { PreprocessedRequest } from '../llm/preprocessor.js';
import type { RouteExplanation } from '../router/index.js';
import {
  type Discovery,
  isRequestError,
  type Logger,
  RequestError,
  type RequestPlane,
} from '../runtime/index.js';
import { HttpError } from './errors.js';
import type { FrontendMetrics, LocalPrefillReason } from './metrics.js';
import type { InstanceSet, ServedModel } from './model-registry.js';
import type { WorkerHintGate } from './worker-hint.js';
import { type Selection, selectAcross } from './worker-selector.js';

export interface DisaggOptions {
  /**
   * A prompt whose uncached part on the chosen decode worker is at most this many tokens is prefilled
   * there: moving its KV would cost more than computing it.
   */
  maxLocalPrefillLength: number;
  /** When no prefill worker can take a prompt, answer 503 instead of prefilling on the decode worker. */
  strict: boolean;
}

export const DEFAULT_DISAGG_OPTIONS: DisaggOptions = { maxLocalPrefillLength: 512, strict: false };

export interface EngineClientOptions {
  migrationLimit: number;
  /** HTTP status when every worker is busy (Dynamo's 529 by default). */
  busyStatusCode: number;
  /** `Retry-After` (seconds) on that answer. */
  retryAfterS: number;
  disagg: DisaggOptions;
  /**
   * Which WORKER_HINT_HEADER (the endpoint picker's choice of worker) to honour in every router mode:
   * none by default (a client reaching the frontend directly must not pin workers); behind an EPP pool,
   * those that carry the picker's shared secret (worker-hint.ts).
   */
  workerHints: WorkerHintGate;
}

type Routed = Extract<Selection, { kind: 'routed' }>;
type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** What a prefill worker answered: the first token and where its KV waits. */
interface Prefilled {
  first: number;
  /** The first token's logprobs, when the request asked for them. */
  firstLogprobs: GenerateResponse['logprobs'];
  cachedTokens: number;
  finishReason: 'stop' | 'length';
  transfer: KvTransferDescriptor | undefined;
  /** The prefill worker's set (its kv_release endpoint is beside its generate). */
  set: InstanceSet;
}

/**
 * The choices of one request (n > 1) are routed together: the others wait for the first one's routing
 * and take its worker as their hint, so they find the prompt's KV blocks there (KV events of a prefill
 * still running would come too late for the router to see them).
 */
export class ChoiceGroup {
  #settle: (worker: InstanceId | undefined) => void = () => undefined;
  readonly #first = new Promise<InstanceId | undefined>((resolve) => {
    this.#settle = resolve;
  });

  /** The first choice's worker once it is routed; undefined when it was not. */
  firstWorker(): Promise<InstanceId | undefined> {
    return this.#first;
  }

  routed(worker: InstanceId | undefined): void {
    this.#settle(worker);
  }
}

/** A frame stream ended by a failed KV transfer: prefill again elsewhere. */
class TransferFailed extends Error {
  override name = 'TransferFailed';
}

export class EngineClient {
  constructor(
    private readonly requestPlane: RequestPlane,
    private readonly discovery: Pick<Discovery, 'list'>,
    private readonly metrics: FrontendMetrics,
    private readonly options: EngineClientOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Frames until one carries finishReason. Throws HttpError when no worker can take the request; the
   * caller aborting `signal` cancels the request on its worker. `explain` (route debug) collects every
   * routing decision made for it. `choice`: one of several choices of a request (see ChoiceGroup).
   */
  generate(
    model: ServedModel,
    pre: PreprocessedRequest,
    requestId: string,
    headers: Headers,
    signal: AbortSignal,
    explain?: RouteExplanation[],
    choice?: { group: ChoiceGroup; index: number },
  ): AsyncGenerator<GenerateResponse, void> {
    const frames = this.generateOne(model, pre, requestId, headers, signal, explain, choice);
    return choice?.index === 0 ? leading(frames, choice.group) : frames;
  }

  private async *generateOne(
    model: ServedModel,
    pre: PreprocessedRequest,
    requestId: string,
    headers: Headers,
    signal: AbortSignal,
    explain: RouteExplanation[] | undefined,
    choice: { group: ChoiceGroup; index: number } | undefined,
  ): AsyncGenerator<GenerateResponse, void> {
    const generated: number[] = [];
    const exclude = new Set<InstanceId>();
    const excludePrefill = new Set<InstanceId>();
    let migrationsLeft = this.options.migrationLimit;
    /** Whether some worker started on it (and died): then running out of workers is a failure, not a 503. */
    let started = false;
    /** Workers that refused it as overloaded: running out of workers then is overload, not a 503. */
    let overloaded = 0;
    const hintCheck = this.options.workerHints.check(headers);
    // Refused (no or a wrong token): routed as if it had none, counted.
    if (hintCheck.kind === 'refused') this.metrics.workerHint(model.name, 'refused');
    const headerHint = hintCheck.kind === 'hint' ? hintCheck.worker : undefined;
    const hint =
      headerHint ?? (choice !== undefined && choice.index > 0 ? await choice.group.firstWorker() : undefined);
    const migrate = (type: string, instance: InstanceId, message: string) => {
      if (migrationsLeft <= 0) return false;
      // Structured output: the grammar state of the tokens so far cannot be replayed elsewhere (as Dynamo).
      if (pre.grammar !== undefined && generated.length > 0) {
        this.log.warn({ requestId, instance }, `${message}: not migrated (structured output)`);
        return false;
      }
      migrationsLeft--;
      started = true;
      this.metrics.migrations.labels(model.name, type).inc();
      this.log.warn({ requestId, instance, generated: generated.length, migrationsLeft }, message);
      return true;
    };
    for (let attempt = 0; ; attempt++) {
      const attemptId = attempt === 0 ? requestId : `${requestId}.${attempt}`;
      const tokenIds = generated.length === 0 ? pre.tokenIds : [...pre.tokenIds, ...generated];
      const maxTokens = pre.stop.maxTokens - generated.length;
      const decodeSets = model.setsOf('decode');
      const disaggregated = decodeSets.length > 0;
      const selection = await selectAcross(disaggregated ? decodeSets : model.setsOf('agg'), {
        attemptId,
        tokenIds,
        exclude,
        headers,
        signal,
        explain,
        hint,
      });
      if (headerHint !== undefined && attempt === 0) {
        this.metrics.workerHint(
          model.name,
          selection.kind === 'routed' && selection.hinted ? 'honoured' : 'ignored',
        );
      }
      if (choice?.index === 0 && selection.kind === 'routed')
        choice.group.routed(selection.instance.instanceId);
      if (selection.kind === 'none') {
        if (started)
          throw new HttpError('WORKER_FAILED', `every worker of model ${model.name} failed this request`);
        if (overloaded > 0)
          throw this.busy(
            `every worker of model ${model.name} is at its admission bound (${overloaded} refused)`,
          );
        throw new HttpError('NO_WORKER_FOR_MODEL', `no worker serves model ${model.name}`, 'model');
      }
      if (selection.kind === 'busy') throw this.busy(selection.reason);
      let request: GenerateRequest = {
        requestId: attemptId,
        model: model.name,
        tokenIds,
        sampling: pre.sampling,
        stop: { ...pre.stop, maxTokens },
        ...(pre.grammar === undefined ? {} : { grammar: pre.grammar }),
      };
      /** A prefill pin that this attempt must release unless the decode worker pulled it. */
      let pin: Prefilled | undefined;
      let decodeDone = false;
      try {
        if (disaggregated) {
          const prefill = await this.prefillFor(model, selection, request, excludePrefill, signal, explain);
          if (prefill.kind === 'prefilled') {
            pin = prefill.result;
            const { first, firstLogprobs, cachedTokens, finishReason, transfer } = pin;
            const logprobs = firstLogprobs === undefined ? {} : { logprobs: firstLogprobs };
            this.metrics.remotePrefill(model.name);
            selection.firstToken();
            generated.push(first);
            const last = finishReason === 'stop' || maxTokens <= 1;
            if (last || transfer === undefined) {
              if (!last) throw new HttpError('WORKER_FAILED', 'the prefill worker kept no KV to transfer');
              yield {
                tokenIds: [first],
                ...logprobs,
                cachedTokens,
                finishReason: finishReason === 'stop' ? 'stop' : 'length',
              };
              return;
            }
            yield { tokenIds: [first], ...logprobs, cachedTokens };
            request = { ...request, disagg: { phase: 'decode', firstTokenId: first, descriptor: transfer } };
          } else {
            if (this.options.disagg.strict && prefill.reason !== 'short_prompt') {
              throw new HttpError(
                'DISAGG_UNAVAILABLE',
                `no prefill worker can take this request for model ${model.name} (--disagg-strict)`,
              );
            }
            this.metrics.localPrefill(model.name, prefill.reason);
          }
        }
        const frames = this.stream(selection, request, generated, pin !== undefined, signal);
        for await (const frame of frames) yield frame;
        decodeDone = true;
        return;
      } catch (err) {
        if (signal.aborted) throw err;
        const id = selection.instance.instanceId;
        if (err instanceof TransferFailed) {
          if (pin) excludePrefill.add(pin.transfer?.instanceId ?? id);
          if (migrate('kv_transfer', id, `KV transfer failed (${err.message}): prefilling again`)) continue;
          throw new HttpError('WORKER_FAILED', `the KV transfer failed: ${err.message}`);
        }
        if (isRequestError(err, 'overloaded')) {
          // The worker is at its admission bound (its router view lagged, or other frontends fill it):
          // nothing ran there, so try another without spending the migration budget; a worker that is
          // merely full is no failed worker.
          exclude.add(id);
          overloaded++;
          this.metrics.overloadRetries.labels(model.name).inc();
          continue;
        }
        if (isRequestError(err, 'no_responders') || isRequestError(err, 'unavailable')) {
          // Nothing ran there: another worker may take it, without spending the migration budget.
          exclude.add(id);
          continue;
        }
        if (isRequestError(err, 'disconnected')) {
          exclude.add(id);
          const type = generated.length === 0 ? 'new_request' : 'ongoing_request';
          if (migrate(type, id, 'worker disconnected mid-stream: migrating the request')) continue;
        }
        if (err instanceof HttpError) throw err;
        this.log.warn({ err, requestId, instance: id }, 'generate failed');
        throw new HttpError(
          'WORKER_FAILED',
          `the worker failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      } finally {
        selection.release();
        if (pin?.transfer !== undefined && !decodeDone) void this.releasePin(pin.set, pin.transfer);
      }
    }
  }

  /**
   * The prefill of a disaggregated request: on a prefill worker unless the prompt is short for the
   * chosen decode worker or no prefill worker can take it (then the reason for prefilling locally).
   */
  private async prefillFor(
    model: ServedModel,
    decode: Routed,
    request: GenerateRequest,
    excludePrefill: Set<InstanceId>,
    signal: AbortSignal,
    explain: RouteExplanation[] | undefined,
  ): Promise<{ kind: 'prefilled'; result: Prefilled } | { kind: 'local'; reason: LocalPrefillReason }> {
    const blockSize = decode.set.card.kvCacheBlockSize;
    const uncached = request.tokenIds.length - decode.overlapBlocks * blockSize;
    if (uncached <= this.options.disagg.maxLocalPrefillLength)
      return { kind: 'local', reason: 'short_prompt' };
    const sets = model.setsOf('prefill');
    for (let n = 0; ; n++) {
      const selection = await selectAcross(sets, {
        attemptId: `${request.requestId}.prefill${n}`,
        tokenIds: request.tokenIds,
        exclude: excludePrefill,
        headers: {},
        signal,
        explain,
      });
      if (selection.kind !== 'routed') return { kind: 'local', reason: 'no_prefill_worker' };
      try {
        const frames = this.requestPlane.call<GenerateResponse>(
          selection.instance,
          { ...request, requestId: `${request.requestId}.prefill${n}`, disagg: { phase: 'prefill' } },
          { requestId: request.requestId, signal, ...this.validation(selection) },
        );
        let first: number | undefined;
        let firstLogprobs: GenerateResponse['logprobs'];
        let last: GenerateResponse | undefined;
        let cachedTokens = 0;
        for await (const frame of frames) {
          if (frame.cachedTokens !== undefined) cachedTokens = frame.cachedTokens;
          if (first === undefined && frame.tokenIds.length > 0) {
            first = frame.tokenIds[0];
            firstLogprobs = frame.logprobs?.slice(0, 1);
          }
          if (frame.finishReason !== undefined) last = frame;
        }
        const reason = last?.finishReason;
        if (first !== undefined && (reason === 'stop' || reason === 'length')) {
          selection.firstToken();
          return {
            kind: 'prefilled',
            result: {
              first,
              firstLogprobs,
              cachedTokens,
              finishReason: reason,
              transfer: last?.transfer,
              set: selection.set,
            },
          };
        }
        this.log.warn(
          { instance: selection.instance.instanceId, reason },
          'prefill worker ended without a token',
        );
      } catch (err) {
        if (signal.aborted) throw err;
        this.log.warn({ err, instance: selection.instance.instanceId }, 'prefill failed: trying another');
      } finally {
        selection.release();
      }
      excludePrefill.add(selection.instance.instanceId);
    }
  }

  /** Frames of one worker call, until finishReason (read to the stream's end). */
  private async *stream(
    selection: Routed,
    request: GenerateRequest,
    generated: number[],
    afterPrefill: boolean,
    signal: AbortSignal,
  ): AsyncGenerator<GenerateResponse, void> {
    const frames = this.requestPlane.call<GenerateResponse>(selection.instance, request, {
      requestId: request.requestId,
      signal,
      ...this.validation(selection),
    });
    let first = true;
    let finished = false;
    for await (const frame of frames) {
      // Read on after the last frame to the stream's own end: leaving the loop early would cancel
      // the call, and the worker would count a finished request as cancelled.
      if (finished) continue;
      if (first) {
        first = false;
        if (!afterPrefill) selection.firstToken();
      }
      const reason = frame.finishReason;
      if (reason === 'cancelled' || reason === 'error') {
        if (frame.transferError !== undefined) {
          throw new TransferFailed(`${frame.transferError.code}: ${frame.transferError.message}`);
        }
        // We did not cancel it (signal not aborted): the worker stopped it (shutting down) or failed.
        if (frame.tokenIds.length > 0) {
          for (const id of frame.tokenIds) generated.push(id);
          yield frame.logprobs === undefined
            ? { tokenIds: frame.tokenIds }
            : { tokenIds: frame.tokenIds, logprobs: frame.logprobs };
        }
        throw reason === 'cancelled'
          ? new RequestError('disconnected', 'the worker cancelled the request')
          : new HttpError('WORKER_FAILED', 'the worker failed the request');
      }
      for (const id of frame.tokenIds) generated.push(id);
      // After a remote prefill the client has its cached count already (the prefill worker's).
      yield afterPrefill && frame.cachedTokens !== undefined ? { ...frame, cachedTokens: undefined } : frame;
      if (reason !== undefined) finished = true;
    }
    if (!finished)
      throw new HttpError('WORKER_FAILED', 'the worker ended the stream without a finish reason');
  }

  /** Every worker busy: Dynamo's 529 (or --busy-status-code) with Retry-After. */
  private busy(reason: string): HttpError {
    return new HttpError(
      'ALL_WORKERS_BUSY',
      reason,
      null,
      this.options.busyStatusCode,
      this.options.retryAfterS,
    );
  }

  /** Frames from another process are validated; in-process ones are our own engine's objects. */
  private validation(selection: Routed): { responseSchema?: typeof generateResponseSchema } {
    return selection.instance.transport.kind === 'memory' ? {} : { responseSchema: generateResponseSchema };
  }

  /** Drops a prefill pin no decode worker will pull (the request ended or moved): best effort. */
  private async releasePin(set: InstanceSet, transfer: KvTransferDescriptor): Promise<void> {
    try {
      const endpoint = { ...set.endpoint, endpoint: ENDPOINTS.kvRelease };
      const instance = (await this.discovery.list(endpoint)).find(
        (i) => i.instanceId === transfer.instanceId,
      );
      if (instance === undefined) return; // the prefill worker is gone, and its pins with it
      for await (const _ of this.requestPlane.call(instance, { handle: transfer.handle }, {})) {
        // kv_release answers nothing; reading to the end waits for it.
      }
    } catch (err) {
      this.log.debug({ err, handle: transfer.handle }, 'releasing a prefill pin failed (it expires)');
    }
  }
}

/** The first choice's frames: however it ends, the other choices stop waiting for its worker. */
async function* leading(
  frames: AsyncGenerator<GenerateResponse, void>,
  group: ChoiceGroup,
): AsyncGenerator<GenerateResponse, void> {
  try {
    yield* frames;
  } finally {
    group.routed(undefined); // not routed at all (a no-op once it was)
  }
}
