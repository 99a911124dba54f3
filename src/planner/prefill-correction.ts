// Corrects the profile's prefill capacity by what the engines achieve under their real load. A profile
// is measured on an idle engine, one prompt at a time; under load, decode rows ride along in every
// prefill step and the host has other work, so a replica computes fewer prompt tokens per second than
// the profile says (the planner bench: about 0.8×). Sized on the profile alone, the planner under-
// provisions and leans on its backlog term to catch up. Dynamo's planner has the same idea (its
// correction factors divide the observed by the expected TTFT, which also counts queueing as a slow
// engine); ours compares throughputs the engines measure themselves (LoadMetrics.prefillTokensTotal /
// prefillSeconds), so a queue is not mistaken for a slow engine.
import type { LoadMetrics } from '../api/index.js';
import type { EngineModel } from './engine-model.js';

/** EWMA weight of the newest interval's measurement. */
export const PREFILL_CORRECTION_ALPHA = 0.3;
/** Fewer prompt tokens computed in an interval than this give no new measurement (too noisy). */
export const MIN_CORRECTION_TOKENS = 4096;
/** A measurement outside these bounds is clamped to them (a profile of another engine, a stalled host). */
export const CORRECTION_BOUNDS = { min: 0.2, max: 5 } as const;

/** The prefill correction of one service: observed over profiled prompt tokens per second, smoothed. */
export class PrefillCorrection {
  readonly #last = new Map<string, { tokens: number; seconds: number }>();
  #factor: number | undefined;

  /** The factor now; undefined before the first measurement (the profile is used as is). */
  get factor(): number | undefined {
    return this.#factor;
  }

  /**
   * One interval: the differences of the workers' cumulative counters since the previous call, against
   * the profile's prompt tokens per second at the ISL now (`profileTokensPerSecond`).
   */
  update(reports: readonly LoadMetrics[], profileTokensPerSecond: number): number | undefined {
    let tokens = 0;
    let seconds = 0;
    const seen = new Set<string>();
    for (const r of reports) {
      if (r.prefillTokensTotal === undefined || r.prefillSeconds === undefined) continue;
      seen.add(r.workerId);
      const prev = this.#last.get(r.workerId);
      this.#last.set(r.workerId, { tokens: r.prefillTokensTotal, seconds: r.prefillSeconds });
      // A new worker has no baseline yet; counters that went back belong to a restarted engine.
      if (prev === undefined || r.prefillTokensTotal < prev.tokens || r.prefillSeconds < prev.seconds)
        continue;
      tokens += r.prefillTokensTotal - prev.tokens;
      seconds += r.prefillSeconds - prev.seconds;
    }
    for (const id of [...this.#last.keys()]) if (!seen.has(id)) this.#last.delete(id);
    if (tokens >= MIN_CORRECTION_TOKENS && seconds > 0 && profileTokensPerSecond > 0) {
      const measured = tokens / seconds / profileTokensPerSecond;
      const sample = Math.min(CORRECTION_BOUNDS.max, Math.max(CORRECTION_BOUNDS.min, measured));
      this.#factor =
        this.#factor === undefined
          ? sample
          : this.#factor + PREFILL_CORRECTION_ALPHA * (sample - this.#factor);
    }
    return this.#factor;
  }
}

/** The engine model with its prefill scaled by `factor` (capacity × factor, a lone prompt's TTFT ÷ factor). */
export function withPrefillCorrection(engine: EngineModel, factor: number): EngineModel {
  return {
    ...engine,
    prefillCapacity: (isl) => engine.prefillCapacity(isl) * factor,
    ttftAt: (isl) => engine.ttftAt(isl) / factor,
  };
}
