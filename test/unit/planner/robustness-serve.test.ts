// `dynamo planner` as a process (servePlanner) under bad input: no profile, no model, Prometheus
// unreachable, a graph without the named service, --min-replicas above --max-replicas. It keeps running,
// serves /health, /live and /metrics, says why in dynamo_planner_decisions_total, logs each cause once
// and scales nothing it cannot justify. Real timers at 100 ms; everything is polled, nothing timed.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PlannerConfig } from '../../../src/planner/planner.js';
import { type ServePlannerOptions, servePlanner } from '../../../src/planner/serve.js';
import { waitFor } from '../../harness/dynamo-process.js';
import { freePort } from '../../harness/process.js';
import { FakeConnector } from './fakes.js';
import { capturedLogger, fakePrometheus, PROFILE } from './robustness-fixtures.js';

const dir = await mkdtemp(join(tmpdir(), 'planner-serve-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const CONFIG: PlannerConfig = {
  mode: 'agg',
  scaling: 'active',
  services: [{ role: 'agg', name: 'Worker', component: 'worker' }],
  targets: { ttftMs: 500, itlMs: 50 },
  adjustmentIntervalMs: 100,
  loadIntervalMs: 0,
  predictor: { kind: 'constant' },
  limits: { minReplicas: 1, maxReplicas: 10 },
  scaleDownRatio: 0.5,
};

async function serve(options: Partial<ServePlannerOptions>, connector: FakeConnector) {
  const { log, lines, count } = capturedLogger();
  const port = await freePort();
  const abort = new AbortController();
  const done = servePlanner(
    {
      planner: CONFIG,
      profilePath: undefined,
      prometheusEndpoint: `http://127.0.0.1:${await freePort()}`,
      model: undefined,
      namespace: 'dynamo',
      systemPort: port,
      loadStaleAfterMs: 10_000,
      ...options,
    },
    connector,
    log,
    abort.signal,
  );
  const base = `http://127.0.0.1:${port}`;
  const metrics = async () => (await fetch(`${base}/metrics`)).text();
  /** The counter's value for a throughput decision with `reason` (0 when none yet). */
  const decisions = async (reason: string) => {
    const m = new RegExp(
      `^dynamo_planner_decisions_total\\{loop="throughput",service="Worker",reason="${reason}"\\} (\\d+)`,
      'm',
    ).exec(await metrics());
    return Number(m?.[1] ?? 0);
  };
  await waitFor(async () => (await fetch(`${base}/health`)).ok, 'the planner to be healthy', 10_000);
  return {
    base,
    lines,
    count,
    metrics,
    decisions,
    stop: async () => {
      abort.abort();
      await done;
    },
  };
}

describe('dynamo planner under bad input', () => {
  it('runs without profile, model or Prometheus; picks up a profile mounted later', async () => {
    const profileDir = join(dir, 'mounted');
    const path = join(profileDir, 'profile.json');
    const connector = new FakeConnector({ Worker: 1 });
    const p = await serve({ profilePath: path }, connector);
    try {
      expect(await (await fetch(`${p.base}/health`)).json()).toEqual({ status: 'ready' });
      expect((await fetch(`${p.base}/live`)).ok).toBe(true);
      await waitFor(async () => (await p.decisions('no_profile')) >= 3, 'three no_profile decisions', 10_000);
      const text = await p.metrics();
      expect(text).toContain('dynamo_planner_profile_status{dynamo_planner_profile_status="no_profile"} 1');
      expect(text).toMatch(/^dynamo_planner_input_unknown_total\{input="rate",reason="unreachable"\} [1-9]/m);
      expect(text).toContain('dynamo_planner_observed_requests_per_second Nan');
      // Once each, however many intervals went by.
      expect(p.count('no usable profile')).toBe(1);
      expect(p.lines.find((l) => l.msg.includes('no usable profile'))?.cause).toContain(
        `profile ${path}: no such file`,
      );
      expect(p.count('cannot read the frontend traffic from Prometheus')).toBe(1);

      // The ConfigMap arrives: read at the next interval; Prometheus is still down.
      await mkdir(profileDir, { recursive: true });
      await writeFile(path, JSON.stringify(PROFILE));
      await waitFor(
        async () => (await p.decisions('no_traffic_data')) >= 2,
        'decisions for want of traffic, not of a profile',
        10_000,
      );
      expect(await p.metrics()).toContain(
        'dynamo_planner_profile_status{dynamo_planner_profile_status="loaded"} 1',
      );
      expect(p.count('profile loaded')).toBe(1);
      expect(p.count('cannot read the frontend traffic from Prometheus')).toBe(1);
      expect(connector.scaled).toEqual([]);
    } finally {
      await p.stop();
    }
  });

  it('queries every model when none is named; a missing service is service_unavailable until it exists', async () => {
    const path = join(dir, 'profile.json');
    await writeFile(path, JSON.stringify(PROFILE));
    const prometheus = await fakePrometheus();
    prometheus.value = '10';
    const connector = new FakeConnector({ Other: 1 });
    const p = await serve({ profilePath: path, prometheusEndpoint: prometheus.url }, connector);
    try {
      await waitFor(
        async () => (await p.decisions('service_unavailable')) >= 2,
        'service_unavailable',
        10_000,
      );
      expect(prometheus.queries).toContain(
        'sum(increase(dynamo_frontend_requests_total[1s])) + (sum(delta(dynamo_frontend_inflight_requests[1s])) or vector(0))',
      );
      expect(prometheus.queries.some((q) => q.includes('model='))).toBe(false);
      expect(p.lines.find((l) => l.msg.includes('cannot read the services'))?.err).toContain(
        'service Worker not found',
      );
      expect(connector.scaled).toEqual([]);
      // The service appears (the graph was fixed): the next interval scales it.
      connector.state.set('Worker', { name: 'Worker', replicas: 1, readyReplicas: 1, gpusPerReplica: 1 });
      await waitFor(async () => connector.scaled.length > 0, 'a scale once the service exists', 10_000);
      // 5 at 100 % utilisation, one more for the queueing headroom (throughput.ts).
      expect(connector.scaled[0]).toEqual({ name: 'Worker', replicas: 6 });
    } finally {
      await p.stop();
      await prometheus.close();
    }
  });

  it('Prometheus with no series yet, then traffic: warned once, then sized', async () => {
    const path = join(dir, 'profile.json');
    await writeFile(path, JSON.stringify(PROFILE));
    const prometheus = await fakePrometheus();
    const connector = new FakeConnector({ Worker: 1 });
    const p = await serve({ profilePath: path, prometheusEndpoint: prometheus.url }, connector);
    try {
      await waitFor(async () => (await p.decisions('no_traffic_data')) >= 2, 'no_traffic_data', 10_000);
      expect(p.count('Prometheus holds no dynamo_frontend_* series')).toBe(1);
      prometheus.value = '10';
      await waitFor(async () => connector.scaled.length > 0, 'a scale once there is traffic', 10_000);
      expect(p.count('frontend traffic readable from Prometheus')).toBe(1);
    } finally {
      await p.stop();
      await prometheus.close();
    }
  });

  it('--min-replicas above --max-replicas: running, budget_infeasible, nothing scaled', async () => {
    const path = join(dir, 'profile.json');
    await writeFile(path, JSON.stringify(PROFILE));
    const prometheus = await fakePrometheus();
    prometheus.value = '10';
    const connector = new FakeConnector({ Worker: 1 });
    const p = await serve(
      {
        profilePath: path,
        prometheusEndpoint: prometheus.url,
        planner: { ...CONFIG, limits: { minReplicas: 3, maxReplicas: 2 } },
      },
      connector,
    );
    try {
      await waitFor(async () => (await p.decisions('budget_infeasible')) >= 2, 'budget_infeasible', 10_000);
      expect(p.count('--min-replicas is above --max-replicas')).toBe(1);
      expect(p.lines.find((l) => l.msg.includes('budget cannot be met'))?.cause).toBe(
        '--min-replicas 3 is above --max-replicas 2',
      );
      expect(connector.scaled).toEqual([]);
      expect((await fetch(`${p.base}/health`)).ok).toBe(true);
    } finally {
      await p.stop();
      await prometheus.close();
    }
  });
});
