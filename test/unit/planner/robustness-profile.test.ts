// A profile that is not given, not there (yet), or malformed: the planner keeps running, decides nothing
// and says why (`no_profile` / `profile_invalid`), logs the cause once, and picks a profile up when one
// appears; a file that breaks after a valid one was read keeps the valid one in use.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { Planner, type PlannerConfig } from '../../../src/planner/planner.js';
import { PlannerMetrics } from '../../../src/planner/planner-metrics.js';
import { ProfileSource } from '../../../src/planner/serve.js';
import { FakeConnector, FakeLoads, FakeTraffic, report, traffic } from './fakes.js';
import { capturedLogger, PROFILE } from './robustness-fixtures.js';

const dir = await mkdtemp(join(tmpdir(), 'planner-robustness-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const CONFIG: PlannerConfig = {
  mode: 'agg',
  scaling: 'active',
  services: [{ role: 'agg', name: 'Worker', component: 'worker' }],
  targets: { ttftMs: 500, itlMs: 50 },
  adjustmentIntervalMs: 60_000,
  loadIntervalMs: 5_000,
  predictor: { kind: 'constant' },
  limits: { minReplicas: 1, maxReplicas: 10 },
  scaleDownRatio: 0.5,
};

function setup(path: string | undefined) {
  const { log, lines, count } = capturedLogger();
  const registry = new Registry();
  const metrics = new PlannerMetrics(registry);
  const profiles = new ProfileSource(path, { log, metrics, model: 'mocker' });
  const connector = new FakeConnector({ Worker: 1 });
  const source = new FakeTraffic();
  const loads = new FakeLoads();
  const planner = new Planner(CONFIG, {
    connector,
    engine: () => profiles.current(),
    traffic: source,
    loads,
    metrics,
    log,
  });
  return { profiles, planner, connector, source, loads, registry, lines, count };
}

describe('the planner without a usable profile', () => {
  it('none given: no_profile in every decision of both loops, nothing scaled, logged once', async () => {
    const { profiles, planner, connector, source, loads, registry, count, lines } = setup(undefined);
    expect(await profiles.refresh()).toBe('no_profile');
    source.next = traffic(50, 32, 64);
    loads.byComponent.set('worker', [report(1, { runningRequests: 100 })]);
    for (let i = 0; i < 3; i++) {
      await profiles.refresh();
      const t = await planner.throughputTick();
      expect(t).toEqual([expect.objectContaining({ reason: 'no_profile', scaled: false, current: 1 })]);
      expect(t[0]?.target).toBeUndefined();
      expect(t[0]?.detail).toContain('--profile or DYN_PLANNER_PROFILE');
      const l = await planner.loadTick();
      expect(l.map((d) => d.reason)).toEqual(['no_profile']);
    }
    expect(connector.scaled).toEqual([]);
    const text = await registry.metrics();
    expect(text).toContain(
      'dynamo_planner_decisions_total{loop="throughput",service="Worker",reason="no_profile"} 3',
    );
    expect(text).toContain(
      'dynamo_planner_decisions_total{loop="load",service="Worker",reason="no_profile"} 3',
    );
    expect(text).toContain(
      'dynamo_planner_throughput_scaling_decision{dynamo_planner_throughput_scaling_decision="no_profile"} 1',
    );
    expect(text).toContain('dynamo_planner_profile_status{dynamo_planner_profile_status="no_profile"} 1');
    // Still observed and exported while it cannot decide.
    expect(text).toContain('dynamo_planner_observed_requests_per_second 50');
    expect(text).toContain('dynamo_planner_replicas{service="Worker"} 1');
    expect(count('no usable profile')).toBe(1);
    expect(lines.find((l) => l.msg.includes('no usable profile'))?.level).toBe(50);
  });

  it('a file mounted later is read at the next refresh, and the planner scales from then on', async () => {
    const path = join(dir, 'later.json');
    const { profiles, planner, connector, source, registry, count } = setup(path);
    expect(await profiles.refresh()).toBe('no_profile');
    expect(profiles.cause).toContain(`profile ${path}: no such file`);
    source.next = traffic(50, 32, 64);
    expect((await planner.throughputTick())[0]?.reason).toBe('no_profile');
    await writeFile(path, JSON.stringify(PROFILE));
    expect(await profiles.refresh()).toBe('loaded');
    const d = await planner.throughputTick();
    expect(d[0]).toMatchObject({ reason: 'scale_up', scaled: true });
    expect(connector.scaled.length).toBe(1);
    expect(count('profile loaded')).toBe(1);
    expect(await registry.metrics()).toContain(
      'dynamo_planner_profile_status{dynamo_planner_profile_status="loaded"} 1',
    );
  });

  it('a malformed file: profile_invalid naming the file and the field; fixed later, used', async () => {
    const path = join(dir, 'bad.json');
    await writeFile(path, JSON.stringify({ ...PROFILE, decode: [{ ...PROFILE.decode[0], itlMs: 'slow' }] }));
    const { profiles, planner, connector, source, count } = setup(path);
    expect(await profiles.refresh()).toBe('profile_invalid');
    expect(profiles.cause).toBe(
      `profile ${path}: decode.0.itlMs: Invalid input: expected number, received string`,
    );
    source.next = traffic(50, 32, 64);
    const d = await planner.throughputTick();
    expect(d[0]).toMatchObject({ reason: 'profile_invalid', detail: profiles.cause });
    expect(connector.scaled).toEqual([]);
    await profiles.refresh();
    expect(count('no usable profile')).toBe(1);

    await writeFile(path, '{ not json');
    expect(await profiles.refresh()).toBe('profile_invalid');
    expect(profiles.cause).toContain(`profile ${path}: not JSON`);
    // Another cause is another log line.
    expect(count('no usable profile')).toBe(2);

    await writeFile(path, JSON.stringify(PROFILE));
    expect(await profiles.refresh()).toBe('loaded');
    expect((await planner.throughputTick())[0]?.reason).toBe('scale_up');
  });

  it('a valid profile that later breaks or goes: the last valid one stays in use, said once', async () => {
    const path = join(dir, 'kept.json');
    await writeFile(path, JSON.stringify(PROFILE));
    const { profiles, planner, source, registry, count } = setup(path);
    expect(await profiles.refresh()).toBe('loaded');
    await writeFile(path, JSON.stringify({ ...PROFILE, version: 7 }));
    expect(await profiles.refresh()).toBe('kept_previous');
    expect(await profiles.refresh()).toBe('kept_previous');
    expect(profiles.cause).toContain('version: expected 1, got 7');
    expect(count('keeping the last valid one')).toBe(1);
    source.next = traffic(50, 32, 64);
    expect((await planner.throughputTick())[0]?.reason).toBe('scale_up');
    expect(await registry.metrics()).toContain(
      'dynamo_planner_profile_status{dynamo_planner_profile_status="kept_previous"} 1',
    );
    await rm(path);
    expect(await profiles.refresh()).toBe('kept_previous');
    expect(profiles.cause).toContain('no such file');
    await writeFile(path, JSON.stringify(PROFILE));
    expect(await profiles.refresh()).toBe('loaded');
    expect(profiles.cause).toBeUndefined();
  });
});
