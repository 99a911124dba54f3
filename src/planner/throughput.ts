// PROPOSE for the throughput loop (DESIGN §13): predicted load for the next interval and one replica's
// measured capacity in, replicas each role needs out. Pure. Formulas (docs/architecture.md, Planner):
//
//   prefill  ISL_eff = ISL × (1 − KV hit rate)
//            demand  = rate × ISL_eff                               prompt tokens/s
//            need    = max(ceil(demand / prefillCapacity(ISL_eff)), ceil(ttftAt(ISL_eff) / TTFT target))
//   decode   context = ISL + OSL / 2                                mean context while decoding
//            demand  = rate × OSL                                   output tokens/s
//            need    = ceil(demand / decodeCapacity(context, ITL target))
//   agg      one engine does both, time-shared: a replica spends demand_p / prefillCapacity of its time
//            prefilling and demand_d / decodeCapacity decoding, so
//            need    = max(ceil(demand_p / prefillCapacity + demand_d / decodeCapacity), TTFT floor)
//   backlog  prompt tokens queued on the workers beyond what they clear within the wait budget w
//            (below) add  excess / (prefillCapacity × drain s)  to the prefill (agg) load: worked off
//            within the next interval (constraint `prefill_backlog`)
//
// The TTFT floor is Dynamo's: when one prompt alone takes longer than the target, ask for
// ceil(ttft / target) replicas (queueing behind others only adds to it). Min, max and the GPU budget
// are applied later (budget.ts).
//
// Queueing headroom (prefill, agg): `need` above runs the replicas at 100 % utilisation, where a queue
// grows without bound and TTFT with it. A prompt's TTFT is its wait for an engine plus its own prefill
// (ttftAt), so the replicas must keep the wait within  w = TTFT target − ttftAt(ISL_eff)  for all but a
// share ε of the requests (--ttft-miss-share). The router sends each request to the least loaded worker, so the replicas
// are one queue with c servers (M/D/c: Poisson arrivals, near-constant engine-seconds per request S):
//            a = rate × S                       offered load (replica-equivalents)
//            P(wait > w) ≈ C(c, a) · exp(−2 (c − a) w / S)
// C(c, a) is Erlang C (the chance to wait at all, exact for M/M/c); the tail is M/M/c's,
// exp(−(c − a) w / S), with its decay doubled because a deterministic service halves the queueing of an
// exponential one (Kingman / Cosmetatos: W(M/D/c) ≈ W(M/M/c) / 2). need = the least c > a with
// P(wait > w) ≤ ε (replicasForWait, constraint `ttft_queueing`).
//
// Ramps and drains (planner.ts applies both around proposeReplicas): the rate sized for is the larger
// of the predictor's and rampForecast's (the trend of the last --trend-window rates at the end of the
// next interval plus WORKER_START_S); a lower proposal takes effect only after --scale-down-hold
// intervals (heldReplicas). planner.ts also hands in the engine model with its prefill corrected by
// what the workers achieve (prefill-correction.ts). Measured in docs/architecture.md (bench --planner,
// r10–r27; scripts/planner-sim.py models it).
import type { EngineModel } from './engine-model.js';
import type { Metric } from './metric.js';
import type { Constraint, DecisionReason, Role } from './reasons.js';

export interface SlaTargets {
  ttftMs: number;
  itlMs: number;
  /** ε of the queueing headroom (replicasForWait); TTFT_MISS_SHARE when not given. */
  ttftMissShare?: number;
}

/** ε: the share of requests the queueing headroom lets wait past the TTFT budget (the SLA goal is 95 %). */
export const TTFT_MISS_SHARE = 0.05;

/** Erlang C: the chance an arrival waits in an M/M/c queue with offered load a < c (1 when a ≥ c). */
export function erlangC(c: number, a: number): number {
  if (!(a > 0)) return 0;
  if (a >= c) return 1;
  // Erlang B by its stable recursion, then C from B.
  let b = 1;
  for (let k = 1; k <= c; k++) b = (a * b) / (k + a * b);
  return (c * b) / (c - a * (1 - b));
}

/**
 * The least number of replicas c (> a) whose M/D/c wait exceeds `waitBudgetS` for at most a share
 * `missShare` of the requests: C(c, a) · exp(−2 (c − a) · waitBudgetS / serviceS) ≤ missShare, with
 * a = rate × serviceS. Without a positive budget or service time: the plain ceil(a).
 */
