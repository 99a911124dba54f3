// What the frontends served in the last interval, from their `dynamo_frontend_*` metrics as Prometheus
// holds them (DESIGN §13). Histograms are averaged as Dynamo does: the sum of the increases of `_sum`
// over the sum of the increases of `_count`, so idle frontends weigh nothing and busy ones their share.
//
// Filter: by `model`, or none. Our frontend's series carry no namespace label (Dynamo's carry
// `dynamo_namespace`); a frontend serves one namespace's models or all of them, so a model name is the
// planner's unit. Without a model (`dynamo planner` without --model, the operator's default) every
// `dynamo_frontend_*` series Prometheus holds is summed: right when that Prometheus (or the extra
// matchers) sees only the graph's frontend, which serves the graph's one model. Extra label matchers
// (e.g. a Kubernetes `namespace` added by the scrape config) can be given.
//
// The rate counts ARRIVALS: `dynamo_frontend_requests_total` counts a request when it ends (our frontend
// has no `requests_started`), and completions saturate at what the current replicas serve, so under
// overload the planner would never see more demand than it already handles (local-traffic.ts, where
// this was measured). Arrivals in a window = completed + the growth of in flight:
//   increase(requests_total[w]) + delta(inflight_requests[w])
// (`or vector(0)`: a frontend without the gauge yet still gives its completions).
//
// PrometheusDemand: scale to zero's signal (planner.ts, "Scale to zero") for `dynamo planner`: requests
// waiting for a worker and in flight, summed over the frontends (local-traffic.ts reads it in-process).
import { combine, type Metric } from './metric.js';
import type { DemandSource, ZeroDemand } from './planner.js';
import type { PrometheusClient } from './prometheus.js';

export interface TrafficObservation {
  /** Requests per second over the window. */
  requestRate: Metric;
  /** Mean prompt tokens. */
  isl: Metric;
  /** Mean output tokens. */
  osl: Metric;
  /** Mean time to first token, ms. */
  ttftMs: Metric;
  /** Mean inter-token latency, ms. */
  itlMs: Metric;
  /** Cached prompt tokens / prompt tokens, 0..1. */
  kvHitRate: Metric;
}

export interface TrafficSource {
  /** The last `windowSeconds` of traffic; never throws (failures are unknown metrics). */
  observe(windowSeconds: number): Promise<TrafficObservation>;
}

/** A PromQL label value in double quotes. */
export function quoteLabel(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** The PromQL of each input (exported for tests and docs). */
export function trafficQueries(
  model: string | undefined,
  windowSeconds: number,
  extraMatchers: readonly string[] = [],
) {
  const matchers = [...(model === undefined ? [] : [`model=${quoteLabel(model)}`]), ...extraMatchers];
  const sel = matchers.length === 0 ? '' : `{${matchers.join(',')}}`;
  const w = `[${Math.max(1, Math.round(windowSeconds))}s]`;
  const inc = (name: string) => `sum(increase(dynamo_frontend_${name}${sel}${w}))`;
  const mean = (h: string) => `${inc(`${h}_sum`)} / ${inc(`${h}_count`)}`;
  return {
    requests: `${inc('requests_total')} + (sum(delta(dynamo_frontend_inflight_requests${sel}${w})) or vector(0))`,
    isl: mean('input_sequence_tokens'),
    osl: mean('output_sequence_tokens'),
    ttft: mean('time_to_first_token_seconds'),
    itl: mean('inter_token_latency_seconds'),
    kvHitRate: `${inc('cached_tokens_sum')} / ${inc('input_sequence_tokens_sum')}`,
  };
}

export class PrometheusTraffic implements TrafficSource {
  constructor(
    private readonly client: PrometheusClient,
    /** undefined: every model's series (no model matcher). */
    private readonly model: string | undefined,
    private readonly extraMatchers: readonly string[] = [],
  ) {}

  async observe(windowSeconds: number): Promise<TrafficObservation> {
    const q = trafficQueries(this.model, windowSeconds, this.extraMatchers);
    const c = this.client;
    const [requests, isl, osl, ttft, itl, kvHitRate] = await Promise.all([
      c.scalar(q.requests),
      c.scalar(q.isl),
      c.scalar(q.osl),
      c.scalar(q.ttft),
      c.scalar(q.itl),
      c.scalar(q.kvHitRate),
    ]);
    return {
      requestRate: combine([requests], (n) => Math.max(0, n) / windowSeconds),
      isl,
      osl,
      ttftMs: combine([ttft], (s) => s * 1000),
      itlMs: combine([itl], (s) => s * 1000),
      kvHitRate: combine([kvHitRate], (v) => Math.min(1, Math.max(0, v))),
    };
  }
}

/**
 * Waiting and in-flight requests of a model (every model without one) through Prometheus. A model whose
 * in-flight series is absent (no request since the frontend started) reads unknown there, so the hold
 * rule keeps one replica: scrape gaps never park a service.
 */
export class PrometheusDemand implements DemandSource {
  constructor(
    private readonly client: PrometheusClient,
    /** undefined: every model's series (no model matcher), as PrometheusTraffic. */
    private readonly model: string | undefined,
    readonly wakeIntervalMs?: number,
  ) {}

  async demand(): Promise<ZeroDemand> {
    const sel = this.model === undefined ? '' : `{model=${quoteLabel(this.model)}}`;
    const [waiting, inflight] = await Promise.all([
      this.client.scalar(`sum(dynamo_frontend_waiting_for_worker${sel})`),
      this.client.scalar(`sum(dynamo_frontend_inflight_requests${sel})`),
    ]);
    return { waiting, inflight };
  }
}
