// OBSERVE for `dynamo run --planner`: the frontend's own metrics registry (prom-client, the same
// `dynamo_frontend_*` series Prometheus would scrape), read in-process — no Prometheus needed.
//
// LocalTraffic: each observe() takes a snapshot of the counters and the histograms' `_sum` / `_count`
// for the model and answers the differences to the previous snapshot, over the time actually elapsed
// between them (the planner calls it once per adjustment interval, so that is its window): mean ISL =
// Δisl_sum / Δisl_count, ... as traffic.ts computes them from Prometheus. The rate counts ARRIVALS:
// Δrequests_total (counted when a request ends) + Δinflight_requests. Counting completions alone (as a
// Prometheus `increase(requests_total)` does) saturates at what the current replicas serve: under
// overload the planner would never see more demand than it already handles (measured: `dynamo bench
// --planner` stayed at 1 replica for a 10 → 50 req/s sine, TTFT 80 s; docs/architecture.md).
// The registry is this process's and alive, so a model without a series has seen no request: a
// measured zero rate, not an unknown one; a mean over no sample is unknown (no_samples).
//
// LocalDemand: scale to zero's signal (planner.ts, "Scale to zero"): requests waiting for a worker and
// in flight, read here (PrometheusDemand in traffic.ts reads it from Prometheus).
import type { Registry } from 'prom-client';
import { combine, known, type Metric, unknown } from './metric.js';
import type { DemandSource, ZeroDemand } from './planner.js';
import type { TrafficObservation, TrafficSource } from './traffic.js';

const P = 'dynamo_frontend_';

interface Snapshot {
  at: number;
  requests: number;
  inflight: number;
  isl: [number, number];
  osl: [number, number];
  ttft: [number, number];
  itl: [number, number];
  cachedSum: number;
}

/** The sum over a metric's series for `model` (and the `_sum` / `_count` parts of a histogram). */
async function read(
  registry: Registry,
  name: string,
  model: string,
): Promise<{ value: number; sum: number; count: number } | undefined> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return undefined;
  const data = await metric.get();
  let value = 0;
  let sum = 0;
  let count = 0;
  for (const v of data.values) {
    if (v.labels.model !== model) continue;
    const part = (v as { metricName?: string }).metricName;
    if (part === undefined || part === name) value += v.value;
    else if (part === `${name}_sum`) sum += v.value;
    else if (part === `${name}_count`) count += v.value;
  }
  return { value, sum, count };
}

export class LocalTraffic implements TrafficSource {
  private last: Snapshot | undefined;

  private constructor(
    private readonly registry: Registry,
    private readonly model: string,
    private readonly now: () => number,
  ) {}

  /** A source whose first window starts now. */
  static async start(
    registry: Registry,
    model: string,
    now: () => number = () => performance.now(),
  ): Promise<LocalTraffic> {
    const source = new LocalTraffic(registry, model, now);
    source.last = await source.snapshot();
    return source;
  }

  async observe(_windowSeconds: number): Promise<TrafficObservation> {
    const snap = await this.snapshot();
    const prev = this.last;
    this.last = snap;
    if (snap === undefined || prev === undefined) {
      const m = unknown('no_data', `no ${P}* metrics in this registry`);
      return { requestRate: m, isl: m, osl: m, ttftMs: m, itlMs: m, kvHitRate: m };
    }
    const seconds = (snap.at - prev.at) / 1000;
    const mean = (now: [number, number], before: [number, number], scale = 1): Metric => {
      const n = now[1] - before[1];
      return n > 0 ? combine([known(now[0] - before[0])], (s) => (s / n) * scale) : unknown('no_samples');
    };
    const isl = snap.isl[0] - prev.isl[0];
    return {
      requestRate:
        seconds > 0
          ? known(Math.max(0, snap.requests - prev.requests + snap.inflight - prev.inflight) / seconds)
          : unknown('no_samples'),
      isl: mean(snap.isl, prev.isl),
      osl: mean(snap.osl, prev.osl),
      ttftMs: mean(snap.ttft, prev.ttft, 1000),
      itlMs: mean(snap.itl, prev.itl, 1000),
      kvHitRate:
        isl > 0
          ? known(Math.min(1, Math.max(0, (snap.cachedSum - prev.cachedSum) / isl)))
          : unknown('no_samples'),
    };
  }

  private async snapshot(): Promise<Snapshot | undefined> {
    const r = (name: string) => read(this.registry, `${P}${name}`, this.model);
    const [requests, inflight, isl, osl, ttft, itl, cached] = await Promise.all([
      r('requests_total'),
      r('inflight_requests'),
      r('input_sequence_tokens'),
      r('output_sequence_tokens'),
      r('time_to_first_token_seconds'),
      r('inter_token_latency_seconds'),
      r('cached_tokens'),
    ]);
    if (!requests || !inflight || !isl || !osl || !ttft || !itl || !cached) return undefined;
    return {
      at: this.now(),
      requests: requests.value,
      inflight: inflight.value,
      isl: [isl.sum, isl.count],
      osl: [osl.sum, osl.count],
      ttft: [ttft.sum, ttft.count],
      itl: [itl.sum, itl.count],
      cachedSum: cached.sum,
    };
  }
}

/** Waiting and in-flight requests of a model from this process's frontend registry. */
export class LocalDemand implements DemandSource {
  constructor(
    private readonly registry: Registry,
    private readonly model: string,
    readonly wakeIntervalMs?: number,
  ) {}

  async demand(): Promise<ZeroDemand> {
    const gauge = async (name: string): Promise<Metric> => {
      const v = await read(this.registry, `${P}${name}`, this.model);
      // A live registry without a series for the model has seen no such request: zero.
      return v === undefined ? unknown('no_data', `no ${P}${name} in this registry`) : known(v.value);
    };
    const [waiting, inflight] = await Promise.all([gauge('waiting_for_worker'), gauge('inflight_requests')]);
    return { waiting, inflight };
  }
}
