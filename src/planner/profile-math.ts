// What one replica can do, read off a measured profile (src/api/planner-profile.ts): pure functions of
// the profile's points, for the planner's PROPOSE stage (DESIGN §13). Piecewise-linear interpolation
// between measured points; outside the grid each function picks the side that errs towards more
// replicas, never fewer:
//
//   ttftAt          below the first ISL: the first TTFT; beyond the last: the last segment's slope
//                   carried on (never below the last TTFT).
//   prefillCapacity clamped to the first / last point (throughput levels off with ISL).
//   itlAt           in concurrency: clamped below, the last segment's slope carried on above; in context
//                   length: clamped below, the last two contexts' slope carried on above.
//   decodeCapacity  no concurrency beyond the largest measured one at a context (that is where KV or
//                   max sequences stopped the grid); below the first context: the first context's
//                   figure; beyond the last: the last one's × lastContext / context (KV holds that many
//                   fewer sequences, decode being bound by KV reads).
import type { DecodePoint, PlannerProfile, PrefillPoint } from '../api/index.js';

interface XY {
  readonly x: number;
  readonly y: number;
}

type Above = 'clamp' | 'extrapolate';

/**
 * y at x on the polyline through `points` (x strictly increasing, at least one). Below the first x: the
 * first y. Above the last: the last y ('clamp'), or the last segment's slope carried on, never below
 * the last y ('extrapolate').
 */
export function interpolate(points: readonly XY[], x: number, above: Above = 'clamp'): number {
  const first = points[0];
  if (first === undefined) throw new RangeError('interpolate: no points');
  if (x <= first.x) return first.y;
  for (let i = 1; i < points.length; i++) {
    const hi = points[i] as XY;
    if (x <= hi.x) {
      const lo = points[i - 1] as XY;
      return lo.y + ((x - lo.x) / (hi.x - lo.x)) * (hi.y - lo.y);
    }
  }
  const last = points[points.length - 1] as XY;
  const before = points[points.length - 2];
  if (above === 'clamp' || before === undefined) return last.y;
  const slope = (last.y - before.y) / (last.x - before.x);
  return Math.max(last.y, last.y + slope * (x - last.x));
}

function checkArg(name: string, value: number, allowInfinity = false): void {
  if (Number.isNaN(value) || value < 0 || (!allowInfinity && !Number.isFinite(value))) {
    throw new RangeError(`${name}: expected a finite number ≥ 0, got ${value}`);
  }
}

function prefillPoints(profile: Pick<PlannerProfile, 'prefill'>, y: (p: PrefillPoint) => number): XY[] {
  return [...profile.prefill].sort((a, b) => a.isl - b.isl).map((p) => ({ x: p.isl, y: y(p) }));
}

/** Time to first token of a lone prompt of `isl` uncached tokens on an idle replica, ms. */
export function ttftAt(profile: Pick<PlannerProfile, 'prefill'>, isl: number): number {
  checkArg('isl', isl);
  return interpolate(
    prefillPoints(profile, (p) => p.ttftMs),
    isl,
    'extrapolate',
  );
}

/** Prompt tokens per second one replica computes with prompts of `isl` uncached tokens (budget full). */
export function prefillCapacity(profile: Pick<PlannerProfile, 'prefill'>, isl: number): number {
  checkArg('isl', isl);
  return interpolate(
    prefillPoints(profile, (p) => p.tokensPerSecond),
    isl,
    'clamp',
  );
}

/** The decode points of each measured context length, by context, each by concurrency. */
function decodeGroups(profile: Pick<PlannerProfile, 'decode'>): { context: number; points: DecodePoint[] }[] {
  const byContext = new Map<number, DecodePoint[]>();
  for (const p of profile.decode) {
    const list = byContext.get(p.contextLength) ?? [];
    list.push(p);
    byContext.set(p.contextLength, list);
  }
  return [...byContext.entries()]
    .sort(([a], [b]) => a - b)
    .map(([context, points]) => ({ context, points: points.sort((a, b) => a.concurrency - b.concurrency) }));
}

