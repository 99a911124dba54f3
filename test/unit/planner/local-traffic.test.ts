// The planner's local inputs read from a frontend's own metrics registry (dynamo run --planner): the
// traffic of a window from counter and histogram differences, and the scale-to-zero demand signal.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FrontendMetrics } from '../../../src/frontend/metrics.js';
import { LocalDemand, LocalTraffic } from '../../../src/planner/local-traffic.js';
import { known } from '../../../src/planner/metric.js';
import { holdZero, type PlannedService, wakeWant } from '../../../src/planner/planner.js';

function served(
  metrics: FrontendMetrics,
  model: string,
  usage: { promptTokens: number; completionTokens: number; cachedTokens: number },
) {
  const o = metrics.start({}, model, 'completions', 'stream');
  o.firstToken();
  o.tokens(usage.completionTokens);
  o.finish('success', usage);
}

describe('LocalTraffic', () => {
  it('answers rate, mean ISL/OSL, TTFT, ITL and KV hit rate of the window, for its model only', async () => {
    const registry = new Registry();
    const metrics = new FrontendMetrics(registry, () => []);
    served(metrics, 'm', { promptTokens: 999, completionTokens: 9, cachedTokens: 0 }); // before the start
    let now = 0;
    const traffic = await LocalTraffic.start(registry, 'm', () => now);
    served(metrics, 'm', { promptTokens: 100, completionTokens: 10, cachedTokens: 50 });
    served(metrics, 'm', { promptTokens: 300, completionTokens: 30, cachedTokens: 0 });
    served(metrics, 'other', { promptTokens: 5000, completionTokens: 1, cachedTokens: 0 });
    // Arrivals, not completions: two more requests still running count in the rate.
    metrics.start({}, 'm', 'completions', 'stream');
    metrics.start({}, 'm', 'completions', 'stream');
    now = 4000;
    const o = await traffic.observe(4);
    expect(o.requestRate).toEqual(known(1));
    expect(o.isl).toEqual(known(200));
    expect(o.osl).toEqual(known(20));
    expect(o.kvHitRate).toEqual(known(50 / 400));
    expect(o.ttftMs.kind).toBe('known');
    expect(o.itlMs.kind).toBe('known');

    // A quiet window: a measured zero rate; means over no sample are unknown, not zero.
    now = 6000;
    const quiet = await traffic.observe(2);
    expect(quiet.requestRate).toEqual(known(0));
    expect(quiet.isl).toMatchObject({ kind: 'unknown', reason: 'no_samples' });
    expect(quiet.kvHitRate).toMatchObject({ kind: 'unknown', reason: 'no_samples' });
  });

  it('is unknown on a registry without frontend metrics', async () => {
    const traffic = await LocalTraffic.start(new Registry(), 'm');
    const o = await traffic.observe(1);
    expect(o.requestRate).toMatchObject({ kind: 'unknown', reason: 'no_data' });
  });
});

describe('scale to zero: demand signal and rules', () => {
  const agg: PlannedService = { role: 'agg', name: 'agg', component: 'backend' };
  const prefill: PlannedService = { role: 'prefill', name: 'prefill', component: 'prefill' };

  it('reads waiting and in-flight requests of the model', async () => {
    const registry = new Registry();
    let waiting = 3;
    const metrics = new FrontendMetrics(
      registry,
      () => [],
      () => [{ model: 'm', depth: waiting }],
    );
    metrics.start({}, 'm', 'completions', 'stream');
    const demand = new LocalDemand(registry, 'm');
    expect(await demand.demand()).toEqual({ waiting: known(3), inflight: known(1) });
    waiting = 0;
    expect((await demand.demand()).waiting).toEqual(known(0));
    expect((await new LocalDemand(new Registry(), 'm').demand()).waiting.kind).toBe('unknown');
  });

  it('holds a proposal of zero at one unless nothing waits or runs and the signal is known', () => {
    const zero = { kind: 'want' as const, replicas: 0, constraints: [] };
    const idle = { waiting: known(0), inflight: known(0) };
    expect(holdZero(agg, zero, idle)).toEqual(zero);
    expect(holdZero(agg, zero, { waiting: known(0), inflight: known(2) })).toMatchObject({
      replicas: 1,
      constraints: ['zero_held'],
    });
    expect(holdZero(agg, zero, undefined)).toMatchObject({ replicas: 1, constraints: ['zero_held'] });
    // A prefill service at zero only means local prefill on the decode workers.
    expect(holdZero(prefill, zero, undefined)).toEqual(zero);
  });

  it('wakes a service at zero that requests wait for, and nothing else', () => {
    const waiting = { waiting: known(2), inflight: known(0) };
    const state = (replicas: number) => ({
      name: 'agg',
      replicas,
      readyReplicas: replicas,
      gpusPerReplica: 1,
    });
    expect(wakeWant(agg, state(0), waiting)).toMatchObject({
      kind: 'want',
      replicas: 1,
      constraints: ['scale_from_zero'],
    });
    expect(wakeWant(agg, state(2), waiting)).toEqual({ kind: 'none', reason: 'no_change' });
    expect(wakeWant(prefill, state(0), waiting)).toEqual({ kind: 'none', reason: 'no_change' });
  });
});
