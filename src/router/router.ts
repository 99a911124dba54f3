// The router of one model (DESIGN §7): picks the worker instance for each request; it does not send
// the request there. The frontend holds one per model; the transport (transport.ts) feeds it
// instances from discovery, KV events, dumps and load metrics.
//
//   route(req) ──▶ mode ──kv──▶ block hashes ─▶ indexer.findMatches ─▶ scheduler.select ─┐
//                       ├─round-robin / random: over the free instances ───────────────┤
//                       └─direct: the instance named in x-dynamo-worker-instance-id ───┤
//                                                                                       ▼
//   every worker busy ─▶ FIFO queue (drained as requests complete or loads drop) ─▶ RouteOutcome
//
// Active sequences are tracked here in every mode (added on routing, prefill done at the first token,
// freed at completion): they feed the cost function and the busy thresholds. With replica sync
// (replica-sync.ts, through `lifecycle`) the other frontends' routers learn them, and theirs count
// here. With KV events the router also tracks its index's health (index-health.ts); with route debug
// on, a request may ask for its decision explained (every candidate's cost terms), computed only then.
import type { Registry } from 'prom-client';
import type { EndpointId, InstanceId, KvDump, KvEvent, LoadMetrics } from '../api/index.js';
import type { Logger } from '../runtime/logger.js';
import { computeBlockHashesRaw } from '../wasm/index.js';
import { ApproxTracker } from './approx-tracker.js';
import { type BlockHashes, hashKey, type RequestHashes } from './block-hashes.js';
import { IndexHealth, type IndexHealthReport, type IndexState } from './index-health.js';
import { type ApplyResult, type IndexAnomaly, KvIndexer, type OverlapScores } from './indexer.js';
import { RouterMetrics } from './metrics.js';
import { type Candidate, KvScheduler, type RouterCost } from './scheduler.js';

export const ROUTER_MODES = ['kv', 'round-robin', 'random', 'direct'] as const;
export type RouterMode = (typeof ROUTER_MODES)[number];

/** The header that names the instance in `direct` mode. */
export const DIRECT_INSTANCE_HEADER = 'x-dynamo-worker-instance-id';
/** A request header `1` asks for the routing decision explained (honoured with settings.routeDebug). */
export const ROUTE_DEBUG_HEADER = 'x-dynamo-route-debug';
/** The response header that carries the explained decisions (compact JSON array). */
export const ROUTE_EXPLANATION_HEADER = 'x-dynamo-route';

export interface RouterSettings {
  mode: RouterMode;
  /** Weight of the prefill term (Dynamo's prefill load scale). */
  overlapScoreWeight: number;
  /**
   * kv cost function (scheduler.ts): predicted time ('time', with the router's model of each worker's
   * prefill queue), DESIGN §7 with the pending-prefill term ('design'), or Dynamo's current one.
   */
  cost: RouterCost;
  /**
   * time cost: a prefill step's fixed cost, in blocks. design cost: blocks each request still waiting
   * for its first token adds to its worker's cost.
   */
  pendingPrefillBlocks: number;
  /** dynamo cost: overlap credit per cached block (0..1), its decay with excess prefill load, and the blocks each active request costs. */
  overlapScoreCredit: number;
  overlapScoreCreditDecay: number;
  decodeActiveRequestWeight: number;
  temperature: number;
  /** false: approximate mode — no KV events; the router indexes its own decisions. */
  useKvEvents: boolean;
  /**
   * Fraction of a worker's capacity in use at which it is busy: of its KV blocks, and of its running
   * slots (max sequences: beyond them a request would only wait in the worker's own queue); null:
   * never busy.
   */
  busyThreshold: number | null;
  /**
   * Requests that may wait while every worker is busy; more are rejected at once. null: derived from
   * capacity, one batch (max sequences) per live worker, so a queued request waits about one
   * request's time.
   */
  maxQueued: number | null;
  /** A queued request is rejected after this long. */
  queueTimeoutMs: number;
  /** Approximate mode: how long a decision stays indexed (DESIGN §7: 120 s). */
  approxTtlMs: number;
  /** Approximate mode: most (worker, block) pairs indexed. */
  approxMaxBlocks: number;
  /**
   * KV events: a worker that was sent a request needing new blocks and has published no KV event
   * for this long is stale (index health).
   */
  staleAfterMs: number;
  /** Honour ROUTE_DEBUG_HEADER: explain decisions to the requests that ask. */
  routeDebug: boolean;
  /**
   * Replica sync (replica-sync.ts): share active requests with the other frontends' routers of the
   * component over the event plane. Idle (a heartbeat per lease/4) while no peer is heard.
   */
  replicaSync: boolean;
  /** Replica sync: a peer not heard from for this long has its requests freed. */
  replicaSyncLeaseMs: number;
}