/** A per-context figure f(group) across context lengths, with the given rule beyond the last context. */
function acrossContexts<G extends { context: number }>(
  groups: readonly G[],
  contextLength: number,
  f: (group: G) => number,
  beyond: (last: G, lastValue: number, before: G | undefined) => number,
): number {
  const first = groups[0];
  if (first === undefined) throw new RangeError('profile: no decode points');
  if (contextLength <= first.context) return f(first);
  for (let i = 1; i < groups.length; i++) {
    const hi = groups[i] as G;
    if (contextLength <= hi.context) {
      const lo = groups[i - 1] as G;
      const t = (contextLength - lo.context) / (hi.context - lo.context);
      return f(lo) + t * (f(hi) - f(lo));
    }
  }
  const last = groups[groups.length - 1] as G;
  return beyond(last, f(last), groups[groups.length - 2]);
}

/** Inter-token latency of `concurrency` sequences of `contextLength` tokens decoding on one replica, ms. */
export function itlAt(
  profile: Pick<PlannerProfile, 'decode'>,
  contextLength: number,
  concurrency: number,
): number {
  checkArg('contextLength', contextLength);
  checkArg('concurrency', concurrency);
  const itl = (g: { points: DecodePoint[] }) =>
    interpolate(
      g.points.map((p) => ({ x: p.concurrency, y: p.itlMs })),
      concurrency,
      'extrapolate',
    );
  return acrossContexts(decodeGroups(profile), contextLength, itl, (last, lastItl, before) => {
    if (before === undefined) return lastItl;
    const slope = (lastItl - itl(before)) / (last.context - before.context);
    return Math.max(lastItl, lastItl + slope * (contextLength - last.context));
  });
}

/** Where one replica runs at one measured context when its ITL may be at most `itlTargetMs`. */
export interface DecodeOperatingPoint {
  /** Sequences decoding together (interpolated; 0 when even one sequence misses the target). */
  readonly concurrency: number;
  /** Output tokens per second of all of them (0 likewise). */
  readonly tokensPerSecond: number;
}

/**
 * The highest concurrency at which ITL ≤ target, on the running maximum of the measured ITLs (so one
 * noisy dip cannot lift the answer past a point that missed), interpolated within the segment where
 * the target is crossed; the largest measured concurrency when none misses.
 */
function operatingPoint(points: readonly DecodePoint[], itlTargetMs: number): DecodeOperatingPoint {
  let envelope = 0;
  let best: DecodeOperatingPoint = { concurrency: 0, tokensPerSecond: 0 };
  let previous: { point: DecodePoint; envelope: number } | undefined;
  for (const point of points) {
    envelope = Math.max(envelope, point.itlMs);
    if (envelope > itlTargetMs) {
      if (previous === undefined) return best;
      const t = (itlTargetMs - previous.envelope) / (envelope - previous.envelope);
      const p = previous.point;
      return {
        concurrency: p.concurrency + t * (point.concurrency - p.concurrency),
        tokensPerSecond: p.tokensPerSecond + t * (point.tokensPerSecond - p.tokensPerSecond),
      };
    }
    best = { concurrency: point.concurrency, tokensPerSecond: point.tokensPerSecond };
    previous = { point, envelope };
  }
  return best;
}

/**
 * The decode operating point of one replica at `contextLength` with ITL ≤ `itlTargetMs` (Infinity: no
 * target), interpolated across the measured context lengths (see the header for the edges).
 */
export function decodeOperatingPoint(
  profile: Pick<PlannerProfile, 'decode'>,
  contextLength: number,
  itlTargetMs: number,
): DecodeOperatingPoint {
  checkArg('contextLength', contextLength);
  checkArg('itlTargetMs', itlTargetMs, true);
  const groups = decodeGroups(profile).map((g) => ({ ...g, at: operatingPoint(g.points, itlTargetMs) }));
  const concurrency = acrossContexts(
    groups,
    contextLength,
    (g) => g.at.concurrency,
    (last, value) => (value * last.context) / contextLength,
  );
  const tokensPerSecond = acrossContexts(
    groups,
    contextLength,
    (g) => g.at.tokensPerSecond,
    (last, value) => (value * last.context) / contextLength,
  );
  return { concurrency, tokensPerSecond };
}

/**
 * Output tokens per second one replica sustains with sequences of `contextLength` tokens while every
 * one of them sees ITL ≤ `itlTargetMs`; 0 when even a lone sequence misses the target.
 */
export function decodeCapacity(
  profile: Pick<PlannerProfile, 'decode'>,
  contextLength: number,
  itlTargetMs: number,
): number {
  return decodeOperatingPoint(profile, contextLength, itlTargetMs).tokensPerSecond;
}
