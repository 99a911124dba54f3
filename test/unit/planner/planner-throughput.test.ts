import { describe, expect, it } from 'vitest';
import { known, unknown } from '../../../src/planner/metric.js';
import {
  erlangC,
  heldReplicas,
  type PredictedLoad,
  proposeReplicas,
  rampForecast,
  replicasForWait,
} from '../../../src/planner/throughput.js';
import { ENGINE } from './fakes.js';

const TARGETS = { ttftMs: 500, itlMs: 50 };
const load = (rate: number, isl: number, osl: number, hit = known(0)): PredictedLoad => ({
  requestRate: known(rate),
  isl: known(isl),
  osl: known(osl),
  kvHitRate: hit,
});

describe('proposeReplicas (worked numbers, engine: 10 000 prefill tok/s, 2 000 decode tok/s)', () => {
  it('disagg: prefill sees the KV hit rate, decode sizes by output tokens', () => {
    // prefill: 10 req/s × 3000 × (1 − 0.5) = 15 000 tok/s / 10 000 = 1.5 → 2 at 100 %; TTFT 150 ms,
    // so a wait budget of 350 ms with S = 0.15 s: 2 replicas miss 6.2 % > 5 %, 3 miss 0.02 % → 3.
    // decode: 10 req/s × 150 = 1 500 tok/s / 2 000 = 0.75 → 1.
    const [p, d] = proposeReplicas(['prefill', 'decode'], load(10, 3000, 150, known(0.5)), ENGINE, TARGETS);
    expect(p).toMatchObject({
      kind: 'sized',
      role: 'prefill',
      replicas: 3,
      constraints: ['ttft_queueing'],
      ttftMs: 150,
    });
    expect(d).toMatchObject({ kind: 'sized', role: 'decode', replicas: 1, constraints: [] });
    expect(p?.kind === 'sized' && p.capacityRps).toBeCloseTo(10_000 / 1500);
    expect(d?.kind === 'sized' && d.capacityRps).toBeCloseTo(2000 / 150);
  });

  it('agg: one engine time-shares prefill and decode', () => {
    // 10 × (1500 / 10 000 + 150 / 2 000) = 10 × 0.225 = 2.25 → 3 at 100 %; queueing (S = 0.225 s,
    // budget 500 − 150 = 350 ms): 3 replicas miss C(3, 2.25) · e^(−2·0.75·0.35/0.225) = 0.568 · 0.097
    // = 5.5 % > 5 %, 4 miss 0.1 % → 4.
    const [a] = proposeReplicas(['agg'], load(10, 3000, 150, known(0.5)), ENGINE, TARGETS);
    expect(a).toMatchObject({ kind: 'sized', replicas: 4, constraints: ['ttft_queueing'] });
  });

  it('a backlog beyond the wait budget is demand, worked off over the drain interval', () => {
    // agg: 10 × 0.225 = 2.25 replica-equivalents. Two engines each clear 10 000 tok/s × 0.35 s (the
    // budget 500 − 150 ms) = 3 500 tokens within the TTFT target: 45 000 − 7 000 = 38 000 tokens / 10 000
    // tok/s = 3.8 engine-seconds over 1.5 s = 2.53 more: 4.78 → 5 at 100 %; queueing (a = 4.78,
    // S = 0.225 s, budget 350 ms): 6 miss C(6, 4.78) · e^(−2·1.22·1.56) = 0.51 · 0.022 = 1.1 % → 6.
    const [a] = proposeReplicas(['agg'], load(10, 3000, 150, known(0.5)), ENGINE, TARGETS, {
      tokens: 45_000,
      drainS: 1.5,
      engines: 2,
    });
    expect(a).toMatchObject({ replicas: 6, constraints: ['prefill_backlog', 'ttft_queueing'] });
    // Within what the engines clear in the budget (2 × 3 500): the steady state's own queue, no more.
    const [within] = proposeReplicas(['agg'], load(10, 3000, 150, known(0.5)), ENGINE, TARGETS, {
      tokens: 7_000,
      drainS: 1.5,
      engines: 2,
    });
    expect(within).toMatchObject({ replicas: 4, constraints: ['ttft_queueing'] });
    // Decode has no prefill backlog.
    const [d] = proposeReplicas(['decode'], load(10, 3000, 150), ENGINE, TARGETS, {
      tokens: 45_000,
      drainS: 1.5,
      engines: 2,
    });
    expect(d).toMatchObject({ replicas: 1, constraints: [] });
  });

  it('TTFT floor: a prompt alone slower than the target asks ceil(ttft / target) replicas', () => {
    // 0.1 req/s × 8000 = 800 tok/s → 1 replica; but TTFT 800 ms > 500 → ceil(1.6) = 2.
    const [p] = proposeReplicas(['prefill'], load(0.1, 8000, 10), ENGINE, TARGETS);
    expect(p).toMatchObject({ replicas: 2, constraints: ['ttft_floor'] });
  });

  it('an unknown KV hit rate counts the prompt uncached, and says so', () => {
    // 10 × 3000 / 10 000 = 3 at 100 %; S = 0.3 s, TTFT 300 ms, budget 200 ms: 4 miss 13 %, 5 miss 1.6 %.
    const [p] = proposeReplicas(['prefill'], load(10, 3000, 150, unknown('no_data')), ENGINE, TARGETS);
    expect(p).toMatchObject({ replicas: 5, constraints: ['kv_hit_rate_assumed_zero', 'ttft_queueing'] });
  });

  it('an unreachable ITL target sizes one sequence per replica and says so', () => {
    // decodeCapacity 0 at 5 ms; at concurrency 1: ITL 11 ms → 90.9 tok/s; 1 × 150 / 90.9 = 1.65 → 2.
    const [d] = proposeReplicas(['decode'], load(1, 100, 150), ENGINE, { ttftMs: 500, itlMs: 5 });
    expect(d).toMatchObject({ replicas: 2, constraints: ['itl_unreachable'] });
  });

  it('unknown inputs propose nothing and say which', () => {
    const noRate = { ...load(1, 1, 1), requestRate: unknown('unreachable') };
    expect(proposeReplicas(['decode'], noRate, ENGINE, TARGETS)[0]).toMatchObject({
      kind: 'unknown',
      reason: 'no_traffic_data',
    });
    const noOsl = { ...load(1, 1, 1), osl: unknown('no_samples') };
    expect(proposeReplicas(['decode'], noOsl, ENGINE, TARGETS)[0]).toMatchObject({
      kind: 'unknown',
      reason: 'no_sequence_data',
      detail: 'OSL no_samples',
    });
    // Prefill does not need OSL.
    expect(proposeReplicas(['prefill'], noOsl, ENGINE, TARGETS)[0]).toMatchObject({ kind: 'sized' });
  });

  it('a known zero rate needs no replica (min applies later), whatever ISL/OSL are', () => {
    const idle = { ...load(0, 1, 1), isl: unknown('no_samples'), osl: unknown('no_samples') };
    expect(proposeReplicas(['agg'], idle, ENGINE, TARGETS)[0]).toMatchObject({ kind: 'sized', replicas: 0 });
  });
});

