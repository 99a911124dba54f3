// The router's Prometheus metrics (`dynamo_router_*`), labelled by model. One set per registry: a
// frontend runs one router per instance set of each model, all on its registry. The index's size and
// health are read from the routers when the registry is scraped.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import {
  INDEX_STATES,
  type IndexHealthReport,
  type IndexState,
  WORKER_INDEX_STATES,
} from './index-health.js';

/** What a router shows the scrape. */
export interface TrackedIndex {
  readonly indexer: { stats(): { blocks: number } };
  indexHealth(): IndexHealthReport;
}

/** A model's routers (several instance sets) report their worst state. */
const SEVERITY: Record<IndexState, number> = { healthy: 0, degraded: 1, 'load-only': 2 };

export class RouterMetrics {
  private static readonly byRegistry = new WeakMap<Registry, RouterMetrics>();

  /** Requests waiting because every worker is busy (DESIGN §7: they queue at the frontend). */
  readonly queued: Gauge<'model'>;
  readonly decisions: Counter<'model' | 'mode' | 'outcome'>;
  /** Leading prompt blocks the chosen worker already caches, per routed request. */
  readonly overlapBlocks: Histogram<'model'>;
  readonly kvEvents: Counter<'model' | 'result'>;
  readonly resyncs: Counter<'model' | 'result'>;
  /** Gaps in a worker's eventIds (or a parent it never stored): each one starts a resync. */
  readonly gaps: Counter<'model'>;
  /** KV events that contradicted what their worker told before (indexer.ts IndexAnomaly). */
  readonly kvEventAnomalies: Counter<'model' | 'kind'>;
  readonly indexedBlocks: Gauge<'model'>;
  readonly indexState: Gauge<string>;
  readonly workerIndexState: Gauge<string>;
  readonly workerEventAge: Gauge<'model' | 'worker'>;
  /** The routers of each model, read when the registry is scraped (not kept current per KV event). */
  private readonly tracked = new Map<string, Set<TrackedIndex>>();

  static for(registry: Registry): RouterMetrics {
    let metrics = RouterMetrics.byRegistry.get(registry);
    if (metrics === undefined) {
      metrics = new RouterMetrics(registry);
      RouterMetrics.byRegistry.set(registry, metrics);
    }
    return metrics;
  }

  private constructor(registry: Registry) {
    const registers = [registry];
    this.queued = new Gauge({
      name: 'dynamo_router_queued_requests',
      help: 'Requests queued at the frontend because every worker is busy',
      labelNames: ['model'],
      registers,
    });
    this.decisions = new Counter({
      name: 'dynamo_router_decisions_total',
      help: 'Routing decisions by mode and outcome (routed, rejected)',
      labelNames: ['model', 'mode', 'outcome'],
      registers,
    });
    this.overlapBlocks = new Histogram({
      name: 'dynamo_router_overlap_blocks',
      help: 'Prompt blocks already cached on the worker a request was routed to',
      labelNames: ['model'],
      buckets: [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers,
    });
    this.kvEvents = new Counter({
      name: 'dynamo_router_kv_events_total',
      help: 'KV events received (result: applied, buffered, stale, resync, unknown_worker)',
      labelNames: ['model', 'result'],
      registers,
    });
    this.resyncs = new Counter({
      name: 'dynamo_router_resyncs_total',
      help: "Dumps fetched to rebuild a worker's part of the index (result: ok, failed)",
      labelNames: ['model', 'result'],
      registers,
    });
    this.gaps = new Counter({
      name: 'dynamo_router_kv_event_gaps_total',
      help: "Gaps in a worker's KV events (missed eventIds, unknown parents); each starts a resync",
      labelNames: ['model'],
      registers,
    });
    this.kvEventAnomalies = new Counter({
      name: 'dynamo_router_kv_event_anomalies_total',
      help: 'KV events contradicting what their worker told before (kind: unknown_parent, unknown_removal, duplicate_store, inconsistent_store); counted and handled',
      labelNames: ['model', 'kind'],
      registers,
    });
    const tracked = this.tracked;
    // Each gauge asks for the reports itself (a few records per worker): no cache to go stale.
    const healthOf = (model: string): IndexHealthReport[] =>
      [...(tracked.get(model) ?? [])].map((r) => r.indexHealth());
    this.indexedBlocks = new Gauge({
      name: 'dynamo_router_indexed_blocks',
      help: '(worker, block) pairs in the radix tree',
      labelNames: ['model'],
      registers,
      collect() {
        for (const [model, routers] of tracked) {
          let blocks = 0;
          for (const r of routers) blocks += r.indexer.stats().blocks;
          this.labels(model).set(blocks);
        }
      },
    });
    // prometheus_client Enums, as Dynamo exports them: name{name="<state>"} 1 for the current state.
    const STATE = 'dynamo_router_index_state';
    this.indexState = new Gauge({
      name: STATE,
      help: "The KV index's health: healthy, degraded (a routed-to worker stale or resyncing), load-only (no usable index)",
      labelNames: ['model', STATE],
      registers,
      collect() {
        this.reset();
        for (const model of tracked.keys()) {
          let worst: IndexState = 'healthy';
          for (const r of healthOf(model)) if (SEVERITY[r.state] > SEVERITY[worst]) worst = r.state;
          for (const s of INDEX_STATES) this.labels({ model, [STATE]: s }).set(s === worst ? 1 : 0);
        }
      },
    });
    const WORKER_STATE = 'dynamo_router_worker_index_state';
    this.workerIndexState = new Gauge({
      name: WORKER_STATE,
      help: "A worker's part of the KV index (KV events on): fresh, stale (owes events for requests routed to it), resyncing",
      labelNames: ['model', 'worker', WORKER_STATE],
      registers,
      collect() {
        this.reset();
        for (const model of tracked.keys()) {
          for (const r of healthOf(model)) {
            for (const w of r.workers) {
              for (const s of WORKER_INDEX_STATES) {
                this.labels({ model, worker: w.worker, [WORKER_STATE]: s }).set(s === w.state ? 1 : 0);
              }
            }
          }
        }
      },
    });
    this.workerEventAge = new Gauge({
      name: 'dynamo_router_worker_kv_event_age_seconds',
      help: "Seconds since a worker's last KV event or applied dump (KV events on)",
      labelNames: ['model', 'worker'],
      registers,
      collect() {
        this.reset();
        for (const model of tracked.keys()) {
          for (const r of healthOf(model)) {
            for (const w of r.workers) this.labels(model, w.worker).set(w.eventAgeS);
          }
        }
      },
    });
  }

  /** Reports a router's index size and health at every scrape until the returned function is called. */
  trackIndex(model: string, router: TrackedIndex): () => void {
    let routers = this.tracked.get(model);
    if (routers === undefined) {
      routers = new Set();
      this.tracked.set(model, routers);
    }
    routers.add(router);
    return () => {
      const set = this.tracked.get(model);
      if (set === undefined || !set.delete(router) || set.size > 0) return;
      this.tracked.delete(model);
      this.indexedBlocks.remove(model);
    };
  }
}
