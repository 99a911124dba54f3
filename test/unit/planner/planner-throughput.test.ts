import { describe, expect, it } from 'vitest';
import { known, unknown } from '../../../src/planner/metric.js';
import { type PredictedLoad, proposeReplicas } from '../../../src/planner/throughput.js';
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
    // prefill: 10 req/s × 3000 × (1 − 0.5) = 15 000 tok/s / 10 000 = 1.5 → 2; TTFT 150 ms < 500.
    // decode: 10 req/s × 150 = 1 500 tok/s / 2 000 = 0.75 → 1.
    const [p, d] = proposeReplicas(['prefill', 'decode'], load(10, 3000, 150, known(0.5)), ENGINE, TARGETS);
    expect(p).toMatchObject({ kind: 'sized', role: 'prefill', replicas: 2, constraints: [], ttftMs: 150 });
    expect(d).toMatchObject({ kind: 'sized', role: 'decode', replicas: 1, constraints: [] });
    expect(p?.kind === 'sized' && p.capacityRps).toBeCloseTo(10_000 / 1500);
    expect(d?.kind === 'sized' && d.capacityRps).toBeCloseTo(2000 / 150);
  });

  it('agg: one engine time-shares prefill and decode', () => {
    // 10 × (1500 / 10 000 + 150 / 2 000) = 10 × 0.225 = 2.25 → 3.
    const [a] = proposeReplicas(['agg'], load(10, 3000, 150, known(0.5)), ENGINE, TARGETS);
    expect(a).toMatchObject({ kind: 'sized', replicas: 3 });
  });

  it('TTFT floor: a prompt alone slower than the target asks ceil(ttft / target) replicas', () => {
    // 0.1 req/s × 8000 = 800 tok/s → 1 replica; but TTFT 800 ms > 500 → ceil(1.6) = 2.
    const [p] = proposeReplicas(['prefill'], load(0.1, 8000, 10), ENGINE, TARGETS);
    expect(p).toMatchObject({ replicas: 2, constraints: ['ttft_floor'] });
  });

  it('an unknown KV hit rate counts the prompt uncached, and says so', () => {
    const [p] = proposeReplicas(['prefill'], load(10, 3000, 150, unknown('no_data')), ENGINE, TARGETS);
    expect(p).toMatchObject({ replicas: 3, constraints: ['kv_hit_rate_assumed_zero'] });
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
