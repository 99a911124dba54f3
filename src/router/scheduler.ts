// The scheduler: the cost functions over the router's own tracking of active sequences, worker
// selection (temperature, ties), and busy detection. Pure: randomness and the clock are injected, no I/O.
//
// cost 'design' (DESIGN §7, with the pending term):
//   overlap[w] = leading blocks of the request cached on w            (from the indexer, or held by
//                requests the router sent to w that are still active: cached there by the time it runs)
//   prefill[w] = prefill tokens already active on w + ISL − overlap[w]·B
//   decode[w]  = active KV blocks on w, the new request's included
//   logit[w]   = overlapScoreWeight · prefill[w]/B + decode[w] + pendingPrefillBlocks · pending[w]
//
// pending[w]: requests sent to w that have no first token yet. The new request's prefill waits behind
// theirs however few tokens they compute (a prefill step has a fixed cost, and a cache hit is still a
// step): without the term, closed-loop clients pile onto a worker that is still prefilling, and kv
// lost to round-robin under aiperf when every cache held every prefix (issue 20).
//
// cost 'time' (the default, issue 20) predicts how long the request waits for its first token on w, in
// token-equivalents, as an engine that batches prefills per step would serve it (prefill-queue.ts):
//   wait[w]    = what is left of the prefill batch w is running + the tokens queued behind it
//   prefill[w] = wait[w] + ISL − overlap[w]·B
//   logit[w]   = overlapScoreWeight · prefill[w]/B + pendingPrefillBlocks · [w has active requests]
// with pendingPrefillBlocks a step's fixed cost. The last term prefers an idle worker unless the prefix
// saves more than a step: on a busy one the request waits for the step in progress and shares its own
// with the decodes. No decode-blocks term: balancing active blocks kept closed-loop clients in lockstep
// bursts (each burst in two waves per worker) where round-robin's blind alternation staggers them.
// Near-ties (temperature 0): every worker within TIE_MARGIN_STEPS of a step of the lowest logit is as
// good — the router cannot see the engines' step boundaries, so smaller differences are noise — and
// among them an idle worker holding more of the prompt wins (a hit costs nothing there: a repeated
// prompt on an idle cluster goes back to its cache), then the one caching the fewest blocks, then the
// first in a rotating order (round-robin's): where the cache gives no reason to prefer a worker, kv
// staggers arrivals as round-robin does, e.g. keeping each of aiperf's in-order system contexts on one
// worker (issue 20). A busy worker's overlap counts in a near-tie only while it is decoding (no
// prefill pending) and only where it runs past the prefix its active requests share with this one:
// blocks nobody is using there, the request's own continuation (a chat's history after the shared
// system prompt, a user's context), which only this request will want while the worker is busy —
// recomputing them elsewhere gains nothing. A prefix that running requests hold, or one held with
// nothing of it in use, does not count: a popular prefix spreads to idle workers instead of queueing
// behind its holder. Nor does a holder with a prefill pending: chats that finished in one step would
// all go back to it together. Over the simulated grid this keeps chats on their worker (4 × 8
// multi-turn 0.967 → 0.912 of round-robin's mean TTFT; docs/architecture.md, Router).
//
// cost 'dynamo' is Dynamo's current selector instead (lib/kv-router scheduling/selector/default.rs):
//   credit[w]  = overlapScoreCredit · decay[w] · overlap[w]
//   decay[w]   = 1 / (1 + overlapScoreCreditDecay · excess prefill blocks of w over the least loaded
//                candidate / the request's blocks)                    (1 with decay 0, the default)
//   logit[w]   = prefillLoadScale · max(0, (prefill tokens active on w + ISL)/B − credit[w])
//                + decode[w] + decodeActiveRequestWeight · active requests on w
// with overlapScoreWeight as the prefill load scale, no pending term, and ties broken at random.
//
// Active blocks are counted once per worker however many active requests share them (a shared prefix
// occupies the cache once), keyed by sequence hash; each request's trailing partial block is its own.
import type { InstanceId, LoadMetrics } from '../api/index.js';
import type { OverlapScores } from './indexer.js';
import { PrefillQueues } from './prefill-queue.js';