export const DEFAULT_ROUTER_SETTINGS: RouterSettings = {
  mode: 'kv',
  overlapScoreWeight: 1,
  // Predicted time (issue 20; `npm run bench:placement`, docs/architecture.md "Router"): over the
  // simulated grid where every cache holds every prefix, kv's worst cell against round-robin went from
  // 1.18× (mean) / 1.26× (p50) with 'design' to 1.09× / 1.13× (an oracle that sees inside the engines:
  // 1.15× / 1.12×), and to 1.03× / 1.04× with near-ties taken in round-robin order (scheduler.ts);
  // `dynamo bench`'s cache-bound win is kept. 'design' is DESIGN §7 (+ pending term).
  cost: 'time',
  // 'time': a prefill step's fixed cost, in blocks (16.5 ms in the mocker's model ≈ 1 k tokens ≈ 17
  // blocks of 64; 12 did worse on the grid, 20 and 24 the same). 'design': blocks each request still
  // prefilling adds (16 took the worst cell from 1.18× to 1.12×; 32 broke affinity in
  // bench-command.test.ts).
  pendingPrefillBlocks: 16,
  overlapScoreCredit: 1,
  overlapScoreCreditDecay: 0,
  decodeActiveRequestWeight: 0,
  temperature: 0,
  useKvEvents: true,
  busyThreshold: 0.95,
  maxQueued: null,
  queueTimeoutMs: 30_000,
  approxTtlMs: 120_000,
  approxMaxBlocks: 1_000_000,
  staleAfterMs: 30_000,
  routeDebug: false,
  replicaSync: true,
  replicaSyncLeaseMs: 5_000,
};

/** What the router needs to know of the model it routes (from its model card). */
export interface RouterModel {
  name: string;
  /** Where the model is served (its generate endpoint). */
  endpoint: EndpointId;
  /** Tokens per KV block (B). */
  blockSize: number;
  /** KV capacity of one worker (busy thresholds), until the worker reports its own. */
  totalKvBlocks: number;
  /** Sequences one worker runs at once (busy thresholds, the derived queue bound). */
  maxNumSeqs: number;
}

export interface RouteRequest {
  requestId: string;
  tokenIds: readonly number[];
  /** Instances that must not be picked (they failed this request already). */
  exclude?: ReadonlySet<InstanceId>;
  /** Request headers (lowercase names); `direct` mode reads DIRECT_INSTANCE_HEADER. */
  headers?: Readonly<Record<string, string | string[] | undefined>>;
  /** Aborting it takes a queued request out of the queue (rejected). */
  signal?: AbortSignal;
  /** Route debug: the router appends its decision here, explained, when settings.routeDebug is on. */
  explain?: RouteExplanation[];
}

/** One worker's cost terms (scheduler.ts) at a decision. */
export interface CandidateCost {
  worker: InstanceId;
  overlapBlocks: number;
  /** Prefill tokens ahead of the request's first token there, its own included (time cost: predicted). */
  prefillTokens: number;
  decodeBlocks: number;
  /** Requests on the worker still waiting for their first token (the design cost's pending term). */
  pendingPrefills: number;
  logit: number;
  /**
   * Leading blocks of the prompt that the worker's active requests hold too. Time cost's near-ties: a
   * busy worker's overlap counts only where it runs past these (the request's own continuation).
   */
  activeOverlapBlocks: number;
}

/** Why a request went where it did (route debug). */
export interface RouteExplanation {
  mode: RouterMode;
  /** The index's health at the decision: overlaps of a degraded index may be wrong. */
  index: IndexState;
  chosen: InstanceId;
  /** The free candidates (none in direct mode). */
  candidates: CandidateCost[];
  /** Candidates left out because they are busy. */
  busy: InstanceId[];
}

export type RejectCode = 'no_workers' | 'busy' | 'unknown_instance' | 'closed';

