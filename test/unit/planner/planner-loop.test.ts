// The Planner's loops with a fake connector: ticks are called directly (no timers, no clock figures).
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { unknown } from '../../../src/planner/metric.js';
import { Planner, type PlannerConfig, type ScalingMode } from '../../../src/planner/planner.js';
import { PlannerMetrics } from '../../../src/planner/planner-metrics.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { ENGINE, FakeConnector, FakeLoads, FakeTraffic, report, traffic, UNKNOWN_TRAFFIC } from './fakes.js';

const log = createLogger({ level: 'silent' });

function setup(
  options: {
    scaling?: ScalingMode;
    mode?: 'agg' | 'disagg';
    budget?: number;
    min?: number;
    trendWindow?: number;
    scaleDownHold?: number;
    scaleDownStep?: number;
  } = {},
) {
  const mode = options.mode ?? 'disagg';
  const config: PlannerConfig = {
    mode,
    scaling: options.scaling ?? 'active',
    services:
      mode === 'agg'
        ? [{ role: 'agg', name: 'Worker', component: 'worker' }]
        : [
            { role: 'prefill', name: 'Prefill', component: 'prefill' },
            { role: 'decode', name: 'Decode', component: 'backend' },
          ],
    targets: { ttftMs: 500, itlMs: 50 },
    adjustmentIntervalMs: 60_000,
    loadIntervalMs: 5_000,
    predictor: { kind: 'constant' },
    limits: { minReplicas: options.min ?? 1, maxReplicas: 10, maxGpuBudget: options.budget },
    scaleDownRatio: 0.5,
    ...(options.trendWindow === undefined ? {} : { trendWindow: options.trendWindow }),
    ...(options.scaleDownHold === undefined ? {} : { scaleDownHold: options.scaleDownHold }),
    ...(options.scaleDownStep === undefined ? {} : { scaleDownStep: options.scaleDownStep }),
  };
  const connector = new FakeConnector(mode === 'agg' ? { Worker: 1 } : { Prefill: 1, Decode: 1 });
  const source = new FakeTraffic();
  const loads = new FakeLoads();
  const registry = new Registry();
  const metrics = new PlannerMetrics(registry);
  const planner = new Planner(config, { connector, engine: ENGINE, traffic: source, loads, metrics, log });
  return { planner, connector, source, loads, registry };
}