export const ROUTER_COSTS = ['design', 'dynamo', 'time'] as const;
export type RouterCost = (typeof ROUTER_COSTS)[number];

/**
 * cost 'time': logits within this fraction of a step's fixed cost (pendingPrefillBlocks) of the lowest
 * are near-ties — 6 blocks at the default 16, about a decode step in the mocker's model. Over the
 * simulated grid (`npm run bench:placement`, seeds 1–8) 0 / 2 / 4 / 5 / 6 / 7 / 8 blocks gave worst
 * mean ratio 1.097 / 1.064 / 1.066 / 1.078 / 1.036 / 1.062 / 1.106 against round-robin.
 */
export const TIE_MARGIN_STEPS = 0.375;

export interface SchedulerOptions {
  /** Tokens per KV block (B). */
  blockSize: number;
  /** Weight of the prefill term (Dynamo: prefill load scale). */
  overlapScoreWeight: number;
  /** 'time': predicted wait; 'design': DESIGN §7 with the pending-prefill term; 'dynamo': Dynamo's selector. */
  cost?: RouterCost;
  /** time: a prefill step's fixed cost, in blocks. design: blocks a request still waiting for its first token adds to its worker's cost. */
  pendingPrefillBlocks?: number;
  /** dynamo: credit per overlapping block, 0..1 (default 1). */
  overlapScoreCredit?: number;
  /** dynamo: how fast the credit fades with a worker's excess prefill load (default 0: never). */
  overlapScoreCreditDecay?: number;
  /** dynamo: blocks each active request adds to its worker's cost (default 0). */
  decodeActiveRequestWeight?: number;
  /** 0: the lowest cost wins; T > 0: softmax sampling over normalized costs. */
  temperature: number;
  /**
   * A worker whose active KV blocks, or active requests, reach this fraction of its capacity (total
   * blocks, max sequences) is busy and gets no new request; null: never busy.
   */
  busyThreshold: number | null;
  /** Sequences a worker runs at once (from its model card). */
  maxNumSeqs: number;
}

export interface ScheduleRequest {
  /** Prompt length (ISL). */
  isl: number;
  /** Sequence-hash keys (`hashKey`) of the prompt's full blocks. */
  seqKeys: readonly number[];
  overlaps: OverlapScores;
}

export interface Candidate {
  id: InstanceId;
  /** Blocks the worker caches in total (tie-break: fewer wins). */
  cachedBlocks: number;
}

export interface WorkerCost {
  id: InstanceId;
  overlap: number;
  prefillTokens: number;
  decodeBlocks: number;
  /** Requests on the worker still waiting for their first token. */
  pendingPrefills: number;
  logit: number;
  /** Leading blocks of the request that the worker's active requests hold too. */
  activeOverlap: number;
}

export type Selection =
  | { kind: 'routed'; instance: InstanceId; overlapBlocks: number }
  | { kind: 'queued' }
  | { kind: 'rejected'; reason: string };

interface WorkerActivity {
  prefillTokens: number;
  /** Sequence-hash key → active requests holding it. */
  blocks: Map<number, number>;
  /** Trailing partial blocks of active requests (never shared). */
  partialBlocks: number;
  requests: number;
  /** Active requests with no first token yet. */
  pendingPrefills: number;
  /** From the model card: the worker's KV capacity (busy detection). */
  totalBlocks: number | null;
  /** Active blocks as the worker itself last reported them. */
  reportedActiveBlocks: number;
}

interface ActiveRequest {
  worker: InstanceId;
  prefillTokens: number;
  prefilled: boolean;
  seqKeys: readonly number[];
  partial: number;
}

/** Probability weights ∝ exp(−(logit − min)/((max − min)·T)); equal logits → uniform. */
export function softmaxWeights(logits: readonly number[], temperature: number): number[] {
  const min = Math.min(...logits);
  const max = Math.max(...logits);
  if (max === min) return logits.map(() => 1);
  const scale = (max - min) * temperature;
  return logits.map((l) => Math.exp(-(l - min) / scale));
}