export type RouteOutcome =
  | { kind: 'routed'; instance: InstanceId; overlapBlocks: number }
  | { kind: 'queued' }
  | { kind: 'rejected'; code: RejectCode; reason: string };

export interface RouterDeps {
  log: Logger;
  /** Where the router's metrics go (the frontend's registry); none when absent. */
  registry?: Registry;
  random?: () => number;
  now?: () => number;
  /** Block hashes of a prompt; the WASM hasher by default. */
  hash?: (tokenIds: readonly number[], blockSize: number) => RequestHashes;
}

/** The WASM hasher's u64 output viewed as int32 halves (no copy). */
export function wasmRequestHashes(tokenIds: readonly number[], blockSize: number): RequestHashes {
  const raw = computeBlockHashesRaw(tokenIds, blockSize);
  const view = (a: BigUint64Array) => new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
  return { local: view(raw.local), sequence: view(raw.sequence) };
}

/**
 * Told of each request's lifecycle as the router records it: replica sync (replica-sync.ts) shares
 * them with the other frontends' routers.
 */
export interface LifecycleListener {
  added(
    requestId: string,
    worker: InstanceId,
    isl: number,
    sequence: BlockHashes,
    overlapBlocks: number,
  ): void;
  prefilled(requestId: string): void;
  freed(requestId: string): void;
}

const NO_HASHES: BlockHashes = new Uint32Array(0);

/** Overlaps outside kv mode (round-robin, random): none. */
const NO_OVERLAPS: OverlapScores = { get: () => undefined, size: 0 };

interface Waiter {
  req: RouteRequest;
  resolve: (outcome: RouteOutcome) => void;
  timer: NodeJS.Timeout;
  onAbort: () => void;
}

interface Prepared {
  hashes: RequestHashes;
  seqKeys: number[];
}

export class Router {
  readonly indexer = new KvIndexer(undefined, (worker, kind) => this.indexAnomaly(worker, kind));
  readonly scheduler: KvScheduler;
  private readonly approx: ApproxTracker | undefined;
  private readonly instances = new Set<InstanceId>();
  private readonly queue: Waiter[] = [];
  private rrCounter = 0;
  private closed = false;
  /** With KV events: the index's health. */
  private readonly health: IndexHealth | undefined;
  /** With KV events: routed requests that must make their worker store blocks, until their first token. */
  private readonly owing = new Map<string, InstanceId>();
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly hash: (tokenIds: readonly number[], blockSize: number) => RequestHashes;
  readonly metrics: RouterMetrics | undefined;
  /** Stops reporting this router's index size (on close). */
  private readonly untrackIndex: (() => void) | undefined;
  private readonly log: Logger;
  /** Closes the transport (set by createRouter). */
  onClose: (() => Promise<void>) | undefined;
  /** Replica sync, when on (set by createRouter). */
  lifecycle: LifecycleListener | undefined;

  constructor(
    readonly settings: RouterSettings,
    readonly model: RouterModel,
    deps: RouterDeps,
  ) {
    this.log = deps.log;
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
    this.hash = deps.hash ?? wasmRequestHashes;
    this.metrics = deps.registry ? RouterMetrics.for(deps.registry) : undefined;
    if (this.wantsKvEvents) this.health = new IndexHealth(settings.staleAfterMs, this.now);
    this.untrackIndex = this.metrics?.trackIndex(model.name, this);
    this.scheduler = new KvScheduler(
      {
        blockSize: model.blockSize,
        overlapScoreWeight: settings.overlapScoreWeight,
        cost: settings.cost,
        pendingPrefillBlocks: settings.pendingPrefillBlocks,
        overlapScoreCredit: settings.overlapScoreCredit,
        overlapScoreCreditDecay: settings.overlapScoreCreditDecay,
        decodeActiveRequestWeight: settings.decodeActiveRequestWeight,
        temperature: settings.temperature,
        busyThreshold: settings.busyThreshold,
        maxNumSeqs: model.maxNumSeqs,
      },
      this.random,
      this.now,
    );
    if (settings.mode === 'kv' && !settings.useKvEvents) {
      this.approx = new ApproxTracker(this.indexer, {
        ttlMs: settings.approxTtlMs,
        maxBlocks: settings.approxMaxBlocks,
      });
    }
  }

