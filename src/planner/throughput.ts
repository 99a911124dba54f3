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
//
// The TTFT floor is Dynamo's: when one prompt alone takes longer than the target, ask for
// ceil(ttft / target) replicas (queueing behind others only adds to it). Min, max and the GPU budget
// are applied later (budget.ts).
import type { EngineModel } from './engine-model.js';
import type { Metric } from './metric.js';
import type { Constraint, DecisionReason, Role } from './reasons.js';

export interface SlaTargets {
  ttftMs: number;
  itlMs: number;
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
): RoleProposal[] {
  return roles.map((role) => proposeRole(role, load, engine, targets));
}

function proposeRole(
  role: Role,
  load: PredictedLoad,
  engine: EngineModel,
  targets: SlaTargets,
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
  let replicas = Math.ceil(rate * perRequest - 1e-9);
  let ttftMs: number | undefined;
  if (role !== 'decode') {
    ttftMs = engine.ttftAt(islEff);
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