export class KvScheduler {
  private readonly workers = new Map<InstanceId, WorkerActivity>();
  private readonly requests = new Map<string, ActiveRequest>();
  /** cost 'time': each worker's prefill queue as the router models it. */
  private readonly queues: PrefillQueues | undefined;
  /** cost 'time': decisions so far, the start of the near-tie rotation. */
  private rotation = 0;

  constructor(
    private readonly options: SchedulerOptions,
    private readonly random: () => number = Math.random,
    now: () => number = Date.now,
  ) {
    if (options.cost === 'time') {
      this.queues = new PrefillQueues((options.pendingPrefillBlocks ?? 0) * options.blockSize, now);
    }
  }

  // ---- workers ---------------------------------------------------------------------------------

  private activity(worker: InstanceId): WorkerActivity {
    let a = this.workers.get(worker);
    if (a === undefined) {
      a = {
        prefillTokens: 0,
        blocks: new Map(),
        partialBlocks: 0,
        requests: 0,
        pendingPrefills: 0,
        totalBlocks: null,
        reportedActiveBlocks: 0,
      };
      this.workers.set(worker, a);
    }
    return a;
  }

  hasCapacity(worker: InstanceId): boolean {
    return this.workers.get(worker)?.totalBlocks != null;
  }

  setCapacity(worker: InstanceId, totalBlocks: number): void {
    this.activity(worker).totalBlocks = totalBlocks;
  }

  /** A worker's own load report (the event plane's load_metrics). */
  reportLoad(metrics: LoadMetrics): void {
    const a = this.activity(metrics.workerId);
    a.totalBlocks = metrics.totalBlocks;
    a.reportedActiveBlocks = metrics.activeBlocks;
  }

  /** Forgets a worker and the requests it was serving. */
  removeWorker(worker: InstanceId): void {
    this.workers.delete(worker);
    this.queues?.removeWorker(worker);
    for (const [id, r] of this.requests) if (r.worker === worker) this.requests.delete(id);
  }

  activeBlocks(worker: InstanceId): number {
    const a = this.workers.get(worker);
    return a === undefined ? 0 : a.blocks.size + a.partialBlocks;
  }

  activePrefillTokens(worker: InstanceId): number {
    return this.workers.get(worker)?.prefillTokens ?? 0;
  }

  activeRequests(worker: InstanceId): number {
    return this.workers.get(worker)?.requests ?? 0;
  }

  pendingPrefills(worker: InstanceId): number {
    return this.workers.get(worker)?.pendingPrefills ?? 0;
  }

  isBusy(worker: InstanceId): boolean {
    const threshold = this.options.busyThreshold;
    const a = this.workers.get(worker);
    if (threshold === null || a === undefined) return false;
    if (a.requests >= Math.max(1, Math.ceil(threshold * this.options.maxNumSeqs))) return true;
    if (a.totalBlocks === null) return false;
    const used = Math.max(a.blocks.size + a.partialBlocks, a.reportedActiveBlocks);
    return used >= threshold * a.totalBlocks;
  }

  // ---- costs and selection ---------------------------------------------------------------------