  /** Whether the transport should feed KV events and fetch dumps. */
  get wantsKvEvents(): boolean {
    return this.settings.mode === 'kv' && this.settings.useKvEvents;
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  /** The queue bound: the setting, or one batch per live worker (at least one request). */
  get maxQueued(): number {
    return this.settings.maxQueued ?? Math.max(1, this.instances.size * this.model.maxNumSeqs);
  }

  instanceIds(): InstanceId[] {
    return [...this.instances];
  }

  hasInstance(id: InstanceId): boolean {
    return this.instances.has(id);
  }

  /** Peers' requests were freed (replica sync): queued requests may fit now. */
  peerLoadChanged(): void {
    this.drain();
  }

  // ---- fed by the transport --------------------------------------------------------------------

  /** A worker appeared in discovery. With KV events, the caller then fetches its dump. */
  addInstance(id: InstanceId): void {
    if (this.instances.has(id)) return;
    this.instances.add(id);
    if (!this.scheduler.hasCapacity(id)) this.scheduler.setCapacity(id, this.model.totalKvBlocks);
    this.health?.add(id);
    if (this.wantsKvEvents) this.indexer.beginResync(id);
    this.drain();
  }

  /** A worker left discovery: forget it entirely. */
  removeInstance(id: InstanceId): void {
    if (!this.instances.delete(id)) return;
    this.indexer.removeWorker(id);
    this.approx?.removeWorker(id);
    this.scheduler.removeWorker(id);
    this.health?.remove(id);
    for (const [request, worker] of this.owing) if (worker === id) this.owing.delete(request);
  }

  /** A KV event; 'resync' asks the caller to fetch that worker's dump. */
  onKvEvent(event: KvEvent): ApplyResult | 'unknown_worker' {
    // Events of workers not (or no longer) in discovery are dropped: the dump taken when the worker
    // appears covers them, and a late event of a gone worker must not bring it back.
    const result = this.instances.has(event.workerId) ? this.indexer.applyEvent(event) : 'unknown_worker';
    this.metrics?.kvEvents.labels(this.model.name, result).inc();
    if (result !== 'unknown_worker') {
      this.health?.event(event.workerId);
      if (result === 'resync') this.gap(event.workerId);
    }
    return result;
  }

  /** A dump of a worker's whole cache; 'resync' when its replay found a new gap (fetch again). */
  applyDump(dump: KvDump): 'applied' | 'resync' | 'unknown_worker' {
    if (!this.instances.has(dump.workerId)) return 'unknown_worker';
    const result = this.indexer.applyDump(dump);
    this.metrics?.resyncs.labels(this.model.name, 'ok').inc();
    this.health?.dumpApplied(dump.workerId);
    if (result === 'resync') this.gap(dump.workerId);
    return result;
  }

  /** Fetching a worker's dump failed (the transport retries). */
  dumpFailed(worker: InstanceId): void {
    this.metrics?.resyncs.labels(this.model.name, 'failed').inc();
    this.health?.dumpFailed(worker);
  }

  /** The index's health (index-health.ts); load-only without KV events. */
  indexHealth(): IndexHealthReport {
    if (this.health === undefined) {
      const mode = this.settings.mode === 'kv' ? 'kv --no-kv-events' : this.settings.mode;
      return { state: 'load-only', reason: `router mode ${mode} uses no KV events`, workers: [] };
    }
    return this.health.report((id) => ({
      resyncing: this.indexer.isResyncing(id),
      activeRequests: this.scheduler.activeRequests(id),
    }));
  }

  onLoadMetrics(metrics: LoadMetrics): void {
    if (!this.instances.has(metrics.workerId)) return;
    this.scheduler.reportLoad(metrics);
    this.drain();
  }

  // ---- called per request ----------------------------------------------------------------------

  /**
   * Picks the instance for a request. While every worker is busy the request waits in the queue;
   * it resolves `routed` once a worker frees up, or `rejected` (queue full, timeout, aborted, closed).
   * A routed request is tracked as active until `complete`.
   */
  route(req: RouteRequest): Promise<RouteOutcome> {
    const outcome = this.tryRoute(req);
    if (outcome.kind !== 'queued') return Promise.resolve(this.settle(outcome));
    if (this.queue.length >= this.maxQueued) {
      return Promise.resolve(
        this.settle({
          kind: 'rejected',
          code: 'busy',
          reason: `every worker is busy and ${this.queue.length} requests are queued`,
        }),
      );
    }
    return new Promise<RouteOutcome>((resolve) => {
      const leave = (reason: string) => {
        const at = this.queue.indexOf(waiter);
        if (at >= 0) this.queue.splice(at, 1);
        this.updateQueueGauge();
        resolve(this.settle({ kind: 'rejected', code: 'busy', reason }));
      };
      const waiter: Waiter = {
        req,
        resolve,
        timer: setTimeout(
          () => leave(`every worker stayed busy for ${this.settings.queueTimeoutMs} ms`),
          this.settings.queueTimeoutMs,
        ),
        onAbort: () => {
          clearTimeout(waiter.timer);
          leave('the request was cancelled while queued');
        },
      };
      req.signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.updateQueueGauge();
    });
  }

  /** The request's first token arrived: its prefill no longer loads the worker. */
  firstToken(requestId: string): void {
    this.scheduler.prefillDone(requestId);
    this.lifecycle?.prefilled(requestId);
    // Prefilled: its new blocks are stored on the worker, so a KV event is due from now on.
    const worker = this.owing.get(requestId);
    if (worker !== undefined) {
      this.owing.delete(requestId);
      this.health?.owed(worker);
    }
  }

  /** The request ended (any way): frees what it held and lets queued requests in. */
  complete(requestId: string): void {
    this.owing.delete(requestId);
    this.lifecycle?.freed(requestId);
    if (this.scheduler.free(requestId) !== undefined) this.drain();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.queue.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.req.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.resolve({ kind: 'rejected', code: 'closed', reason: 'the router is closing' });
    }
    this.updateQueueGauge();
    this.untrackIndex?.();
    await this.onClose?.();
  }

