// The local connector (dynamo run --planner) over `dynamo run`'s worker pools: scaling starts and
// gracefully stops in-process mocker workers, readiness counts serving workers only, and scaling to
// zero keeps the model listed (standby card) until the planner's wake rule brings a worker back for a
// waiting request.
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModelCard, PlannerProfile } from '../../../src/api/index.js';
import { type AllInOne, leastLoaded, startAllInOne } from '../../../src/cli/all-in-one.js';
import { LocalConnector, type LocalWorkerPool } from '../../../src/planner/local-connector.js';
import { createRuntime, MemoryHub } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { defaultTokenizerDir } from '../../../src/worker/index.js';
import { testProfile } from '../../harness/planner-profile.js';

const log = createLogger({ level: 'silent' });

const PROFILE: PlannerProfile = testProfile({
  prefill: [
    { isl: 128, ttftMs: 19, tokensPerSecond: 48_000 },
    { isl: 1024, ttftMs: 33, tokensPerSecond: 48_200 },
  ],
  decode: [
    { contextLength: 512, concurrency: 1, itlMs: 6, tokensPerSecond: 170 },
    { contextLength: 512, concurrency: 8, itlMs: 7, tokensPerSecond: 1100 },
  ],
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
}

/** A pool whose workers start when the test says so. */
class FakePool implements LocalWorkerPool {
  readonly namespace = 'dynamo';
  readonly component = 'backend';
  replicas: number;
  readyReplicas: number;
  card: ModelCard | undefined;
  private pending: (() => void)[] = [];

  constructor(
    readonly role: 'agg' | 'prefill' | 'decode',
    n: number,
    card?: ModelCard,
  ) {
    this.replicas = n;
    this.readyReplicas = n;
    this.card = card;
  }

  scale(replicas: number): Promise<void> {
    this.replicas = replicas;
    if (replicas <= this.readyReplicas) {
      this.readyReplicas = replicas;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.pending.push(resolve));
  }

  /** The workers asked for are up. */
  startAll(): void {
    this.readyReplicas = this.replicas;
    for (const r of this.pending.splice(0)) r();
  }
}

describe('LocalConnector', () => {
  it('reports wanted and ready replicas per role; names a missing service', async () => {
    const pool = new FakePool('agg', 1);
    const connector = new LocalConnector({ pools: [pool], log });
    await connector.scale('agg', 3);
    expect(await connector.services(['agg'])).toEqual([
      { name: 'agg', replicas: 3, readyReplicas: 1, gpusPerReplica: 1 },
    ]);
    pool.startAll();
    expect((await connector.services(['agg']))[0]).toMatchObject({ replicas: 3, readyReplicas: 3 });
    await expect(connector.services(['decode'])).rejects.toThrow(
      /no local service "decode": dynamo run has agg/,
    );
    await expect(connector.scale('agg', -1)).rejects.toThrow(/≥ 0/);
  });

  it('registers a standby card before going to zero and removes it once a worker serves again', async () => {
    const hub = new MemoryHub();
    const planner = await createRuntime({ log, memory: hub });
    const watcher = await createRuntime({ log, memory: hub });
    const card = { name: 'm', disaggregationMode: 'agg' } as ModelCard;
    const pool = new FakePool('agg', 1, card);
    const connector = new LocalConnector({
      pools: [pool],
      standby: { discovery: planner.discovery, holder: planner.instanceId, transport: 'memory' },
      log,
    });
    const standby = { namespace: 'dynamo', component: 'backend', endpoint: 'standby' };
    await connector.scale('agg', 0);
    expect(await watcher.discovery.list(standby)).toHaveLength(1);
    expect(await watcher.discovery.modelCard(standby, planner.instanceId)).toEqual(card);
    await connector.scale('agg', 1);
    expect(await watcher.discovery.list(standby)).toHaveLength(1); // not ready yet
    pool.startAll();
    await new Promise((r) => setTimeout(r, 10));
    expect(await watcher.discovery.list(standby)).toHaveLength(0);
    await connector.close();
    await planner.close();
    await watcher.close();
  });
});

describe('leastLoaded (which worker a scale-down stops)', () => {
  const l = (queued: number, running: number, pending = 0, blocks = 0) => ({
    waitingRequests: queued,
    runningRequests: running,
    pendingPrefillTokens: pending,
    activeBlocks: blocks,
  });
  it('the fewest requests first, then prefill tokens pending, then KV in use; the newest on ties', () => {
    expect(leastLoaded([l(2, 1), l(0, 1), l(1, 1)])).toBe(1);
    expect(leastLoaded([l(0, 1, 4096), l(0, 1, 512)])).toBe(1);
    expect(leastLoaded([l(0, 1, 0, 10), l(0, 1, 0, 40)])).toBe(0);
    expect(leastLoaded([l(0, 0), l(0, 0), l(0, 0)])).toBe(2);
    expect(leastLoaded([])).toBe(-1);
  });
});

describe('dynamo run worker pools', () => {
  let d: AllInOne | undefined;
  afterEach(async () => {
    await d?.stop();
    d = undefined;
  });

  const start = (planner?: Parameters<typeof startAllInOne>[0]['planner']) =>
    startAllInOne(
      {
        workers: 1,
        worker: { engine: { kind: 'mocker', tokenizerDir: defaultTokenizerDir(), speedupRatio: 100 } },
        frontend: {
          host: '127.0.0.1',
          port: 0,
          migrationLimit: 0,
          busyStatusCode: 529,
          bodyLimitBytes: 1 << 20,
          workerWait: { timeoutMs: 30_000 },
        },
        gracefulShutdownMs: 1000,
        planner,
      },
      log,
    );

  it('scaleWorkers starts workers the frontend routes to, and stops them gracefully', async () => {
    d = await start();
    const deployment = d;
    const model = () => deployment.frontend.app.services.registry.get(deployment.modelName);
    await deployment.scaleWorkers('agg', 3);
    expect(deployment.workers).toHaveLength(3);
    expect(deployment.pools[0]).toMatchObject({ role: 'agg', replicas: 3, readyReplicas: 3 });
    await until(() => model()?.instances.size === 3);
    await deployment.scaleWorkers('agg', 1);
    expect(deployment.pools[0]).toMatchObject({ replicas: 1, readyReplicas: 1 });
    await until(() => model()?.instances.size === 1);
    await expect(deployment.scaleWorkers('decode', 1)).rejects.toThrow(/no decode workers/);
  });

  it('scaled to zero, the model stays listed; a waiting request wakes the planner, which starts a worker', async () => {
    d = await start({
      planner: {
        scaling: 'active',
        targets: { ttftMs: 500, itlMs: 50 },
        adjustmentIntervalMs: 3_600_000,
        loadIntervalMs: 0,
        predictor: { kind: 'constant' },
        limits: { minReplicas: 0, maxReplicas: 2 },
        scaleDownRatio: 0.5,
      },
      profile: PROFILE,
      wakeIntervalMs: 20,
    });
    const deployment = d;
    const connector = deployment.planner?.connector;
    expect(connector).toBeDefined();
    await connector?.scale('agg', 0);
    await until(() => deployment.pools[0]?.provisioned === 0);
    const client = new OpenAI({ baseURL: `${deployment.frontend.url}/v1`, apiKey: 'none', maxRetries: 0 });
    expect((await client.models.list()).data.map((m) => m.id)).toEqual([deployment.modelName]);
    const reply = await client.completions.create({
      model: deployment.modelName,
      prompt: 'hello',
      max_tokens: 3,
    });
    expect(reply.choices[0]?.finish_reason).toBe('length');
    expect(deployment.pools[0]).toMatchObject({ replicas: 1, readyReplicas: 1 });
    const metrics = await (await fetch(`${deployment.frontend.url}/metrics`)).text();
    expect(metrics).toMatch(/dynamo_frontend_worker_wait_total\{model="[^"]+",outcome="served"\} 1/);
  });
});