  costs(candidates: readonly Candidate[], req: ScheduleRequest): WorkerCost[] {
    const { blockSize, overlapScoreWeight } = this.options;
    const dynamo = this.options.cost === 'dynamo';
    const pendingBlocks = this.options.pendingPrefillBlocks ?? 0;
    const credit = this.options.overlapScoreCredit ?? 1;
    const decayRate = this.options.overlapScoreCreditDecay ?? 0;
    const requestWeight = this.options.decodeActiveRequestWeight ?? 0;
    const partial = req.isl % blockSize === 0 ? 0 : 1;
    const requestBlocks = Math.max(1, Math.ceil(req.isl / blockSize));
    let minPrefill = Number.POSITIVE_INFINITY;
    for (const { id } of candidates) minPrefill = Math.min(minPrefill, this.activePrefillTokens(id));
    return candidates.map(({ id }) => {
      const a = this.workers.get(id);
      // Blocks of requests routed to w and still active are not new there; active blocks form
      // prefixes, so stop at the first miss.
      let shared = 0;
      if (a !== undefined) {
        while (shared < req.seqKeys.length && a.blocks.has(req.seqKeys[shared] as number)) shared++;
      }
      // A prefix an active request on w is about to store counts as cached: its KV events may not
      // have arrived yet (the worker may not even have scheduled it), but w computes it once for both.
      const overlap = Math.max(req.overlaps.get(id) ?? 0, shared);
      let prefillTokens = (a?.prefillTokens ?? 0) + Math.max(0, req.isl - overlap * blockSize);
      let decodeBlocks = req.seqKeys.length + partial - shared;
      if (a !== undefined) decodeBlocks += a.blocks.size + a.partialBlocks;
      const active = a?.prefillTokens ?? 0;
      let logit: number;
      if (dynamo) {
        const excess = (active - minPrefill) / blockSize / requestBlocks;
        const decay = decayRate > 0 ? 1 / (1 + decayRate * excess) : 1;
        const raw = (active + req.isl) / blockSize;
        logit =
          overlapScoreWeight * Math.max(0, raw - credit * decay * overlap) +
          decodeBlocks +
          requestWeight * (a?.requests ?? 0);
      } else if (this.queues !== undefined) {
        prefillTokens = this.queues.wait(id) + Math.max(0, req.isl - overlap * blockSize);
        logit =
          (overlapScoreWeight * prefillTokens) / blockSize + ((a?.requests ?? 0) > 0 ? pendingBlocks : 0);
      } else {
        logit =
          (overlapScoreWeight * prefillTokens) / blockSize +
          decodeBlocks +
          pendingBlocks * (a?.pendingPrefills ?? 0);
      }
      return {
        id,
        overlap,
        prefillTokens,
        decodeBlocks,
        pendingPrefills: a?.pendingPrefills ?? 0,
        logit,
        activeOverlap: shared,
      };
    });
  }

  /** Picks the worker for a request among candidates (busy ones excluded). Does not record it. */
  select(candidates: readonly Candidate[], req: ScheduleRequest): Selection {
    if (candidates.length === 0) return { kind: 'rejected', reason: 'no worker instances' };
    const free = candidates.filter((c) => !this.isBusy(c.id));
    if (free.length === 0) return { kind: 'queued' };
    const costs = this.costs(free, req);
    const pick = this.pick(free, costs);
    return { kind: 'routed', instance: pick.id, overlapBlocks: pick.overlap };
  }

  private pick(candidates: readonly Candidate[], costs: readonly WorkerCost[]): WorkerCost {
    const first = costs[0] as WorkerCost;
    if (this.options.temperature > 0 && costs.length > 1) {
      const weights = softmaxWeights(
        costs.map((c) => c.logit),
        this.options.temperature,
      );
      let r = this.random() * weights.reduce((s, w) => s + w, 0);
      for (let i = 0; i < costs.length; i++) {
        r -= weights[i] as number;
        if (r < 0) return costs[i] as WorkerCost;
      }
      return costs[costs.length - 1] as WorkerCost;
    }
    if (this.queues !== undefined) return this.pickNearTie(candidates, costs);
    // Lowest logit; ties: fewer cached blocks (design), then at random.
    const byCache = this.options.cost !== 'dynamo';
    let best: number[] = [0];
    for (let i = 1; i < costs.length; i++) {
      const c = costs[i] as WorkerCost;
      const b = costs[best[0] as number] as WorkerCost;
      if (c.logit < b.logit) best = [i];
      else if (c.logit === b.logit) {
        const cb = (candidates[i] as Candidate).cachedBlocks;
        const bb = (candidates[best[0] as number] as Candidate).cachedBlocks;
        if (byCache && cb < bb) best = [i];
        else if (!byCache || cb === bb) best.push(i);
      }
    }
    if (best.length === 1) return costs[best[0] as number] ?? first;
    return costs[best[Math.floor(this.random() * best.length)] as number] ?? first;
  }