export function replicasForWait(
  rate: number,
  serviceS: number,
  waitBudgetS: number,
  missShare: number = TTFT_MISS_SHARE,
): number {
  const a = rate * serviceS;
  const plain = Math.ceil(a - 1e-9);
  if (!(a > 0) || !(serviceS > 0) || !(waitBudgetS > 0)) return Math.max(0, plain);
  for (let c = Math.max(1, Math.floor(a) + 1); ; c++) {
    const miss = erlangC(c, a) * Math.exp((-2 * (c - a) * waitBudgetS) / serviceS);
    if (miss <= missShare) return c;
  }
}

/** Intervals of observed request rate the ramp forecast fits its slope to (--trend-window's default). */
export const RAMP_WINDOW = 4;

/**
 * Seconds from a scale-up decision until the new worker serves, added to the ramp forecast's horizon.
 * An in-process mocker worker of `dynamo run` serves 72–108 ms after scaleWorkers on an idle machine
 * (measured 2026-12-02, docs/architecture.md); under the bench's load longer. A Kubernetes pod takes its
 * image pull and engine load, tens of seconds, which a 180 s interval dwarfs.
 */
export const WORKER_START_S = 0.5;

/** Scale-down hysteresis: intervals a lower proposal must persist before the planner acts on it (--scale-down-hold's default). */
export const SCALE_DOWN_HOLD = 2;

/**
 * The request rate at the end of the next interval plus a worker's start, by the least-squares line
 * through the last `window` observed rates (oldest first, one per interval of `intervalS`).
 * Each observation is a window's mean, so the last one stands at half an interval ago; the forecast is
 * that line at  intervalS / 2 + intervalS + leadS  beyond it. Undefined with fewer than two points.
 */
export function rampForecast(
  rates: readonly number[],
  intervalS: number,
  leadS: number,
  window: number = RAMP_WINDOW,
): number | undefined {
  const ys = rates.slice(-window);
  const n = ys.length;
  if (n < 2) return undefined;
  const xMean = (n - 1) / 2;
  const yMean = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  ys.forEach((y, x) => {
    sxy += (x - xMean) * (y - yMean);
    sxx += (x - xMean) ** 2;
  });
  const slopePerInterval = sxy / sxx;
  const ahead = n - 1 - xMean + 1.5 + leadS / intervalS;
  return Math.max(0, yMean + slopePerInterval * ahead);
}

/**
 * Scale-down hysteresis: the replicas to keep given the last proposals (oldest first), the largest of
 * the last `hold`. A rise acts at once; a fall only once every one of the last `hold` proposals is
 * lower. A draining worker still counts as provisioned, so a scale-down the next ramp reverses costs
 * its drain and a start, and leaves the ramp short while the new worker starts.
 */
export function heldReplicas(proposals: readonly number[], hold: number): number {
  const recent = proposals.slice(-Math.max(1, hold));
  return recent.length ? Math.max(...recent) : 0;
}

/** The next interval as predicted: each a Metric, unknown when its predictor has nothing to go on. */
export interface PredictedLoad {
  /** Requests per second. */
  requestRate: Metric;
  /** Mean prompt tokens per request. */
  isl: Metric;
  /** Mean output tokens per request. */
  osl: Metric;
  /** Share of prompt tokens served from prefix caches, 0..1. */
  kvHitRate: Metric;
}

/**
 * Prompt tokens already routed to the prefill (or agg) workers and not yet computed (their load
 * reports), with the interval over which to work them off (the next adjustment interval).
 */
export interface Backlog {
  tokens: number;
  drainS: number;
  /** Engines holding it (the workers that reported it). */
  engines: number;
}

export type RoleProposal =
  | {
      kind: 'sized';
      role: Role;
      /** Replicas the load needs, before min/max/budget. */
      replicas: number;
      constraints: Constraint[];
      /** Requests per second one replica sustains within the SLA (Dynamo's engine capacity gauges). */
      capacityRps: number;
      /** What one prompt alone costs at the predicted ISL (prefill/agg), ms. */
      ttftMs?: number;
    }
  | { kind: 'unknown'; role: Role; reason: DecisionReason; detail: string };

