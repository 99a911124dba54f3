// Picks the worker for one attempt of a request through an instance set's router (DESIGN §7), and tells
// the router how the attempt goes (first token, end) so its view of each worker's load stays true.
// Where a model has several sets of one role (two components), `selectAcross` spreads requests over
// them in proportion to their instances and falls through to the next set when one has no worker left.
// A worker hint (the endpoint picker's choice, trusted by the caller) is tried first: the hinted worker
// is routed to when it is a live, non-busy candidate — through the router, which then records it as
// any decision — and ignored otherwise (normal routing).
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
      /** The worker is the one the request's hint named. */
      hinted: boolean;
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
  /** The worker to route to if it is a live, non-busy candidate (a trusted worker hint). */
  hint?: InstanceId | undefined;
}

export async function selectWorker(set: InstanceSet, req: SelectRequest): Promise<Selection> {
  const hinted = await selectHinted(set, req);
  if (hinted !== undefined) return hinted;
  const exclude = new Set(req.exclude);
  // The router learns of instances from its own discovery watch; one it knows that this set's watch
  // does not (yet, or any more) is skipped.
  for (;;) {
    const outcome = await route(set, req, exclude);
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
    // `direct` mode routes to the header's instance itself.
    if (instance !== undefined)
      return routed(set, instance, outcome.overlapBlocks, outcome.instance === req.hint, req);
    set.router.complete(req.attemptId);
    exclude.add(outcome.instance);
  }
}

/**
 * The hinted worker, routed by the set's router with every other instance excluded (so it scores the
 * hinted worker's overlap and records the request as usual); undefined when the hint names no live,
 * non-busy candidate of this set. The checks and the routing run in one turn of the event loop (the
 * router decides synchronously), so the worker cannot turn busy in between and queue the request.
 * `direct` mode reads the same header itself.
 */
async function selectHinted(set: InstanceSet, req: SelectRequest): Promise<Selection | undefined> {
  const hint = req.hint;
  const router = set.router;
  if (hint === undefined || router.settings.mode === 'direct') return undefined;
  const instance = set.instances.get(hint);
  if (instance === undefined || req.exclude.has(hint) || !router.hasInstance(hint)) return undefined;
  if (router.scheduler.isBusy(hint)) return undefined;
  const outcome = await route(set, req, new Set(router.instanceIds().filter((id) => id !== hint)));
  return outcome.kind === 'routed' ? routed(set, instance, outcome.overlapBlocks, true, req) : undefined;
}

function route(set: InstanceSet, req: SelectRequest, exclude: ReadonlySet<InstanceId>) {
  return set.router.route({
    requestId: req.attemptId,
    tokenIds: req.tokenIds,
    exclude,
    headers: req.headers,
    signal: req.signal,
    ...(req.explain !== undefined ? { explain: req.explain } : {}),
  });
}

/** A routed selection: the router keeps the request active until `release`. */
function routed(
  set: InstanceSet,
  instance: Instance,
  overlapBlocks: number,
  hinted: boolean,
  req: SelectRequest,
): Selection {
  const router = set.router;
  return {
    kind: 'routed',
    instance,
    set,
    overlapBlocks,
    hinted,
    firstToken: () => router.firstToken(req.attemptId),
    release: () => router.complete(req.attemptId),
  };
}

/** Tries the sets in a random order weighted by their live instances; the first that routes wins. */
export async function selectAcross(sets: readonly InstanceSet[], req: SelectRequest): Promise<Selection> {
  if (req.hint !== undefined && sets.length > 1) {
    const set = sets.find((s) => s.instances.has(req.hint as InstanceId));
    const hinted = set === undefined ? undefined : await selectHinted(set, req);
    if (hinted !== undefined) return hinted;
  }
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
