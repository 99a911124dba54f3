// The load loop's pure stages (DESIGN §13, after Dynamo's load-based planner): per engine, estimate the
// TTFT a new request would see and the ITL of its running sequences from the engine's own load report
// and the measured profile; then +1 replica when EVERY engine of the service misses the SLA, −1 when
// every engine is well under it (below `scaleDownRatio` × target), never both, else nothing.
//
//   TTFT_est = ttftAt(ISL_eff) + 1000 × pendingPrefillTokens / prefillCapacity(ISL_eff)     ms
//              (the new prompt waits for the prompt tokens admitted before it, then runs alone)
//   ITL_est  = itlAt(ISL + OSL/2, max(1, running + waiting))                                ms
//              (waiting requests join the batch next; context from the last ISL/OSL seen)
//
// Prefill engines are judged on TTFT, decode engines on ITL, aggregated engines on both (an agg engine
// misses when either misses and is well under when both are).
import type { LoadMetrics } from '../api/index.js';
import type { EngineModel } from './engine-model.js';
import type { Role } from './reasons.js';
import type { SlaTargets } from './throughput.js';

export interface SequenceShape {
  /** Mean prompt tokens. */
  isl: number;
  /** Mean output tokens. */
  osl: number;
  /** Prefix-cache hit rate, 0..1 (0 when unknown: more prefill work, never less). */
  kvHitRate: number;
}

export interface EngineEstimate {
  workerId: string;
  ttftMs?: number;
  itlMs?: number;
}

export function estimateEngine(
  role: Role,
  load: LoadMetrics,
  shape: SequenceShape,
  engine: EngineModel,
): EngineEstimate {
  const estimate: EngineEstimate = { workerId: load.workerId };
  if (role !== 'decode') {
    const islEff = shape.isl * (1 - Math.min(1, Math.max(0, shape.kvHitRate)));
    estimate.ttftMs =
      engine.ttftAt(islEff) + (1000 * load.pendingPrefillTokens) / engine.prefillCapacity(islEff);
  }
  if (role !== 'prefill') {
    const concurrency = Math.max(1, load.runningRequests + load.waitingRequests);
    estimate.itlMs = engine.itlAt(shape.isl + shape.osl / 2, concurrency);
  }
  return estimate;
}

export type LoadVerdict = 'up' | 'down' | 'hold';

/** +1 when every engine misses, −1 when every engine is below `scaleDownRatio` of every target. */
export function loadVerdict(
  estimates: readonly EngineEstimate[],
  targets: SlaTargets,
  scaleDownRatio: number,
): LoadVerdict {
  if (estimates.length === 0) return 'hold';
  const misses = (e: EngineEstimate) =>
    (e.ttftMs !== undefined && e.ttftMs > targets.ttftMs) ||
    (e.itlMs !== undefined && e.itlMs > targets.itlMs);
  const wellUnder = (e: EngineEstimate) =>
    (e.ttftMs === undefined || e.ttftMs < scaleDownRatio * targets.ttftMs) &&
    (e.itlMs === undefined || e.itlMs < scaleDownRatio * targets.itlMs);
  // An engine cannot both miss and be well under (scaleDownRatio < 1), so at most one branch holds.
  if (estimates.every(misses)) return 'up';
  if (estimates.every(wellUnder)) return 'down';
  return 'hold';
}
