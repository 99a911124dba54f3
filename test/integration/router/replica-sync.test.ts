// Router replica sync between frontends on the harness's real etcd and NATS, with in-process mocker
// workers: a burst sent one request per frontend spreads over the workers with sync and piles on one
// without it; a frontend process killed mid-run (its clients retry on another) loses nothing but what
// was in flight on it, and its load leaves the other frontend's routing within the lease; forged and
// malformed messages on the sync subject are counted and never applied.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type InstanceId, routerSyncSubject } from '../../../src/api/index.js';
import { freePort } from '../../../src/bench/free-port.js';
import { type Frontend, type FrontendConfig, startFrontend } from '../../../src/frontend/index.js';
import type { Router } from '../../../src/router/index.js';
import { createRuntime, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import {
  DEFAULT_MOCKER_MODEL_NAME,
  defaultTokenizerDir,
  startWorker,
  type Worker,
} from '../../../src/worker/index.js';
import { sourceCli } from '../../harness/dynamo-process.js';

const log = createLogger({ level: 'silent' });
const namespace = `rsync${process.pid}`;
const MODEL = DEFAULT_MOCKER_MODEL_NAME;
const BLOCK = 16;
const LEASE_MS = 2_000;

const runtimes: Runtime[] = [];
const workers: Worker[] = [];
const frontends: Frontend[] = [];

async function runtime(): Promise<Runtime> {
  const r = await createRuntime({
    log,
    etcdEndpoints: [inject('etcdEndpoint')],
    natsServer: inject('natsUrl'),
  });
  runtimes.push(r);
  return r;
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function frontend(router: FrontendConfig['router']): Promise<Frontend> {
  const f = await startFrontend(
    {
      host: '127.0.0.1',
      port: 0,
      namespace,
      migrationLimit: 0,
      busyStatusCode: 529,
      bodyLimitBytes: 1 << 20,
      router: { routeDebug: true, replicaSyncLeaseMs: LEASE_MS, ...router },
    },
    await runtime(),
    log,
  );
  frontends.push(f);
  return f;
}

function routerOf(f: Frontend): Router | undefined {
  const set = f.app.services.registry.get(MODEL)?.sets.values().next().value;
  return set?.router;
}

/** The frontend routes to both workers and its index shows what they cache. */
async function ready(f: Frontend, cached: InstanceId[] = []): Promise<Router> {
  await until('the frontend to see both workers', () => routerOf(f)?.instanceIds().length === 2);
  const router = routerOf(f) as Router;
  await until('the index to show the cached blocks', () =>
    cached.every((w) => router.indexer.blockCount(w) > 0),
  );
  return router;
}

let promptSeed = 0;
/** A prompt of `blocks` full blocks, shared with no other prompt. */
const freshPrompt = (blocks = 256) => {
  const seed = ++promptSeed * 7919;
  // Token ids inside the tokenizer's vocabulary; the first block already differs between prompts.
  return [...Array(blocks * BLOCK)].map((_, i) => 1 + ((seed + i * 13) % 30_000));
};

/** A non-streamed completion through `f`; resolves to the worker it was routed to. */
async function complete(f: Frontend, prompt: number[], maxTokens: number): Promise<InstanceId> {
  const response = await fetch(`${f.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-dynamo-route-debug': '1' },
    body: JSON.stringify({ model: MODEL, prompt, max_tokens: maxTokens, ignore_eos: true }),
  });
  expect(response.status, await response.clone().text()).toBe(200);
  const route = JSON.parse(response.headers.get('x-dynamo-route') ?? '[]') as { chosen: InstanceId }[];
  return route[0]?.chosen as InstanceId;
}

/** One request per frontend, 50 ms apart (sync messages take a few), each overlapping the others. */
async function burst(fs: Frontend[]): Promise<InstanceId[]> {
  const sent: Promise<InstanceId>[] = [];
  for (const f of fs) {
    sent.push(complete(f, freshPrompt(), 20));
    await new Promise((r) => setTimeout(r, 50));
  }
  return Promise.all(sent);
}

async function closeFrontends(): Promise<void> {
  for (const f of frontends.splice(0)) await f.close();
}

async function metricsText(f: Frontend): Promise<string> {
  return (await fetch(`${f.url}/metrics`)).text();
}

function metricValue(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    const r = await runtime();
    workers.push(
      await startWorker(
        {
          namespace,
          loadMetricsIntervalMs: 100,
          engine: {
            kind: 'mocker',
            tokenizerDir: defaultTokenizerDir(),
            blockSize: BLOCK,
            numGpuBlocks: 4096,
            // 5× slower than the default GPU: a 4096-token prefill takes about 0.4 s, so no KV event
            // of a burst's first request reaches the routers before the burst is routed.
            speedupRatio: 0.2,
          },
        },
        r,
        log,
      ),
    );
  }
}, 60_000);

afterAll(async () => {
  await closeFrontends();
  for (const w of workers) await w.close();
  for (const r of runtimes.reverse()) await r.close();
});

describe('router replica sync between frontends', () => {
  it('spreads a burst through three frontends over the workers, where without sync it piles on one', async () => {
    // One worker caches far more than the other (a 16k-token prompt; the burst adds 4k each): a router
    // that sees no load anywhere picks the other one (ties go to fewer cached blocks), so frontends
    // blind to each other all pick the same worker.
    const f0 = await frontend({ replicaSync: false });
    await ready(f0);
    const warm = await complete(f0, freshPrompt(1024), 2);
    await closeFrontends();

    const blind = [
      await frontend({ replicaSync: false }),
      await frontend({ replicaSync: false }),
      await frontend({ replicaSync: false }),
    ];
    for (const f of blind) await ready(f, [warm]);
    const piled = await burst(blind);
    expect(new Set(piled).size).toBe(1);
    await closeFrontends();

    const synced = [await frontend({}), await frontend({}), await frontend({})];
    for (const f of synced) await ready(f, [warm]);
    await until('every router to hear its two peers', async () => {
      const peers = await Promise.all(
        synced.map(async (f) => metricValue(await metricsText(f), 'dynamo_router_replica_sync_peers', MODEL)),
      );
      return peers.every((n) => n === 2);
    });
    const spread = await burst(synced);
    expect(new Set(spread).size).toBe(2);
    await closeFrontends();
  }, 120_000);

  it('frees the load of a killed frontend within the lease; its clients retry on the other', async () => {
    const survivor = await frontend({});
    const router = await ready(survivor);
    const port = await freePort();
    const child = spawn(
      process.execPath,
      sourceCli([
        'frontend',
        '--http-host',
        '127.0.0.1',
        '--http-port',
        String(port),
        '--namespace',
        namespace,
        '--router-replica-sync-lease-ms',
        String(LEASE_MS),
      ]),
      {
        env: { ...process.env, ETCD_ENDPOINTS: inject('etcdEndpoint'), NATS_SERVER: inject('natsUrl') },
        stdio: 'ignore',
      },
    );
    const exited = new Promise((r) => child.once('exit', r));
    const victim = `http://127.0.0.1:${port}`;
    try {
      await until(
        'the second frontend to serve the model',
        async () => {
          const models = await fetch(`${victim}/v1/models`).then(
            (r) => r.text(),
            () => '',
          );
          return models.includes(MODEL);
        },
        60_000,
      );
      // Clients spread over both frontends; a failed request is sent again to the survivor.
      let retried = 0;
      const send = async (url: string): Promise<boolean> => {
        const body = JSON.stringify({
          model: MODEL,
          prompt: freshPrompt(4),
          max_tokens: 80,
          ignore_eos: true,
        });
        const post = (u: string) =>
          fetch(`${u}/v1/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
          });
        const first = await post(url).then(
          (r) => (r.ok ? r.json() : undefined),
          () => undefined,
        );
        if (first !== undefined) return true;
        retried++;
        return (await post(survivor.url)).ok;
      };
      const requests: Promise<boolean>[] = [];
      for (let i = 0; i < 8; i++) requests.push(send(i % 2 === 0 ? survivor.url : victim));
      // The victim's four requests count in the survivor's routing.
      await until(
        'the survivor to count the victim’s requests',
        () => router.scheduler.activeRequestCount === 8,
      );
      child.kill('SIGKILL');
      await exited;
      await until(
        'the victim’s load to leave the survivor’s routing',
        () => router.scheduler.activeRequestCount <= 4 + retried,
        LEASE_MS * 10,
      );
      expect((await Promise.all(requests)).every(Boolean)).toBe(true);
      expect(retried).toBeLessThanOrEqual(4);
      const text = await metricsText(survivor);
      expect(
        metricValue(text, 'dynamo_router_replica_sync_expired_peers_total', MODEL),
      ).toBeGreaterThanOrEqual(1);
      await until('every request to be freed', () => router.scheduler.activeRequestCount === 0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await closeFrontends();
    }
  }, 120_000);

  it('counts forged and malformed sync messages and applies none of them', async () => {
    const f = await frontend({});
    const router = await ready(f);
    const forger = await runtime();
    const topic = {
      name: 'router_sync',
      schema: { parse: (v: unknown) => v } as never,
      subject: routerSyncSubject,
    };
    const scope = { namespace, component: 'backend' };
    const P = '00000000000000aa';
    const worker = router.instanceIds()[0] as InstanceId;
    const request = (w: string, isl = 32) => ({ id: 'x', worker: w, isl, blocks: [], overlap: 0 });
    for (const msg of [
      { kind: 'ops', router: P, model: MODEL, seq: 0, ops: [{ op: 'added', request: request(worker, -1) }] },
      { kind: 'ops', router: P, model: MODEL, seq: 0, ops: Array(2000).fill({ op: 'freed', id: 'x' }) },
      { kind: 'snapshot', router: P, model: MODEL, seq: 0, part: 0, last: true, requests: [] },
      {
        kind: 'ops',
        router: P,
        model: MODEL,
        seq: 1,
        ops: [{ op: 'added', request: request('00000000000000ee') }],
      },
      { kind: 'ops', router: P, model: MODEL, seq: 2, ops: [{ op: 'freed', id: 'unknown' }] },
    ]) {
      forger.eventPlane.publish(topic, scope, msg);
    }
    const text = () => metricsText(f);
    const dropped = (t: string, reason: string) =>
      metricValue(t, 'dynamo_router_replica_sync_dropped_total', `reason="${reason}"`);
    await until('the drops to be counted', async () => dropped(await text(), 'unknown_request') === 1);
    const t = await text();
    expect(dropped(t, 'malformed')).toBe(1);
    expect(dropped(t, 'oversized')).toBe(1);
    expect(dropped(t, 'unknown_worker')).toBe(1);
    expect(router.scheduler.activeRequestCount).toBe(0);
    // Still routing.
    await complete(f, freshPrompt(2), 2);
    await closeFrontends();
  }, 60_000);
});
