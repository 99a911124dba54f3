// The fault matrix under load (issue 19): a frontend (in this process) and mocker workers (processes)
// on a private etcd and NATS, so that restarting or killing them leaves the harness's own servers up.
// Each case runs continuous streaming traffic through the frontend while the fault happens, then
// asserts: every request completed or ended with a clean OpenAI-shaped error within its bound, none
// hung; nothing is held afterwards (frontend and worker gauges, KV blocks, sequences); the system
// serves normally. The cases run in order on one cluster; the workers that die are replaced.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BODY_LIMIT_BYTES, type Frontend, startFrontend } from '../../../src/frontend/index.js';
import { createRuntime, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { EtcdServer } from '../../harness/etcd-server.js';
import { NatsServer } from '../../harness/nats-server.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { spawnWorker, type WorkerProcess } from '../../harness/worker-process.js';
import {
  expectNoLeaks,
  flowing,
  LoadReports,
  MODEL,
  metricSum,
  servesNormally,
  startTraffic,
  type TrafficSummary,
  until,
} from './fault-traffic.js';

const log = createLogger({ level: 'silent' });
const namespace = `faults${process.pid}`;
/** The workers' --graceful-shutdown-ms: a SIGTERMed worker must be gone within it. */
const GRACE_MS = 8_000;
// About 6 ms a token at --speedup-ratio 1: a stream lasts about a second, so every fault lands on
// streams in flight. The bound leaves room for the 5 s idle timeout of a stream whose worker froze.
const STREAM = { maxTokens: 160, boundMs: 45_000 };
const CONCURRENCY = 3;
const MIGRATIONS = 'dynamo_frontend_model_migration_total';

let etcd: EtcdServer;
let nats: NatsServer;
let runtime: Runtime;
let frontend: Frontend;
let loads: LoadReports;
/** The workers alive now. */
let workers: WorkerProcess[] = [];
let spawned = 0;

async function addWorker(): Promise<WorkerProcess> {
  const worker = await spawnWorker(
    namespace,
    [
      ...['--engine', 'mocker', '--speedup-ratio', '1', '--num-gpu-blocks', '512', '--block-size', '16'],
      ...['--graceful-shutdown-ms', String(GRACE_MS), '--load-metrics-interval-ms', '200'],
    ],
    `fault-worker-${spawned++}`,
    { ETCD_ENDPOINTS: etcd.endpoint, NATS_SERVER: nats.url },
  );
  workers.push(worker);
  await until(() => routes(worker), `worker ${worker.instanceId} to be routable`);
  return worker;
}

function routes(worker: WorkerProcess): boolean {
  return frontend.app.services.registry.get(MODEL)?.instances.has(worker.instanceId as never) ?? false;
}

function leakTargets() {
  return {
    frontendUrl: frontend.url,
    workerPorts: workers.map((w) => w.systemPort),
    workerIds: workers.map((w) => w.instanceId),
    loads,
  };
}

async function workerInflight(worker: WorkerProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${worker.systemPort}/metrics`)).text();
  return metricSum(text, 'dynamo_component_inflight_requests');
}

async function frontendCounter(name: string): Promise<number> {
  return metricSum(await (await fetch(`${frontend.url}/metrics`)).text(), name);
}

/** Every request completed or ended with a clean OpenAI-shaped error; none hung. */
function expectClean(summary: TrafficSummary): void {
  expect(summary.unclean).toEqual([]);
  expect(summary.hung).toBe(0);
  expect(summary.refused).toBe(0);
  expect(summary.completed).toBeGreaterThan(0);
}

/** The streams a fault hit (it waited for some on its worker): each migrated or ended in an error. */
async function expectHit(summary: TrafficSummary, migrationsBefore: number): Promise<void> {
  const migrated = (await frontendCounter(MIGRATIONS)) - migrationsBefore;
  const failed = Object.values(summary.errors).reduce((a, b) => a + b, 0);
  expect(migrated + failed).toBeGreaterThan(0);
}

/** Runs `fault` under traffic (started and flowing first), lets traffic flow again, and sums up. */
async function underTraffic(fault: () => Promise<void>): Promise<TrafficSummary> {
  const traffic = startTraffic(frontend.url, { ...STREAM, concurrency: CONCURRENCY });
  try {
    await flowing(traffic, CONCURRENCY);
    await fault();
    await flowing(traffic, 2 * CONCURRENCY);
  } catch (err) {
    await traffic.stop();
    throw err;
  }
  return traffic.stop();
}

async function afterwards(): Promise<void> {
  await expectNoLeaks(leakTargets());
  await servesNormally(frontend.url, 3, STREAM);
}

beforeAll(async () => {
  etcd = new EtcdServer(await harnessTempDir('fault-etcd'));
  nats = new NatsServer(await harnessTempDir('fault-nats'));
  await Promise.all([etcd.start(), nats.start()]);
  runtime = await createRuntime({ log, etcdEndpoints: [etcd.endpoint], natsServer: nats.url });
  frontend = await startFrontend(
    {
      host: '127.0.0.1',
      port: 0,
      namespace,
      migrationLimit: 1,
      busyStatusCode: 529,
      bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES,
    },
    runtime,
    log,
  );
  loads = await LoadReports.watch(runtime, namespace);
  await Promise.all([addWorker(), addWorker()]);
}, 180_000);

afterAll(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await frontend?.close();
  await runtime?.close();
  await Promise.all([etcd?.stop(), nats?.stop()]);
});

describe('fault matrix under streaming load', () => {
  it('etcd restarts: streams go on untouched, workers stay registered', async () => {
    const summary = await underTraffic(() => etcd.restart());
    expectClean(summary);
    // Nothing on the data path talks to etcd.
    expect(summary.errors).toEqual({});
    await until(() => workers.every(routes), 'every worker routable after the restart', 30_000);
    await afterwards();
  }, 180_000);

  it('NATS restarts: streams cut by it end cleanly or migrate, the planes reconnect', async () => {
    const summary = await underTraffic(() => nats.restart());
    expectClean(summary);
    await afterwards();
  }, 180_000);

  it('a worker frozen (SIGSTOP) past its lease, then resumed: it leaves, comes back, frees its streams', async () => {
    const [frozen] = workers;
    if (!frozen) throw new Error('no worker');
    const migrations = await frontendCounter(MIGRATIONS);
    const summary = await underTraffic(async () => {
      await until(async () => (await workerInflight(frozen)) > 0, 'streams on the worker to freeze', 30_000);
      frozen.child.kill('SIGSTOP');
      try {
        // Frozen until its lease expires (TTL 10 s) and the frontend drops it: what a 20 s stop does,
        // without waiting longer than the lease needs.
        await until(() => !routes(frozen), 'the frozen worker to leave discovery', 30_000);
      } finally {
        frozen.child.kill('SIGCONT');
      }
      await until(() => routes(frozen), 'the resumed worker to register again', 30_000);
    });
    expectClean(summary);
    await expectHit(summary, migrations);
    await afterwards();
  }, 180_000);

  it('a worker SIGTERMed drains: its streams finish there, nothing fails or migrates, it exits 0', async () => {
    const [leaving] = workers;
    if (!leaving) throw new Error('no worker');
    const migrations = await frontendCounter(MIGRATIONS);
    let exitCode: number | null = null;
    const summary = await underTraffic(async () => {
      await until(async () => (await workerInflight(leaving)) > 0, 'streams on the worker to stop', 30_000);
      const started = Date.now();
      leaving.child.kill('SIGTERM');
      exitCode = await leaving.exited;
      expect(Date.now() - started).toBeLessThan(GRACE_MS + 5_000);
      workers = workers.filter((w) => w !== leaving);
    });
    expect(exitCode).toBe(0);
    expectClean(summary);
    expect(summary.errors).toEqual({});
    expect(await frontendCounter(MIGRATIONS)).toBe(migrations);
    await addWorker();
    await afterwards();
  }, 180_000);

  it('a worker SIGKILLed: its streams end cleanly (migrated or an error), it leaves discovery', async () => {
    const [victim] = workers;
    if (!victim) throw new Error('no worker');
    const migrations = await frontendCounter(MIGRATIONS);
    const summary = await underTraffic(async () => {
      await until(async () => (await workerInflight(victim)) > 0, 'streams on the worker to kill', 30_000);
      victim.child.kill('SIGKILL');
      await victim.exited;
      workers = workers.filter((w) => w !== victim);
      await until(() => !routes(victim), 'the killed worker to leave discovery', 30_000);
    });
    expectClean(summary);
    await expectHit(summary, migrations);
    await addWorker();
    await afterwards();
  }, 180_000);

  it('a worker SIGTERMed while etcd and NATS are down stops within its grace period', async () => {
    const [leaving] = workers;
    if (!leaving) throw new Error('no worker');
    let exitCode: number | null = null;
    const summary = await underTraffic(async () => {
      await Promise.all([etcd.kill(), nats.kill()]);
      const started = Date.now();
      leaving.child.kill('SIGTERM');
      exitCode = await Promise.race([
        leaving.exited,
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 3 * GRACE_MS)),
      ]);
      const took = Date.now() - started;
      workers = workers.filter((w) => w !== leaving);
      await Promise.all([etcd.start(), nats.start()]);
      // Within the grace period (and the half second closing may take past it), not "a minute later".
      expect(took).toBeLessThan(GRACE_MS + 1_500);
      const survivor = workers[0];
      if (survivor) await until(() => routes(survivor), 'the other worker to be routable again', 60_000);
    });
    // Steps were cut (unregister, lease revoke, NATS drain): the exit status says so.
    expect(exitCode).toBe(1);
    expectClean(summary);
    await afterwards();
  }, 180_000);
});