  /**
   * cost 'time': among logits within the margin of the lowest, the most overlap (a busy worker's only
   * while it decodes, and where it runs past what its active requests share with the request), then
   * fewest cached blocks, then rotation.
   */
  private pickNearTie(candidates: readonly Candidate[], costs: readonly WorkerCost[]): WorkerCost {
    const margin = TIE_MARGIN_STEPS * (this.options.pendingPrefillBlocks ?? 0);
    let min = Number.POSITIVE_INFINITY;
    for (const c of costs) min = Math.min(min, c.logit);
    const n = costs.length;
    const start = this.rotation++ % n;
    let best = start;
    let bestOverlap = -1;
    let bestCached = Number.POSITIVE_INFINITY;
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      const cost = costs[i] as WorkerCost;
      if (cost.logit > min + margin) continue;
      const cached = (candidates[i] as Candidate).cachedBlocks;
      const busy = (this.workers.get(cost.id)?.requests ?? 0) > 0;
      const ownContinuation =
        cost.pendingPrefills === 0 && cost.activeOverlap > 0 && cost.overlap > cost.activeOverlap;
      const overlap = !busy || ownContinuation ? cost.overlap : 0;
      if (overlap > bestOverlap || (overlap === bestOverlap && cached < bestCached)) {
        bestOverlap = overlap;
        bestCached = cached;
        best = i;
      }
    }
    return costs[best] as WorkerCost;
  }

  // ---- active sequences ------------------------------------------------------------------------

  /** Records a routed request as active on the worker (prefill pending, its blocks held). */
  add(
    requestId: string,
    worker: InstanceId,
    req: Omit<ScheduleRequest, 'overlaps'>,
    overlapBlocks: number,
  ): void {
    this.free(requestId);
    const a = this.activity(worker);
    const prefillTokens = Math.max(0, req.isl - overlapBlocks * this.options.blockSize);
    const partial = req.isl % this.options.blockSize === 0 ? 0 : 1;
    a.prefillTokens += prefillTokens;
    a.partialBlocks += partial;
    a.requests++;
    a.pendingPrefills++;
    for (const key of req.seqKeys) a.blocks.set(key, (a.blocks.get(key) ?? 0) + 1);
    this.requests.set(requestId, { worker, prefillTokens, prefilled: false, seqKeys: req.seqKeys, partial });
    this.queues?.add(requestId, worker, prefillTokens);
  }

  /** The request's prefill is done (first token out): its prefill tokens no longer load the worker. */
  prefillDone(requestId: string): void {
    const r = this.requests.get(requestId);
    if (r === undefined || r.prefilled) return;
    this.queues?.prefilled(requestId);
    const a = this.workers.get(r.worker);
    if (a !== undefined) {
      a.prefillTokens -= r.prefillTokens;
      a.pendingPrefills--;
    }
    r.prefillTokens = 0;
    r.prefilled = true;
  }

  /** The request finished (or failed): frees what it held. Unknown ids are ignored. */
  free(requestId: string): InstanceId | undefined {
    const r = this.requests.get(requestId);
    if (r === undefined) return undefined;
    this.requests.delete(requestId);
    this.queues?.remove(requestId);
    const a = this.workers.get(r.worker);
    if (a === undefined) return r.worker;
    a.prefillTokens -= r.prefillTokens;
    if (!r.prefilled) a.pendingPrefills--;
    a.partialBlocks -= r.partial;
    a.requests--;
    for (const key of r.seqKeys) {
      const n = (a.blocks.get(key) ?? 0) - 1;
      if (n <= 0) a.blocks.delete(key);
      else a.blocks.set(key, n);
    }
    return r.worker;
  }

  get activeRequestCount(): number {
    return this.requests.size;
  }
}