describe('throughput loop', () => {
  it('--trend-window 0 sizes for the predicted rate, --scale-down-hold 1 scales down at once', async () => {
    const { planner, source } = setup({ trendWindow: 0, scaleDownHold: 1 });
    source.next = traffic(10);
    expect((await planner.throughputTick()).map((x) => x.target)).toEqual([5, 1]);
    // 40 req/s: 120 000 tok/s / 10 000 = 12 → max 10 (with the trend it would be the same cap; the
    // decode side shows it: 6 000 tok/s / 2 000 = 3, not the trend's 25 + 30 × 2 = 85 req/s → 7).
    source.next = traffic(40);
    expect((await planner.throughputTick()).map((x) => x.target)).toEqual([10, 3]);
    // Back to 10 req/s: down at once, no held interval.
    source.next = traffic(10);
    expect((await planner.throughputTick()).map((x) => [x.reason, x.target])).toEqual([
      ['scale_down', 5],
      ['scale_down', 1],
    ]);
  });

  it('--scale-down-step 1 releases one replica per decision, and says so', async () => {
    const { planner, source } = setup({ trendWindow: 0, scaleDownHold: 1, scaleDownStep: 1 });
    source.next = traffic(40);
    expect((await planner.throughputTick()).map((x) => x.target)).toEqual([10, 3]);
    source.next = traffic(10);
    const down = await planner.throughputTick();
    expect(down.map((x) => [x.reason, x.target, x.constraints.includes('scale_down_step')])).toEqual([
      ['scale_down', 9, true],
      ['scale_down', 2, true],
    ]);
    expect((await planner.throughputTick()).map((x) => x.target)).toEqual([8, 1]);
    // Up is never limited.
    source.next = traffic(40);
    expect((await planner.throughputTick()).map((x) => x.target)).toEqual([10, 3]);
  });

  it('rising demand scales up, falling demand scales down, to the formulas', async () => {
    const { planner, connector, source } = setup();
    // prefill 30 000 / 10 000 = 3 at 100 %, 5 with queueing headroom (TTFT 300 ms of 500: the
    // worked numbers in planner-throughput.test.ts); decode 1 500 / 2 000 → 1
    source.next = traffic(10);
    let d = await planner.throughputTick();
    expect(d.map((x) => [x.service, x.reason, x.target])).toEqual([
      ['Prefill', 'scale_up', 5],
      ['Decode', 'no_change', 1],
    ]);
    // 40 req/s after 10: the ramp forecast (rampForecast) sizes for 25 + 30 × (0.5 + 1.5 + 0.5/60)
    // = 85.25 req/s: prefill capped at 10; decode 85.25 × 150 / 2 000 = 6.4 → 7 (40 alone: 3).
    source.next = traffic(40);
    d = await planner.throughputTick();
    expect(d.map((x) => [x.reason, x.target, x.constraints])).toEqual([
      ['scale_up', 10, ['ttft_queueing', 'max_replicas']],
      ['scale_up', 7, []],
    ]);
    // 1 req/s: the line through 10, 40, 1 still stands at 17 − 4.5 × 2.508 = 5.7 req/s (prefill 4,
    // decode 1), and the first lower proposal is held (SCALE_DOWN_HOLD 2), and says so.
    source.next = traffic(1);
    d = await planner.throughputTick();
    expect(d.map((x) => [x.reason, x.target, x.constraints.includes('scale_down_held')])).toEqual([
      ['scale_down_held', 10, true],
      ['scale_down_held', 7, true],
    ]);
    // Lower twice in a row: down to the larger of the two (4); the line through 10, 40, 1, 1 falls
    // below 0, so the predictor's 1 req/s is used.
    d = await planner.throughputTick();
    expect(d.map((x) => [x.reason, x.target])).toEqual([
      ['scale_down', 4],
      ['scale_down', 1],
    ]);
    // a = 0.3, but one replica lets 0.3 · e^(−2·0.7·0.2/0.3) = 12 % wait past 200 ms → 2.
    d = await planner.throughputTick();
    expect(d.map((x) => [x.reason, x.target])).toEqual([
      ['scale_down', 2],
      ['no_change', 1],
    ]);
    expect(connector.scaled).toEqual([
      { name: 'Prefill', replicas: 5 },
      { name: 'Prefill', replicas: 10 },
      { name: 'Decode', replicas: 7 },
      { name: 'Prefill', replicas: 4 },
      { name: 'Decode', replicas: 1 },
      { name: 'Prefill', replicas: 2 },
    ]);
    expect(source.windows).toEqual([60, 60, 60, 60, 60]);
  });

  it('unknown traffic decides nothing and says why; the loop keeps going', async () => {
    const { planner, connector, source, registry } = setup();
    source.next = UNKNOWN_TRAFFIC;
    const d = await planner.throughputTick();
    expect(d.map((x) => [x.reason, x.target])).toEqual([
      ['no_traffic_data', undefined],
      ['no_traffic_data', undefined],
    ]);
    expect(connector.scaled).toEqual([]);
    const text = await registry.metrics();
    expect(text).toMatch(/^dynamo_planner_observed_requests_per_second NaN$/im);
    expect(text).toContain('dynamo_planner_input_unknown_total{input="rate",reason="unreachable"} 1');
    expect(text).toContain(
      'dynamo_planner_throughput_scaling_decision{dynamo_planner_throughput_scaling_decision="no_traffic_data"} 1',
    );
    source.next = traffic(10);
    expect((await planner.throughputTick())[0]?.reason).toBe('scale_up');
  });

  it('known rate with unknown ISL is no_sequence_data, not zero demand', async () => {
    const { planner, connector, source } = setup();
    source.next = { ...traffic(10), isl: unknown('no_samples'), osl: unknown('no_samples') };
    const d = await planner.throughputTick();
    expect(d.map((x) => x.reason)).toEqual(['no_sequence_data', 'no_sequence_data']);
    expect(connector.scaled).toEqual([]);
  });

  it('no new action on a service until its previous one is ready', async () => {
    const { planner, connector, source } = setup();
    connector.instantReady = false;
    source.next = traffic(10);
    await planner.throughputTick();
    source.next = traffic(20);
    const d = await planner.throughputTick();
    expect(d[0]).toMatchObject({ reason: 'scaling_in_progress', current: 5, ready: 1 });
    expect(d[0]?.target).toBeUndefined();
    // Decode is not held back by Prefill: it moves on its own (the ramp forecast
    // 15 + 10 × (0.5 + 1.5 + 0.5/60) = 35.08 req/s; 35.08 × 150 / 2 000 = 2.6 → 3).
    expect(d[1]).toMatchObject({ reason: 'scale_up', target: 3 });
    expect(connector.scaled).toEqual([
      { name: 'Prefill', replicas: 5 },
      { name: 'Decode', replicas: 3 },
    ]);
  });

  it('advisory mode decides and reports, scales nothing', async () => {
    const { planner, connector, source, registry } = setup({ scaling: 'advisory' });
    source.next = traffic(10);
    const d = await planner.throughputTick();
    expect(d[0]).toMatchObject({ reason: 'scale_up', target: 5, scaled: false });
    expect(connector.scaled).toEqual([]);
    const text = await registry.metrics();
    expect(text).toContain('dynamo_planner_advisory_mode 1');
    expect(text).toContain('dynamo_planner_target_replicas{service="Prefill"} 5');
    expect(text).toContain('dynamo_planner_predicted_num_prefill_replicas 5');
  });

  it('a budget that cannot fit the minimum: clear reason, no scaling', async () => {
    const { planner, connector, source } = setup({ budget: 1 });
    source.next = traffic(10);
    const d = await planner.throughputTick();
    expect(d.map((x) => x.reason)).toEqual(['budget_infeasible', 'budget_infeasible']);
    expect(d[0]?.detail).toContain('above --max-gpu-budget 1');
    expect(connector.scaled).toEqual([]);
  });

  it('a missing service or an unreachable API: service_unavailable, retried next tick', async () => {
    const { planner, connector, source } = setup();
    source.next = traffic(10);
    connector.failServices = 'DynamoGraphDeployment ns/g: API server unreachable (ECONNREFUSED)';
    const d = await planner.throughputTick();
    expect(d.map((x) => x.reason)).toEqual(['service_unavailable', 'service_unavailable']);
    expect(d[0]?.detail).toContain('ECONNREFUSED');
    connector.failServices = undefined;
    expect((await planner.throughputTick())[0]?.reason).toBe('scale_up');
  });

  it('a failing scale call is reported and retried next tick', async () => {
    const { planner, connector, source } = setup();
    const scale = connector.scale.bind(connector);
    connector.scale = async () => {
      throw new Error('forbidden');
    };
    source.next = traffic(10);
    expect((await planner.throughputTick())[0]).toMatchObject({
      reason: 'scale_failed',
      detail: 'forbidden',
    });
    connector.scale = scale;
    expect((await planner.throughputTick())[0]).toMatchObject({ reason: 'scale_up', scaled: true });
  });
});