  // ---- internals -------------------------------------------------------------------------------

  private tryRoute(req: RouteRequest): RouteOutcome {
    if (this.closed) return { kind: 'rejected', code: 'closed', reason: 'the router is closing' };
    if (this.settings.mode === 'direct') return this.routeDirect(req);
    const candidates: InstanceId[] = [];
    for (const id of this.instances) if (!req.exclude?.has(id)) candidates.push(id);
    if (candidates.length === 0) {
      return { kind: 'rejected', code: 'no_workers', reason: `no worker serves model ${this.model.name}` };
    }
    const free = candidates.filter((id) => !this.scheduler.isBusy(id));
    if (free.length === 0) return { kind: 'queued' };

    const prepared = this.prepare(req);
    let instance: InstanceId;
    let overlapBlocks = 0;
    let overlaps: OverlapScores | undefined;
    if (this.settings.mode === 'kv') {
      this.approx?.prune(this.now());
      overlaps = this.indexer.findMatches(prepared.hashes);
      const cands: Candidate[] = free.map((id) => ({ id, cachedBlocks: this.indexer.blockCount(id) }));
      const selection = this.scheduler.select(cands, {
        isl: req.tokenIds.length,
        seqKeys: prepared.seqKeys,
        overlaps,
      });
      if (selection.kind !== 'routed')
        return { kind: 'rejected', code: 'no_workers', reason: 'no candidate' };
      instance = selection.instance;
      overlapBlocks = selection.overlapBlocks;
      this.approx?.record(instance, prepared.hashes, prepared.seqKeys.length, this.now());
      // Blocks the index does not show on the worker: it will store them and owes a KV event.
      if (this.health !== undefined && (overlaps.get(instance) ?? 0) < prepared.seqKeys.length) {
        this.owing.set(req.requestId, instance);
      }
    } else if (this.settings.mode === 'round-robin') {
      instance = free[this.rrCounter++ % free.length] as InstanceId;
    } else {
      instance = free[Math.floor(this.random() * free.length)] as InstanceId;
    }
    if (req.explain !== undefined && this.settings.routeDebug) {
      this.explain(req, instance, prepared.seqKeys, overlaps, free, candidates);
    }
    this.scheduler.add(
      req.requestId,
      instance,
      { isl: req.tokenIds.length, seqKeys: prepared.seqKeys },
      overlapBlocks,
    );
    this.lifecycle?.added(
      req.requestId,
      instance,
      req.tokenIds.length,
      prepared.hashes.sequence,
      overlapBlocks,
    );
    return { kind: 'routed', instance, overlapBlocks };
  }

