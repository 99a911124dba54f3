// The router's model of each worker's prefill queue, for the 'time' cost (scheduler.ts). Engines batch
// prefills per step: the requests waiting when a step ends go into the next step together, which costs
// a fixed amount plus a cost per token. So a new request on worker w waits for the rest of the batch w
// is prefilling now, then shares the next step with the requests that queued up behind it:
//
//   routed to w ─▶ w has no batch in flight? ─yes─▶ in flight (starts now)
//                                            └─no──▶ next batch ──first token of the one in flight──▶ in flight
//
// Time is counted in token-equivalents (a step's fixed cost is `stepTokens` of them), converted from
// the clock by a rate learned from the batches seen to finish (ms per token-equivalent, smoothed):
// the router knows neither the engine's speed nor when its steps start, only when it sent requests
// and when their first tokens came back. Pure: the clock is injected.
import type { InstanceId } from '../api/index.js';

interface Batch {
  start: number;
  /** Prompt tokens to compute (the cache hits excluded). */
  tokens: number;
  requests: Set<string>;
}

interface WorkerQueue {
  inFlight: Batch | undefined;
  /** Requests queued behind the batch in flight, and their tokens. */
  next: Map<string, number>;
}

/** Weight of the newest batch in the learned rate. */
const RATE_SMOOTHING = 0.2;

export class PrefillQueues {
  private readonly workers = new Map<InstanceId, WorkerQueue>();
  private readonly requestWorker = new Map<string, InstanceId>();
  /** Learned ms per token-equivalent; undefined until a batch finished. */
  private msPerToken: number | undefined;

  constructor(
    /** A step's fixed cost in token-equivalents. */
    private readonly stepTokens: number,
    private readonly now: () => number,
  ) {}

  add(requestId: string, worker: InstanceId, tokens: number): void {
    let q = this.workers.get(worker);
    if (q === undefined) {
      q = { inFlight: undefined, next: new Map() };
      this.workers.set(worker, q);
    }
    this.requestWorker.set(requestId, worker);
    if (q.inFlight === undefined) {
      q.inFlight = { start: this.now(), tokens, requests: new Set([requestId]) };
    } else q.next.set(requestId, tokens);
  }

  /** The request's first token arrived: the batch it was in is done. */
  prefilled(requestId: string): void {
    const worker = this.requestWorker.get(requestId);
    if (worker === undefined) return;
    this.requestWorker.delete(requestId);
    const q = this.workers.get(worker) as WorkerQueue;
    const batch = q.inFlight;
    if (batch?.requests.has(requestId)) {
      const sample = (this.now() - batch.start) / (this.stepTokens + batch.tokens);
      this.msPerToken =
        this.msPerToken === undefined
          ? sample
          : this.msPerToken + RATE_SMOOTHING * (sample - this.msPerToken);
      // The batch's other requests finish with it; their first tokens then find nothing to end.
      for (const id of batch.requests) if (id !== requestId) this.requestWorker.delete(id);
      this.startNext(q);
    } else if (q.next.delete(requestId)) {
      // Served before the batch the router thought was in flight: the engine batched them together.
      q.inFlight = undefined;
      this.startNext(q);
    }
  }

  /** The request ended without (or after) its first token. */
  remove(requestId: string): void {
    const worker = this.requestWorker.get(requestId);
    if (worker === undefined) return;
    this.requestWorker.delete(requestId);
    const q = this.workers.get(worker) as WorkerQueue;
    q.next.delete(requestId);
    if (q.inFlight?.requests.delete(requestId) && q.inFlight.requests.size === 0) this.startNext(q);
  }

  removeWorker(worker: InstanceId): void {
    this.workers.delete(worker);
    for (const [id, w] of this.requestWorker) if (w === worker) this.requestWorker.delete(id);
  }

  /**
   * Token-equivalents a request sent to `worker` now waits before its own step: what is left of the
   * batch in flight (all of it until a rate is learned) and the tokens queued for the next step.
   */
  wait(worker: InstanceId): number {
    const q = this.workers.get(worker);
    if (q?.inFlight === undefined) return 0;
    const total = this.stepTokens + q.inFlight.tokens;
    const done = this.msPerToken === undefined ? 0 : (this.now() - q.inFlight.start) / this.msPerToken;
    let queued = 0;
    for (const t of q.next.values()) queued += t;
    return Math.max(0, total - done) + queued;
  }

  private startNext(q: WorkerQueue): void {
    if (q.next.size === 0) {
      q.inFlight = undefined;
      return;
    }
    let tokens = 0;
    for (const t of q.next.values()) tokens += t;
    q.inFlight = { start: this.now(), tokens, requests: new Set(q.next.keys()) };
    q.next = new Map();
  }
}
