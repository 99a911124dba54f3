// Sends a preprocessed request to a worker and streams its frames back, migrating it when the worker
// dies mid-stream: the next worker gets the prompt plus the tokens already produced, and the caller
// sees one unbroken stream of frames.
//
//   select ─► call(instance) ─► frames ─► caller
//      ▲            │ disconnected (worker died): exclude it, prompt += generated, maxTokens -= generated
//      └────────────┘ at most `migrationLimit` times; no_responders / unavailable: nothing ran, try another
import type { GenerateRequest, GenerateResponse, InstanceId } from '../api/index.js';
import { generateResponseSchema } from '../api/index.js';
import type { PreprocessedRequest } from '../llm/preprocessor.js';
import { isRequestError, type Logger, RequestError, type RequestPlane } from '../runtime/index.js';
import { HttpError } from './errors.js';
import type { FrontendMetrics } from './metrics.js';
import type { ServedModel } from './model-registry.js';
import { selectWorker } from './worker-selector.js';

export interface EngineClientOptions {
  migrationLimit: number;
  /** HTTP status when every worker is busy (Dynamo's 529 by default). */
  busyStatusCode: number;
}

export class EngineClient {
  constructor(
    private readonly requestPlane: RequestPlane,
    private readonly metrics: FrontendMetrics,
    private readonly options: EngineClientOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Frames until one carries finishReason. Throws HttpError when no worker can take the request; the
   * caller aborting `signal` cancels the request on its worker.
   */
  async *generate(
    model: ServedModel,
    pre: PreprocessedRequest,
    requestId: string,
    headers: Readonly<Record<string, string | string[] | undefined>>,
    signal: AbortSignal,
  ): AsyncGenerator<GenerateResponse, void> {
    const generated: number[] = [];
    const exclude = new Set<InstanceId>();
    let migrationsLeft = this.options.migrationLimit;
    /** Whether some worker started on it (and died): then running out of workers is a failure, not a 503. */
    let started = false;
    for (let attempt = 0; ; attempt++) {
      const attemptId = attempt === 0 ? requestId : `${requestId}.${attempt}`;
      const tokenIds = generated.length === 0 ? pre.tokenIds : [...pre.tokenIds, ...generated];
      const selection = await selectWorker(model, { attemptId, tokenIds, exclude, headers, signal });
      if (selection.kind === 'none') {
        throw !started
          ? new HttpError('NO_WORKER_FOR_MODEL', `no worker serves model ${model.card.name}`, 'model')
          : new HttpError('WORKER_FAILED', `every worker of model ${model.card.name} failed this request`);
      }
      if (selection.kind === 'busy') {
        throw new HttpError('ALL_WORKERS_BUSY', selection.reason, null, this.options.busyStatusCode);
      }
      const request: GenerateRequest = {
        requestId: attemptId,
        model: model.card.name,
        tokenIds,
        sampling: pre.sampling,
        stop:
          generated.length === 0
            ? pre.stop
            : { ...pre.stop, maxTokens: pre.stop.maxTokens - generated.length },
      };
      try {
        const frames = this.requestPlane.call<GenerateResponse>(selection.instance, request, {
          requestId: request.requestId,
          signal,
          // Frames from another process are validated; in-process ones are our own engine's objects.
          ...(selection.instance.transport.kind === 'memory'
            ? {}
            : { responseSchema: generateResponseSchema }),
        });
        let first = true;
        let finished = false;
        for await (const frame of frames) {
          // Read on after the last frame to the stream's own end: leaving the loop early would cancel
          // the call, and the worker would count a finished request as cancelled.
          if (finished) continue;
          if (first) {
            first = false;
            selection.firstToken();
          }
          const reason = frame.finishReason;
          if (reason === 'cancelled' || reason === 'error') {
            // We did not cancel it (signal not aborted): the worker stopped it (shutting down) or failed.
            if (frame.tokenIds.length > 0) {
              for (const id of frame.tokenIds) generated.push(id);
              yield { tokenIds: frame.tokenIds };
            }
            throw reason === 'cancelled'
              ? new RequestError('disconnected', 'the worker cancelled the request')
              : new HttpError('WORKER_FAILED', 'the worker failed the request');
          }
          for (const id of frame.tokenIds) generated.push(id);
          yield frame;
          if (reason !== undefined) finished = true;
        }
        if (finished) return;
        throw new HttpError('WORKER_FAILED', 'the worker ended the stream without a finish reason');
      } catch (err) {
        if (signal.aborted) throw err;
        const id = selection.instance.instanceId;
        if (isRequestError(err, 'no_responders') || isRequestError(err, 'unavailable')) {
          // Nothing ran there: another worker may take it, without spending the migration budget.
          exclude.add(id);
          continue;
        }
        if (isRequestError(err, 'disconnected') && migrationsLeft > 0) {
          migrationsLeft--;
          started = true;
          exclude.add(id);
          this.metrics.migrations
            .labels(model.card.name, generated.length === 0 ? 'new_request' : 'ongoing_request')
            .inc();
          this.log.warn(
            { requestId, instance: id, generated: generated.length, migrationsLeft },
            'worker disconnected mid-stream: migrating the request',
          );
          continue;
        }
        if (err instanceof HttpError) throw err;
        this.log.warn({ err, requestId, instance: id }, 'generate failed');
        throw new HttpError(
          'WORKER_FAILED',
          `the worker failed: ${err instanceof Error ? err.message : String(err)}`,
        );
      } finally {
        selection.release();
      }
    }
  }
}
