// Index health (kv mode with KV events): whether the KV index still tells the truth about each worker,
// so that a router quietly routing on load alone is visible (metrics, /health, an alert). Pure: the
// clock is injected.
//
// A worker's index is
//   resyncing  while the router awaits its dump (a gap in its eventIds, or just met): overlaps are old;
//   stale      when it was sent a request that must make it store blocks the index lacks, and no KV
//              event came from it within `staleAfterMs` of that request's first token (its prefill
//              stored them by then): its event stream is lost somewhere;
//   fresh      otherwise. A worker that gets no requests owes no events: idle is not stale.
// The router's index is
//   load-only  without KV events (modes other than kv, approximate mode: the Router says so itself,
//              with no per-worker states), or when every worker is
//              stale or resyncing: overlaps are unknown, only load terms decide;
//   degraded   when a worker being routed to (active requests, or an event owed) is stale or resyncing;
//   healthy    otherwise (no workers included).
import type { InstanceId } from '../api/index.js';
import { INDEX_ANOMALIES, type IndexAnomaly } from './indexer.js';

export const INDEX_STATES = ['healthy', 'degraded', 'load-only'] as const;
export type IndexState = (typeof INDEX_STATES)[number];
export const WORKER_INDEX_STATES = ['fresh', 'stale', 'resyncing'] as const;
export type WorkerIndexState = (typeof WORKER_INDEX_STATES)[number];

export interface WorkerIndexHealth {
  worker: InstanceId;
  state: WorkerIndexState;
  /** Seconds since its last KV event or applied dump (since it appeared, when none yet). */
  eventAgeS: number;
  /** Seconds it has owed an event for a request routed to it; 0 when it owes none. */
  owedS: number;
  activeRequests: number;
  gaps: number;
  resyncs: number;
  dumpFailures: number;
  /** KV events that contradicted what it told before, by kind (indexer.ts IndexAnomaly): counted, handled. */
  anomalies: Record<IndexAnomaly, number>;
}

export interface IndexHealthReport {
  state: IndexState;
  /** Why the state is not healthy. */
  reason?: string;
  workers: WorkerIndexHealth[];
}

interface WorkerRecord {
  lastEventAt: number;
  /** When the first request that must make it store blocks was routed since its last event; null: none. */
  owedSince: number | null;
  gaps: number;
  resyncs: number;
  dumpFailures: number;
  anomalies: Record<IndexAnomaly, number>;
}

/** What the tracker needs to know of a worker beside its own records (from the indexer and scheduler). */
export interface WorkerView {
  resyncing: boolean;
  activeRequests: number;
}

export class IndexHealth {
  private readonly workers = new Map<InstanceId, WorkerRecord>();

  constructor(
    private readonly staleAfterMs: number,
    private readonly now: () => number,
  ) {}

  add(worker: InstanceId): void {
    if (this.workers.has(worker)) return;
    this.workers.set(worker, {
      lastEventAt: this.now(),
      owedSince: null,
      gaps: 0,
      resyncs: 0,
      dumpFailures: 0,
      anomalies: Object.fromEntries(INDEX_ANOMALIES.map((k) => [k, 0])) as Record<IndexAnomaly, number>,
    });
  }

  remove(worker: InstanceId): void {
    this.workers.delete(worker);
  }

  /** A KV event came from the worker (whatever the indexer did with it): its stream is alive. */
  event(worker: InstanceId): void {
    const w = this.workers.get(worker);
    if (w === undefined) return;
    w.lastEventAt = this.now();
    w.owedSince = null;
  }

  /** A request went to the worker that must make it store blocks the index does not show there. */
  owed(worker: InstanceId): void {
    const w = this.workers.get(worker);
    if (w !== undefined && w.owedSince === null) w.owedSince = this.now();
  }

  /** The indexer found a gap in the worker's events (or a parent it never stored). */
  gap(worker: InstanceId): void {
    const w = this.workers.get(worker);
    if (w !== undefined) w.gaps++;
  }

  /** One of the worker's KV events contradicted what it told before (the indexer handled it). */
  anomaly(worker: InstanceId, kind: IndexAnomaly): void {
    const w = this.workers.get(worker);
    if (w !== undefined) w.anomalies[kind]++;
  }

  /** A dump rebuilt the worker's part of the index: it is as fresh as the dump. */
  dumpApplied(worker: InstanceId): void {
    const w = this.workers.get(worker);
    if (w === undefined) return;
    w.resyncs++;
    w.lastEventAt = this.now();
    w.owedSince = null;
  }

  dumpFailed(worker: InstanceId): void {
    const w = this.workers.get(worker);
    if (w !== undefined) w.dumpFailures++;
  }

  /** The router's state and each worker's (the router reports load-only itself without KV events). */
  report(view: (worker: InstanceId) => WorkerView): IndexHealthReport {
    const now = this.now();
    const workers: WorkerIndexHealth[] = [];
    let unusable = 0;
    let degrading: InstanceId | undefined;
    for (const [worker, w] of this.workers) {
      const { resyncing, activeRequests } = view(worker);
      const owedMs = w.owedSince === null ? 0 : now - w.owedSince;
      const state: WorkerIndexState = resyncing
        ? 'resyncing'
        : w.owedSince !== null && owedMs >= this.staleAfterMs
          ? 'stale'
          : 'fresh';
      if (state !== 'fresh') {
        unusable++;
        if (degrading === undefined && (state === 'stale' || activeRequests > 0 || w.owedSince !== null)) {
          degrading = worker;
        }
      }
      workers.push({
        worker,
        state,
        eventAgeS: (now - w.lastEventAt) / 1000,
        owedS: owedMs / 1000,
        activeRequests,
        gaps: w.gaps,
        resyncs: w.resyncs,
        dumpFailures: w.dumpFailures,
        anomalies: { ...w.anomalies },
      });
    }
    if (workers.length > 0 && unusable === workers.length) {
      return { state: 'load-only', reason: 'every worker is stale or resyncing', workers };
    }
    if (degrading !== undefined) {
      const state = workers.find((w) => w.worker === degrading)?.state ?? 'stale';
      return { state: 'degraded', reason: `worker ${degrading} is ${state} while routed to`, workers };
    }
    return { state: 'healthy', workers };
  }
}
