// Picks the worker for one attempt of a request through an instance set's router (DESIGN §7), and tells
// the router how the attempt goes (first token, end) so its view of each worker's load stays true.
// Where a model has several sets of one role (two components), `selectAcross` spreads requests over
// them in proportion to their instances and falls through to the next set when one has no worker left.
import type { Instance, InstanceId } from '../api/index.js';
import type { RouteExplanation } from '../router/index.js';
import { HttpError } from './errors.js';
import type { InstanceSet } from './model-registry.js';

export type Selection =
  | {
      kind: 'routed';
      instance: Instance;
      /** The set the instance belongs to. */
      set: InstanceSet;
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
  /** Route debug: where the routers explain their decisions (only when the client asked). */
  explain?: RouteExplanation[] | undefined;
}

export async function selectWorker(set: InstanceSet, req: SelectRequest): Promise<Selection> {
  const exclude = new Set(req.exclude);
  // The router learns of instances from its own discovery watch; one it knows that this set's watch
  // does not (yet, or any more) is skipped.
  for (;;) {
    const outcome = await set.router.route({
      requestId: req.attemptId,
      tokenIds: req.tokenIds,
      exclude,
      headers: req.headers,
      signal: req.signal,
      ...(req.explain !== undefined ? { explain: req.explain } : {}),
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
    const instance = set.instances.get(outcome.instance);
    if (instance !== undefined) {
      const router = set.router;
      return {
        kind: 'routed',
        instance,
        set,
        overlapBlocks: outcome.overlapBlocks,
        firstToken: () => router.firstToken(req.attemptId),
        release: () => router.complete(req.attemptId),
      };
    }
    set.router.complete(req.attemptId);
    exclude.add(outcome.instance);
  }
}

/** Tries the sets in a random order weighted by their live instances; the first that routes wins. */
export async function selectAcross(sets: readonly InstanceSet[], req: SelectRequest): Promise<Selection> {
  if (sets.length === 1) return selectWorker(sets[0] as InstanceSet, req);
  const pool = sets.filter((s) => s.instances.size > 0);
  let busy: Selection | undefined;
  while (pool.length > 0) {
    const total = pool.reduce((n, s) => n + s.instances.size, 0);
    let pick = Math.random() * total;
    let i = 0;
    while (i < pool.length - 1 && pick >= (pool[i] as InstanceSet).instances.size) {
      pick -= (pool[i] as InstanceSet).instances.size;
      i++;
    }
    const [set] = pool.splice(i, 1) as [InstanceSet];
    const selection = await selectWorker(set, req);
    if (selection.kind === 'routed') return selection;
    if (selection.kind === 'busy') busy ??= selection;
  }
  return busy ?? { kind: 'none' };
}
