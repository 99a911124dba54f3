// What one replica can do, as the planner's pure stages see it: four functions of load, so that the
// PROPOSE and load-estimate stages are tested with hand-made numbers and fed in production by a measured
// profile (src/api/planner-profile.ts, read through src/planner/profile-math.ts).
import type { PlannerProfile } from '../api/index.js';
import { decodeCapacity, itlAt, prefillCapacity, ttftAt } from './profile-math.js';

export interface EngineModel {
  /** Prompt tokens per second one replica computes with prompts of `isl` uncached tokens. */
  prefillCapacity(isl: number): number;
  /** TTFT of a lone prompt of `isl` uncached tokens on an idle replica, ms. */
  ttftAt(isl: number): number;
  /** Output tokens per second one replica sustains at `contextLength` with ITL ≤ target; 0: unreachable. */
  decodeCapacity(contextLength: number, itlTargetMs: number): number;
  /** ITL of `concurrency` sequences of `contextLength` tokens decoding on one replica, ms. */
  itlAt(contextLength: number, concurrency: number): number;
}

export function engineModelFromProfile(profile: PlannerProfile): EngineModel {
  return {
    prefillCapacity: (isl) => prefillCapacity(profile, isl),
    ttftAt: (isl) => ttftAt(profile, isl),
    decodeCapacity: (context, itl) => decodeCapacity(profile, context, itl),
    itlAt: (context, concurrency) => itlAt(profile, context, concurrency),
  };
}