export function proposeReplicas(
  roles: readonly Role[],
  load: PredictedLoad,
  engine: EngineModel,
  targets: SlaTargets,
  backlog?: Backlog,
): RoleProposal[] {
  return roles.map((role) => proposeRole(role, load, engine, targets, backlog));
}

function proposeRole(
  role: Role,
  load: PredictedLoad,
  engine: EngineModel,
  targets: SlaTargets,
  backlog: Backlog | undefined,
): RoleProposal {
  const { requestRate } = load;
  if (requestRate.kind === 'unknown')
    return { kind: 'unknown', role, reason: 'no_traffic_data', detail: `request rate ${requestRate.reason}` };
  const rate = requestRate.value;
  if (rate === 0) return { kind: 'sized', role, replicas: 0, constraints: [], capacityRps: Number.NaN };
  const missing = (
    role === 'prefill'
      ? [['ISL', load.isl]]
      : [
          ['ISL', load.isl],
          ['OSL', load.osl],
        ]
  ) as [string, Metric][];
  for (const [name, m] of missing)
    if (m.kind === 'unknown')
      return { kind: 'unknown', role, reason: 'no_sequence_data', detail: `${name} ${m.reason}` };
  const isl = (load.isl as { value: number }).value;
  const osl = load.osl.kind === 'known' ? load.osl.value : 0;
  const constraints: Constraint[] = [];

  let hitRate = 0;
  if (load.kvHitRate.kind === 'known') hitRate = Math.min(1, Math.max(0, load.kvHitRate.value));
  else if (role !== 'decode') constraints.push('kv_hit_rate_assumed_zero');
  const islEff = isl * (1 - hitRate);

  // Engine-seconds one request costs in each phase (1 / requests per second of one replica).
  const prefillSeconds = role === 'decode' ? 0 : islEff / engine.prefillCapacity(islEff);
  let decodeSeconds = 0;
  if (role !== 'prefill') {
    const context = isl + osl / 2;
    let capacity = engine.decodeCapacity(context, targets.itlMs);
    if (!(capacity > 0)) {
      // Even a lone sequence misses the target: size for one sequence per replica at its own pace.
      constraints.push('itl_unreachable');
      capacity = 1000 / engine.itlAt(context, 1);
    }
    decodeSeconds = osl / capacity;
  }
  const perRequest = prefillSeconds + decodeSeconds;
  // A backlog (prompts queued on the workers) beyond what they clear within the TTFT wait budget is
  // demand too: arrivals alone size for a steady state that never works it off, and a request routed
  // behind it waits for all of it. The share within the budget is the steady state's own queue, which
  // the queueing headroom below already sizes for. Spread over the drain interval, the excess adds
  // excess tokens / (prefill capacity × drain s) replica-equivalents.
  let backlogLoad = 0;
  if (role !== 'decode' && backlog && backlog.tokens > 0 && backlog.drainS > 0) {
    const capacity = engine.prefillCapacity(islEff);
    const waitS = Math.max(0, (targets.ttftMs - engine.ttftAt(islEff)) / 1000);
    const excess = backlog.tokens - backlog.engines * capacity * waitS;
    if (excess > 0) {
      backlogLoad = excess / capacity / backlog.drainS;
      constraints.push('prefill_backlog');
    }
  }
  const effectiveRate = perRequest > 0 ? rate + backlogLoad / perRequest : rate;
  let replicas = Math.ceil(effectiveRate * perRequest - 1e-9);
  let ttftMs: number | undefined;
  if (role !== 'decode') {
    ttftMs = engine.ttftAt(islEff);
    const queued = replicasForWait(
      effectiveRate,
      perRequest,
      (targets.ttftMs - ttftMs) / 1000,
      targets.ttftMissShare ?? TTFT_MISS_SHARE,
    );
    if (queued > replicas) {
      replicas = queued;
      constraints.push('ttft_queueing');
    }
    const floor = Math.ceil(ttftMs / targets.ttftMs);
    if (ttftMs > targets.ttftMs && floor > replicas) {
      replicas = floor;
      constraints.push('ttft_floor');
    }
  }
  return {
    kind: 'sized',
    role,
    replicas: Math.max(0, replicas),
    constraints,
    capacityRps: perRequest > 0 ? 1 / perRequest : Number.POSITIVE_INFINITY,
    ...(ttftMs === undefined ? {} : { ttftMs }),
  };
}
