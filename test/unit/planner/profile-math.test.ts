// The planner's reading of a profile: interpolation, capacity at a target, and the edges of the grid.
import { describe, expect, it } from 'vitest';
import type { DecodePoint, PlannerProfile } from '../../../src/api/index.js';
import {
  decodeCapacity,
  decodeOperatingPoint,
  interpolate,
  itlAt,
  prefillCapacity,
  ttftAt,
} from '../../../src/planner/profile-math.js';

const prefill: PlannerProfile['prefill'] = [
  { isl: 100, ttftMs: 10, tokensPerSecond: 1000 },
  { isl: 1000, ttftMs: 40, tokensPerSecond: 4000 },
  { isl: 2000, ttftMs: 100, tokensPerSecond: 3000 },
];

const d = (
  contextLength: number,
  concurrency: number,
  itlMs: number,
  tokensPerSecond: number,
): DecodePoint => ({
  contextLength,
  concurrency,
  itlMs,
  tokensPerSecond,
});

// Two contexts; ITL rises with concurrency and with context.
const decode: PlannerProfile['decode'] = [
  d(1000, 1, 5, 200),
  d(1000, 10, 10, 1000),
  d(1000, 100, 30, 3000),
  d(4000, 1, 6, 160),
  d(4000, 10, 20, 500),
  d(4000, 25, 40, 600),
];

describe('interpolate', () => {
  const pts = [
    { x: 1, y: 10 },
    { x: 3, y: 30 },
  ];
  it('is linear between points and exact on them', () => {
    expect(interpolate(pts, 1)).toBe(10);
    expect(interpolate(pts, 2)).toBe(20);
    expect(interpolate(pts, 3)).toBe(30);
  });
  it('clamps below; above it clamps or carries the last slope on', () => {
    expect(interpolate(pts, 0)).toBe(10);
    expect(interpolate(pts, 5)).toBe(30);
    expect(interpolate(pts, 5, 'extrapolate')).toBe(50);
  });
  it('never extrapolates below the last value (a falling last segment is noise)', () => {
    expect(
      interpolate(
        [
          { x: 1, y: 10 },
          { x: 2, y: 8 },
        ],
        4,
        'extrapolate',
      ),
    ).toBe(8);
  });
  it('takes a single point as a constant and refuses none', () => {
    expect(interpolate([{ x: 5, y: 7 }], 100, 'extrapolate')).toBe(7);
    expect(() => interpolate([], 1)).toThrow(/no points/);
  });
});

describe('prefill', () => {
  it('ttftAt interpolates in ISL, clamps below, extrapolates beyond the grid', () => {
    expect(ttftAt({ prefill }, 100)).toBe(10);
    expect(ttftAt({ prefill }, 550)).toBe(25);
    expect(ttftAt({ prefill }, 1500)).toBe(70);
    expect(ttftAt({ prefill }, 10)).toBe(10);
    // Last segment: 60 ms per 1000 tokens.
    expect(ttftAt({ prefill }, 3000)).toBe(160);
  });

  it('prefillCapacity interpolates in ISL and clamps at both ends', () => {
    expect(prefillCapacity({ prefill }, 550)).toBe(2500);
    expect(prefillCapacity({ prefill }, 1500)).toBe(3500);
    expect(prefillCapacity({ prefill }, 1)).toBe(1000);
    expect(prefillCapacity({ prefill }, 100_000)).toBe(3000);
  });

  it('does not depend on the order of the points', () => {
    const shuffled = { prefill: [prefill[2], prefill[0], prefill[1]] as PlannerProfile['prefill'] };
    expect(ttftAt(shuffled, 550)).toBe(25);
  });

  it('refuses a negative or NaN ISL', () => {
    expect(() => ttftAt({ prefill }, -1)).toThrow(/isl/);
    expect(() => prefillCapacity({ prefill }, Number.NaN)).toThrow(/isl/);
  });
});

describe('itlAt', () => {
  it('is exact on measured points and bilinear between them', () => {
    expect(itlAt({ decode }, 1000, 10)).toBe(10);
    expect(itlAt({ decode }, 1000, 55)).toBe(20);
    // Halfway in context at concurrency 10: between 10 and 20.
    expect(itlAt({ decode }, 2500, 10)).toBe(15);
  });

  it('clamps below the grid and carries the slope on beyond it', () => {
    expect(itlAt({ decode }, 100, 10)).toBe(10);
    expect(itlAt({ decode }, 1000, 0)).toBe(5);
    // Beyond the largest concurrency at 1000: (30 − 10) / 90 per sequence.
    expect(itlAt({ decode }, 1000, 190)).toBeCloseTo(50);
    // Beyond the largest context at concurrency 10: (20 − 10) / 3000 per token.
    expect(itlAt({ decode }, 7000, 10)).toBeCloseTo(30);
  });
});

describe('decodeCapacity', () => {
  it('is the throughput at the highest concurrency meeting the target, interpolated', () => {
    // At 1000: target 20 is halfway from (10, 1000 tok/s) to (100 seqs, 30 ms, 3000 tok/s).
    expect(decodeOperatingPoint({ decode }, 1000, 20)).toEqual({ concurrency: 55, tokensPerSecond: 2000 });
    expect(decodeCapacity({ decode }, 1000, 10)).toBe(1000);
  });

  it('is 0 when even one sequence misses the target', () => {
    expect(decodeCapacity({ decode }, 1000, 4)).toBe(0);
    expect(decodeOperatingPoint({ decode }, 4000, 5.9)).toEqual({ concurrency: 0, tokensPerSecond: 0 });
  });

  it('stops at the largest measured concurrency when every point meets the target', () => {
    expect(decodeCapacity({ decode }, 1000, 1000)).toBe(3000);
    expect(decodeCapacity({ decode }, 1000, Number.POSITIVE_INFINITY)).toBe(3000);
  });

  it('interpolates across contexts, clamps below, scales by context beyond', () => {
    // Target 10: 1000 tok/s at context 1000; at 4000 halfway from (1, 6 ms, 160) to (10, 20 ms, 500).
    const at4000 = 160 + ((10 - 6) / (20 - 6)) * (500 - 160);
    expect(decodeCapacity({ decode }, 4000, 10)).toBeCloseTo(at4000);
    expect(decodeCapacity({ decode }, 2500, 10)).toBeCloseTo((1000 + at4000) / 2);
    expect(decodeCapacity({ decode }, 10, 10)).toBe(1000);
    expect(decodeCapacity({ decode }, 8000, 10)).toBeCloseTo(at4000 / 2);
  });

  it('takes the running maximum of ITL, so a noisy dip does not lift the answer', () => {
    const noisy = [d(1000, 1, 5, 200), d(1000, 10, 25, 1000), d(1000, 20, 12, 1500), d(1000, 40, 30, 2000)];
    // 25 ms at 10 misses a 15 ms target: the dip at 20 does not count.
    const at = decodeOperatingPoint({ decode: noisy }, 1000, 15);
    expect(at.concurrency).toBeCloseTo(1 + (10 / 20) * 9);
    expect(at.tokensPerSecond).toBeCloseTo(200 + (10 / 20) * 800);
  });

  it('refuses a negative target or context', () => {
    expect(() => decodeCapacity({ decode }, 1000, -1)).toThrow(/itlTargetMs/);
    expect(() => decodeCapacity({ decode }, Number.NaN, 10)).toThrow(/contextLength/);
  });
});
