// The endpoint picker's own metrics (`dynamo_epp_*`), next to the routers' (`dynamo_router_*`) in the
// runtime's registry, served on the EPP's /metrics.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** How a request's pick ended: KV-routed, the fail-open fallback, or an immediate error answer. */
export type PickResult = 'routed' | 'fallback' | 'error';

export class EppMetrics {
  readonly picks: Counter<'result' | 'code'>;
  readonly pickDuration: Histogram<'result'>;
  readonly fallbacks: Counter<'reason'>;
  readonly brokenStreams: Counter;
  readonly streams: Gauge;
  readonly readyEndpoints: Gauge;

  private static readonly byRegistry = new WeakMap<Registry, EppMetrics>();

  /** One set per registry: several pickers in one process (tests, the benchmark) share it. */
  static for(registry: Registry): EppMetrics {
    let metrics = EppMetrics.byRegistry.get(registry);
    if (metrics === undefined) {
      metrics = new EppMetrics(registry);
      EppMetrics.byRegistry.set(registry, metrics);
    }
    return metrics;
  }

  private constructor(registry: Registry) {
    this.picks = new Counter({
      name: 'dynamo_epp_picks_total',
      help: 'Requests the endpoint picker answered, by result and error code (empty when picked)',
      labelNames: ['result', 'code'],
      registers: [registry],
    });
    this.pickDuration = new Histogram({
      name: 'dynamo_epp_pick_duration_seconds',
      help: 'From the end of the request body to the answer: parse, tokenize, route',
      labelNames: ['result'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    });
    this.fallbacks = new Counter({
      name: 'dynamo_epp_fallbacks_total',
      help: 'Requests sent to a Ready pod without a worker hint (--fail-open) because KV routing could not decide, by reason',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.brokenStreams = new Counter({
      name: 'dynamo_epp_broken_streams_total',
      help: 'ext_proc streams that ended (cancelled or failed) before the request body was complete',
      registers: [registry],
    });
    this.streams = new Gauge({
      name: 'dynamo_epp_active_streams',
      help: 'ext_proc streams open now',
      registers: [registry],
    });
    this.readyEndpoints = new Gauge({
      name: 'dynamo_epp_pool_ready_endpoints',
      help: "Ready pods of the InferencePool (the pool's endpoints)",
      registers: [registry],
    });
  }
}
