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
// freed at completion): they feed the cost function and the busy thresholds.
import type { Registry } from 'prom-client';
import type { EndpointId, InstanceId, KvDump, KvEvent, LoadMetrics } from '../api/index.js';
import type { Logger } from '../runtime/logger.js';
import { computeBlockHashesRaw } from '../wasm/index.js';
import { ApproxTracker } from './approx-tracker.js';
import { hashKey, type RequestHashes } from './block-hashes.js';
import { type ApplyResult, KvIndexer } from './indexer.js';
import { RouterMetrics } from './metrics.js';
import { type Candidate, KvScheduler } from './scheduler.js';

export const ROUTER_MODES = ['kv', 'round-robin', 'random', 'direct'] as const;
export type RouterMode = (typeof ROUTER_MODES)[number];

/** The header that names the instance in `direct` mode. */
export const DIRECT_INSTANCE_HEADER = 'x-dynamo-worker-instance-id';

export interface RouterSettings {
  mode: RouterMode;
  overlapScoreWeight: number;
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
}

export const DEFAULT_ROUTER_SETTINGS: RouterSettings = {
  mode: 'kv',
  overlapScoreWeight: 1,
  temperature: 0,
  useKvEvents: true,
  busyThreshold: 0.95,
  maxQueued: null,
  queueTimeoutMs: 30_000,
  approxTtlMs: 120_000,
  approxMaxBlocks: 1_000_000,
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
  readonly indexer = new KvIndexer();
  readonly scheduler: KvScheduler;
  private readonly approx: ApproxTracker | undefined;
  private readonly instances = new Set<InstanceId>();
  private readonly queue: Waiter[] = [];
  private rrCounter = 0;
  private closed = false;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly hash: (tokenIds: readonly number[], blockSize: number) => RequestHashes;
  readonly metrics: RouterMetrics | undefined;
  /** Stops reporting this router's index size (on close). */
  private readonly untrackIndex: (() => void) | undefined;
  private readonly log: Logger;
  /** Closes the transport (set by createRouter). */
  onClose: (() => Promise<void>) | undefined;

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
    this.untrackIndex = this.metrics?.trackIndex(model.name, () => this.indexer.stats().blocks);
    this.scheduler = new KvScheduler(
      {
        blockSize: model.blockSize,
        overlapScoreWeight: settings.overlapScoreWeight,
        temperature: settings.temperature,
        busyThreshold: settings.busyThreshold,
        maxNumSeqs: model.maxNumSeqs,
      },
      this.random,
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

  // ---- fed by the transport --------------------------------------------------------------------

  /** A worker appeared in discovery. With KV events, the caller then fetches its dump. */
  addInstance(id: InstanceId): void {
    if (this.instances.has(id)) return;
    this.instances.add(id);
    if (!this.scheduler.hasCapacity(id)) this.scheduler.setCapacity(id, this.model.totalKvBlocks);
    if (this.wantsKvEvents) this.indexer.beginResync(id);
    this.drain();
  }

  /** A worker left discovery: forget it entirely. */
  removeInstance(id: InstanceId): void {
    if (!this.instances.delete(id)) return;
    this.indexer.removeWorker(id);
    this.approx?.removeWorker(id);
    this.scheduler.removeWorker(id);
  }

  /** A KV event; 'resync' asks the caller to fetch that worker's dump. */
  onKvEvent(event: KvEvent): ApplyResult | 'unknown_worker' {
    // Events of workers not (or no longer) in discovery are dropped: the dump taken when the worker
    // appears covers them, and a late event of a gone worker must not bring it back.
    const result = this.instances.has(event.workerId) ? this.indexer.applyEvent(event) : 'unknown_worker';
    this.metrics?.kvEvents.labels(this.model.name, result).inc();
    return result;
  }

  /** A dump of a worker's whole cache; 'resync' when its replay found a new gap (fetch again). */
  applyDump(dump: KvDump): 'applied' | 'resync' | 'unknown_worker' {
    if (!this.instances.has(dump.workerId)) return 'unknown_worker';
    const result = this.indexer.applyDump(dump);
    return result;
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
  }

  /** The request ended (any way): frees what it held and lets queued requests in. */
  complete(requestId: string): void {
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
    if (this.settings.mode === 'kv') {
      this.approx?.prune(this.now());
      const overlaps = this.indexer.findMatches(prepared.hashes);
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
    } else if (this.settings.mode === 'round-robin') {
      instance = free[this.rrCounter++ % free.length] as InstanceId;
    } else {
      instance = free[Math.floor(this.random() * free.length)] as InstanceId;
    }
    this.scheduler.add(
      req.requestId,
      instance,
      { isl: req.tokenIds.length, seqKeys: prepared.seqKeys },
      overlapBlocks,
    );
    return { kind: 'routed', instance, overlapBlocks };
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
    this.scheduler.add(req.requestId, id, { isl: req.tokenIds.length, seqKeys: [] }, 0);
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