describe('load loop', () => {
  it('+1 when every engine misses, −1 when all are well under, never below the throughput target', async () => {
    const { planner, connector, source, loads } = setup({ mode: 'agg' });
    source.next = traffic(2, 3000, 150); // agg: 2 × (0.3 + 0.075) = 0.75 → 1, 2 with queueing headroom
    await planner.throughputTick();
    // Back to 1 replica (as if the headroom were met) to exercise the load rule from there.
    connector.state.set('Worker', { name: 'Worker', replicas: 1, readyReplicas: 1, gpusPerReplica: 1 });
    // Busy: ITL 10 + 60 = 70 ms > 50 on the only engine.
    loads.byComponent.set('worker', [report(1, { runningRequests: 60 })]);
    let d = await planner.loadTick();
    expect(d[0]).toMatchObject({ loop: 'load', reason: 'scale_up', target: 2 });
    // Two engines, one busy, one idle: hold.
    loads.byComponent.set('worker', [report(1, { runningRequests: 60 }), report(2)]);
    d = await planner.loadTick();
    expect(d[0]).toMatchObject({ reason: 'no_change', target: 2 });
    // Both idle: TTFT 300 ms is above 50 % of 500 → hold (agg engines judged on both).
    loads.byComponent.set('worker', [report(1), report(2)]);
    expect((await planner.loadTick())[0]?.reason).toBe('no_change');
    // Short prompts: well under on both → −1, back to the throughput target 1.
    source.next = traffic(2, 1000, 150);
    // Observes ISL 1000: agg 2 × (0.1 + 0.075) → 1, held for a second interval (SCALE_DOWN_HOLD).
    await planner.throughputTick();
    await planner.throughputTick();
    connector.state.set('Worker', { name: 'Worker', replicas: 2, readyReplicas: 2, gpusPerReplica: 1 });
    // (the throughput tick above scaled Worker to 1; put it back to 2 to exercise the load rule)
    loads.byComponent.set('worker', [report(1), report(2)]);
    d = await planner.loadTick();
    expect(d[0]).toMatchObject({ reason: 'scale_down', target: 1 });
    // At the throughput target: −1 is capped.
    loads.byComponent.set('worker', [report(1)]);
    d = await planner.loadTick();
    expect(d[0]).toMatchObject({ reason: 'scale_down_capped_by_throughput', target: 1 });
  });

  it('no reports, or a worker count that does not match the ready replicas: nothing', async () => {
    const { planner, connector, source, loads } = setup();
    source.next = traffic(1);
    await planner.throughputTick();
    let d = await planner.loadTick();
    expect(d.map((x) => x.reason)).toEqual(['no_load_data', 'no_load_data']);
    // Prefill is at 2 (1 req/s with queueing headroom), Decode set to 2: one report each.
    loads.byComponent.set('prefill', [report(1)]);
    loads.byComponent.set('backend', [report(3, { runningRequests: 100 })]);
    connector.state.set('Decode', { name: 'Decode', replicas: 2, readyReplicas: 2, gpusPerReplica: 1 });
    d = await planner.loadTick();
    expect(d.map((x) => x.reason)).toEqual(['worker_count_mismatch', 'worker_count_mismatch']);
    // Only the throughput tick scaled.
    expect(connector.scaled).toEqual([{ name: 'Prefill', replicas: 2 }]);
  });

  it('without any ISL/OSL observed, the load loop cannot estimate', async () => {
    const { planner, loads } = setup();
    loads.byComponent.set('prefill', [report(1)]);
    loads.byComponent.set('backend', [report(2)]);
    const d = await planner.loadTick();
    expect(d.map((x) => x.reason)).toEqual(['no_sequence_data', 'no_sequence_data']);
  });
});

