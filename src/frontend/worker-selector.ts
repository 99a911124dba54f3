// Picks the worker for one attempt of a request through the model's router (DESIGN §7), and tells the
// router how the attempt goes (first token, end) so its view of each worker's load stays true.
import type { Instance, InstanceId } from '../api/index.js';
import { HttpError } from './errors.js';
import type { ServedModel } from './model-registry.js';

export type Selection =
  | {
      kind: 'routed';
      instance: Instance;
      /** Leading prompt blocks the worker already caches. */
      overlapBlocks: number;
      /** The attempt's first token arrived (its prefill no longer loads the worker). */
      firstToken(): void;
      /** Call once when the attempt ends, however it ends. */
      release(): void;
    }
  /** Every worker is busy (and the queue full or the wait too long). */
  | { kind: 'busy'; reason: string }
  /** No worker (left) serves the model. */
  | { kind: 'none' };

export interface SelectRequest {
  /** Unique per attempt: the router tracks the attempt under it. */
  attemptId: string;
  tokenIds: readonly number[];
  /** Workers that failed this request already. */
  exclude: ReadonlySet<InstanceId>;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  signal: AbortSignal;
}

export async function selectWorker(model: ServedModel, req: SelectRequest): Promise<Selection> {
  const exclude = new Set(req.exclude);
  // The router learns of instances from its own discovery watch; one it knows that this model's
  // watch does not (yet, or any more) is skipped.
  for (;;) {
    const outcome = await model.router.route({
      requestId: req.attemptId,
      tokenIds: req.tokenIds,
      exclude,
      headers: req.headers,
      signal: req.signal,
    });
    if (outcome.kind === 'rejected') {
      switch (outcome.code) {
        case 'busy':
          return { kind: 'busy', reason: outcome.reason };
        case 'unknown_instance':
          throw new HttpError('INVALID_REQUEST', outcome.reason, 'x-dynamo-worker-instance-id');
        default:
          return { kind: 'none' };
      }
    }
    if (outcome.kind === 'queued') return { kind: 'busy', reason: 'every worker is busy' };
    const instance = model.instances.get(outcome.instance);
    if (instance !== undefined) {
      const router = model.router;
      return {
        kind: 'routed',
        instance,
        overlapBlocks: outcome.overlapBlocks,
        firstToken: () => router.firstToken(req.attemptId),
        release: () => router.complete(req.attemptId),
      };
    }
    model.router.complete(req.attemptId);
    exclude.add(outcome.instance);
  }
}
