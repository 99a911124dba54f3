// The router's Prometheus metrics (`dynamo_router_*`), labelled by model. One set per registry: a
// frontend runs one router per model, all on its registry.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class RouterMetrics {
  private static readonly byRegistry = new WeakMap<Registry, RouterMetrics>();

  /** Requests waiting because every worker is busy (DESIGN §7: they queue at the frontend). */
  readonly queued: Gauge<'model'>;
  readonly decisions: Counter<'model' | 'mode' | 'outcome'>;
  /** Leading prompt blocks the chosen worker already caches, per routed request. */
  readonly overlapBlocks: Histogram<'model'>;
  readonly kvEvents: Counter<'model' | 'result'>;
  readonly resyncs: Counter<'model' | 'result'>;
  readonly indexedBlocks: Gauge<'model'>;
  /** Each model's index size, read when the registry is scraped (not kept current per KV event). */
  private readonly indexSizes = new Map<string, () => number>();

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
    const sizes = this.indexSizes;
    this.indexedBlocks = new Gauge({
      name: 'dynamo_router_indexed_blocks',
      help: '(worker, block) pairs in the radix tree',
      labelNames: ['model'],
      registers,
      collect() {
        for (const [model, size] of sizes) this.labels(model).set(size());
      },
    });
  }

  /** Reports a model's index size at every scrape until the returned function is called. */
  trackIndex(model: string, size: () => number): () => void {
    this.indexSizes.set(model, size);
    return () => {
      if (this.indexSizes.get(model) !== size) return; // a newer router of the model took over
      this.indexSizes.delete(model);
      this.indexedBlocks.remove(model);
    };
  }
}