describe('prefill correction (prefill-correction.ts)', () => {
  it('sizes prefill by what the workers achieve, and exports the factor', async () => {
    const { planner, source, loads, registry } = setup();
    const counters = (prefillTokensTotal: number, prefillSeconds: number) => [
      report(1, { prefillTokensTotal, prefillSeconds }),
    ];
    const factor = async () =>
      (await registry.getSingleMetric('dynamo_planner_prefill_correction_factor')?.get())?.values.find(
        (v) => v.labels.role === 'prefill',
      )?.value;
    // The profile: 5 prefill replicas for 10 req/s (the first test); no measurement yet.
    loads.byComponent.set('prefill', counters(0, 0));
    source.next = traffic(10);
    let d = await planner.throughputTick();
    expect(d.find((x) => x.service === 'Prefill')?.target).toBe(5);
    expect(await factor()).toBeNaN();
    // The one worker computed 100 000 tokens in 20 s: 5 000 tok/s, half the profile. The same load
    // now costs 6 replica-equivalents (S = 0.6 s; a lone prompt 600 ms > 500: no wait budget left,
    // so the queueing headroom adds nothing over the plain ceil): 6.
    loads.byComponent.set('prefill', counters(100_000, 20));
    d = await planner.throughputTick();
    expect(await factor()).toBeCloseTo(0.5);
    expect(d.find((x) => x.service === 'Prefill')).toMatchObject({ reason: 'scale_up', target: 6 });
    // Decode is not corrected.
    expect(d.find((x) => x.service === 'Decode')?.target).toBe(1);
  });
});
