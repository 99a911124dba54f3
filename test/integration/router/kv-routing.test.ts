// The KV router against mocker workers on the harness's real etcd and NATS: requests that share a
// prefix go to the worker that caches it (learned from KV events), a router that starts late learns the
// caches from the workers' dumps, and a worker that dies is forgotten.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ENDPOINTS,
  type GenerateRequest,
  type GenerateResponse,
  generateResponseSchema,
  type InstanceId,
} from '../../../src/api/index.js';
import { createRouter, DEFAULT_ROUTER_SETTINGS, type Router } from '../../../src/router/index.js';
import { wasmRequestHashes } from '../../../src/router/router.js';
import { createRuntime, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import {
  DEFAULT_MOCKER_MODEL_NAME,
  defaultTokenizerDir,
  startWorker,
  type Worker,
} from '../../../src/worker/index.js';

const log = createLogger({ level: 'silent' });
const namespace = `rtest${process.pid}`;
const endpoint = { namespace, component: 'backend', endpoint: ENDPOINTS.generate };
const BLOCK = 4;
const model = {
  name: DEFAULT_MOCKER_MODEL_NAME,
  endpoint,
  blockSize: BLOCK,
  totalKvBlocks: 512,
  maxNumSeqs: 256,
};

interface Running {
  runtime: Runtime;
  worker: Worker;
}
const workers = new Map<InstanceId, Running>();
let client: Runtime;
const routers: Router[] = [];

async function startOne(): Promise<void> {
  const runtime = await createRuntime({
    log,
    etcdEndpoints: [inject('etcdEndpoint')],
    natsServer: inject('natsUrl'),
  });
  const worker = await startWorker(
    {
      namespace,
      loadMetricsIntervalMs: 100,
      engine: {
        kind: 'mocker',
        tokenizerDir: defaultTokenizerDir(),
        blockSize: BLOCK,
        numGpuBlocks: 512,
        speedupRatio: 1000,
      },
    },
    runtime,
    log,
  );
  workers.set(runtime.instanceId, { runtime, worker });
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function newRouter(): Promise<Router> {
  const router = await createRouter(DEFAULT_ROUTER_SETTINGS, model, client, { log });
  routers.push(router);
  await until(
    'the router to see every worker, synced',
    () =>
      router.instanceIds().length === workers.size &&
      router.instanceIds().every((id) => !router.indexer.isResyncing(id)),
  );
  return router;
}

/** Routes and runs one request to completion, as the frontend does. */
async function serve(router: Router, requestId: string, tokenIds: number[]) {
  const outcome = await router.route({ requestId, tokenIds });
  if (outcome.kind !== 'routed') throw new Error(`not routed: ${JSON.stringify(outcome)}`);
  const instance = (await client.discovery.list(endpoint)).find((i) => i.instanceId === outcome.instance);
  if (instance === undefined) throw new Error('routed to an instance discovery does not list');
  const request: GenerateRequest = {
    requestId,
    model: model.name,
    tokenIds,
    sampling: {},
    stop: { maxTokens: 2 },
  };
  let first = true;
  for await (const _frame of client.requestPlane.call<GenerateResponse>(instance, request, {
    responseSchema: generateResponseSchema,
  })) {
    if (first) router.firstToken(requestId);
    first = false;
  }
  router.complete(requestId);
  return outcome;
}

const prompt = (family: number, length: number, tail = 0) =>
  Array.from({ length }, (_, i) => (i < length - 8 ? 1000 * family + i : 50_000 + 100 * tail + i));

/** Whether the router's index shows `worker` caching all full blocks of the tokens. */
const indexed = (router: Router, worker: InstanceId, tokens: number[]) =>
  router.indexer.findMatches(wasmRequestHashes(tokens, BLOCK)).get(worker) ===
  Math.floor(tokens.length / BLOCK);

beforeAll(async () => {
  client = await createRuntime({
    log,
    etcdEndpoints: [inject('etcdEndpoint')],
    natsServer: inject('natsUrl'),
  });
  for (let i = 0; i < 3; i++) await startOne();
}, 60_000);

afterAll(async () => {
  for (const r of routers) await r.close();
  for (const { runtime, worker } of workers.values()) {
    await worker.close();
    await runtime.close();
  }
  await client?.close();
});

describe('KV routing over NATS with mocker workers', () => {
  const holders = new Map<number, InstanceId>();

  it('sends requests that share a prefix to the worker that caches it', async () => {
    const router = await newRouter();
    // Three prompt families, each first seen once: they spread over the workers (ties: fewest cached).
    for (const family of [1, 2, 3]) {
      const first = await serve(router, `f${family}-0`, prompt(family, 64));
      holders.set(family, first.instance);
      await until(`family ${family} indexed`, () => indexed(router, first.instance, prompt(family, 64)));
    }
    expect(new Set(holders.values()).size).toBe(3);
    // Later requests with the same 56-token prefix and another tail go where the prefix is cached.
    for (let round = 1; round <= 3; round++) {
      for (const family of [1, 2, 3]) {
        const out = await serve(router, `f${family}-${round}`, prompt(family, 64, round));
        expect(out.instance).toBe(holders.get(family));
        expect(out.overlapBlocks).toBeGreaterThanOrEqual(56 / BLOCK);
      }
    }
  });

  it('a router that starts later learns the caches from the workers dumps', async () => {
    const late = await newRouter();
    for (const [family, holder] of holders) {
      expect(late.indexer.findMatches(wasmRequestHashes(prompt(family, 64), BLOCK)).get(holder)).toBe(
        64 / BLOCK,
      );
      const out = await late.route({ requestId: `late-${family}`, tokenIds: prompt(family, 64, 9) });
      expect(out).toMatchObject({ kind: 'routed', instance: holder });
      late.complete(`late-${family}`);
    }
  });

  it('forgets a worker that dies', async () => {
    const router = routers[0] as Router;
    const victim = holders.get(1) as InstanceId;
    const running = workers.get(victim) as Running;
    workers.delete(victim);
    await running.worker.close();
    await running.runtime.close();
    await until('the router to drop the dead worker', () => !router.instanceIds().includes(victim));
    expect(router.indexer.hasWorker(victim)).toBe(false);
    const out = await serve(router, 'after-death', prompt(1, 64, 7));
    expect(out.instance).not.toBe(victim);
    expect(out.overlapBlocks).toBe(0);
    // The other families still go to their holders.
    expect((await serve(router, 'after-death-2', prompt(2, 64, 7))).instance).toBe(holders.get(2));
  });
});