describe('queueing headroom (M/D/c, throughput.ts)', () => {
  it('erlangC: the chance to wait in M/M/c', () => {
    // c = 1: the utilisation. c = 2, a = 1: 1/3. c = 2, a = 1.5: B = 0.3103, C = 2B / (2 − 1.5 (1 − B)) = 0.643.
    expect(erlangC(1, 0.5)).toBeCloseTo(0.5);
    expect(erlangC(2, 1)).toBeCloseTo(1 / 3);
    expect(erlangC(2, 1.5)).toBeCloseTo(0.6429, 4);
    expect(erlangC(2, 2)).toBe(1);
    expect(erlangC(3, 0)).toBe(0);
  });

  it('replicasForWait: the least c with C(c, a) · exp(−2 (c − a) w / S) ≤ ε', () => {
    // The bench's shape: S = 0.1 s (one replica ≈ 10 req/s), budget 300 ms: floor(a) + 1.
    expect([10, 20, 30, 40, 50].map((r) => replicasForWait(r, 0.1, 0.3))).toEqual([2, 3, 4, 5, 6]);
    // a = 1.5, S = 0.15, w = 0.35: c = 2 misses 0.643 · e^(−2·0.5·2.33) = 6.2 % → 3.
    expect(replicasForWait(10, 0.15, 0.35)).toBe(3);
    // A looser ε keeps 2.
    expect(replicasForWait(10, 0.15, 0.35, 0.07)).toBe(2);
    // A tight budget asks more: S = 0.3, w = 0.05, a = 3: 4 miss 0.51 · e^(−0.33) = 37 %, 5: 12 %, 6: 3.6 %.
    expect(replicasForWait(10, 0.3, 0.05)).toBe(6);
    // No budget (a lone prompt already misses) or no load: plain ceil(a).
    expect(replicasForWait(10, 0.3, -0.1)).toBe(3);
    expect(replicasForWait(0, 0.3, 0.2)).toBe(0);
  });
});

describe('rampForecast (worked numbers)', () => {
  it('extends the least-squares line to the end of the next interval plus the start time', () => {
    // 10, 20, 30, 40 at 1 s: mean 25 at x = 1.5, slope 10/interval; the last window's mean stands at
    // x = 3, half an interval ago; ahead = 1.5 + 0.5 + 1 + 0.5/1 = 3.5 → 25 + 10 × 3.5 = 60.
    expect(rampForecast([10, 20, 30, 40], 1, 0.5)).toBeCloseTo(60, 9);
    // Only the last 4 count: a leading 1000 changes nothing.
    expect(rampForecast([1000, 10, 20, 30, 40], 1, 0.5)).toBeCloseTo(60, 9);
    // Two points at 2 s, start 1 s: mean 15 at x = 0.5, slope 10; ahead = 0.5 + 1.5 + 0.5 = 2.5 → 40.
    expect(rampForecast([10, 20], 2, 1)).toBeCloseTo(40, 9);
    // Noise averages out: 30, 34, 26, 30 → slope −0.8, 30 − 0.8 × 3.5 = 27.2.
    expect(rampForecast([30, 34, 26, 30], 1, 0.5)).toBeCloseTo(27.2, 9);
  });

  it('never negative; undefined with fewer than two points', () => {
    expect(rampForecast([40, 10], 1, 0.5)).toBe(0); // 25 − 30 × 2.5 < 0
    expect(rampForecast([5], 1, 0.5)).toBeUndefined();
    expect(rampForecast([], 1, 0.5)).toBeUndefined();
  });
});

describe('heldReplicas (scale-down hysteresis)', () => {
  it('rises at once, falls only when the last `hold` proposals are all lower', () => {
    expect(heldReplicas([3, 7], 2)).toBe(7); // up: at once
    expect(heldReplicas([3, 7, 4], 2)).toBe(7); // one lower proposal: held
    expect(heldReplicas([3, 7, 4, 5], 2)).toBe(5); // two lower: the larger of them
    expect(heldReplicas([9, 4], 1)).toBe(4); // hold 1: no hysteresis
    expect(heldReplicas([], 2)).toBe(0);
  });
});