  /** Route debug: the decision with every free candidate's cost terms, before it is recorded. */
  private explain(
    req: RouteRequest,
    chosen: InstanceId,
    seqKeys: readonly number[],
    overlaps: OverlapScores | undefined,
    free: readonly InstanceId[],
    candidates: readonly InstanceId[],
  ): void {
    const costs = this.scheduler.costs(
      free.map((id) => ({ id, cachedBlocks: this.indexer.blockCount(id) })),
      { isl: req.tokenIds.length, seqKeys, overlaps: overlaps ?? NO_OVERLAPS },
    );
    this.record(req, {
      mode: this.settings.mode,
      index: this.indexHealth().state,
      chosen,
      candidates: costs.map((c) => ({
        worker: c.id,
        overlapBlocks: c.overlap,
        prefillTokens: c.prefillTokens,
        decodeBlocks: c.decodeBlocks,
        pendingPrefills: c.pendingPrefills,
        logit: Math.round(c.logit * 1000) / 1000,
        activeOverlapBlocks: c.activeOverlap,
      })),
      busy: candidates.filter((id) => !free.includes(id)),
    });
  }

  private record(req: RouteRequest, explanation: RouteExplanation): void {
    req.explain?.push(explanation);
    this.log.debug(
      { model: this.model.name, requestId: req.requestId, route: explanation },
      'route decision',
    );
  }

  private indexAnomaly(worker: InstanceId, kind: IndexAnomaly): void {
    this.health?.anomaly(worker, kind);
    this.metrics?.kvEventAnomalies.labels(this.model.name, kind).inc();
  }

  private gap(worker: InstanceId): void {
    this.health?.gap(worker);
    this.metrics?.gaps.labels(this.model.name).inc();
  }

  private routeDirect(req: RouteRequest): RouteOutcome {
    const raw = req.headers?.[DIRECT_INSTANCE_HEADER];
    const named = Array.isArray(raw) ? raw[0] : raw;
    if (named === undefined) {
      return {
        kind: 'rejected',
        code: 'unknown_instance',
        reason: `direct mode needs header ${DIRECT_INSTANCE_HEADER}`,
      };
    }
    const id = named.trim().toLowerCase() as InstanceId;
    if (!this.instances.has(id) || req.exclude?.has(id)) {
      return {
        kind: 'rejected',
        code: 'unknown_instance',
        reason: `${DIRECT_INSTANCE_HEADER}: no live instance ${JSON.stringify(named)} serves model ${this.model.name}`,
      };
    }
    if (req.explain !== undefined && this.settings.routeDebug) {
      this.record(req, {
        mode: 'direct',
        index: this.indexHealth().state,
        chosen: id,
        candidates: [],
        busy: [],
      });
    }
    this.scheduler.add(req.requestId, id, { isl: req.tokenIds.length, seqKeys: [] }, 0);
    this.lifecycle?.added(req.requestId, id, req.tokenIds.length, NO_HASHES, 0);
    return { kind: 'routed', instance: id, overlapBlocks: 0 };
  }

  private prepare(req: RouteRequest): Prepared {
    const hashes = this.hash(req.tokenIds, this.model.blockSize);
    const n = hashes.sequence.length >>> 1;
    const seqKeys = new Array<number>(n);
    for (let i = 0; i < n; i++) seqKeys[i] = hashKey(hashes.sequence, i);
    return { hashes, seqKeys };
  }

  /** Routes queued requests, in order, while workers are free. */
  private drain(): void {
    while (this.queue.length > 0) {
      const waiter = this.queue[0] as Waiter;
      const outcome = this.tryRoute(waiter.req);
      if (outcome.kind === 'queued') break;
      this.queue.shift();
      clearTimeout(waiter.timer);
      waiter.req.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.resolve(this.settle(outcome));
    }
    this.updateQueueGauge();
  }

  private settle(outcome: RouteOutcome): RouteOutcome {
    if (outcome.kind === 'routed') {
      this.metrics?.overlapBlocks.labels(this.model.name).observe(outcome.overlapBlocks);
    }
    this.metrics?.decisions.labels(this.model.name, this.settings.mode, outcome.kind).inc();
    return outcome;
  }

  private updateQueueGauge(): void {
    this.metrics?.queued.labels(this.model.name).set(this.queue.length);
  }
}
