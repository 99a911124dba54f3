// The router's index health in /health (a worker that serves but publishes no KV events goes stale,
// and back to fresh on its next event; 200 throughout) and route debug (x-dynamo-route-debug: 1 answered
// with x-dynamo-route only under --router-debug), end to end in one process with the openai SDK.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  DEFAULT_NAMESPACE,
  DEFAULT_WORKER_COMPONENT,
  ENDPOINTS,
  type KvDump,
} from '../../../src/api/index.js';
import { type Frontend, startFrontend } from '../../../src/frontend/index.js';
import type { RouteExplanation, RouterSettings } from '../../../src/router/index.js';
import { createRuntime, KV_EVENTS, MemoryHub } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { serveTestWorker } from './test-worker.js';

const log = createLogger({ level: 'silent' });
const scope = { namespace: DEFAULT_NAMESPACE, component: DEFAULT_WORKER_COMPONENT };
/** Long enough for several full KV blocks (16 tokens each), so the worker owes a stored event. */
const PROMPT = 'Tell me about the history of prefix caching in large language model serving systems, please.';

interface RouterHealth {
  model: string;
  mode: string;
  state: string;
  reason?: string;
  workers: { instance_id: string; state: string; owed_s: number; resyncs: number; dump_failures: number }[];
}

async function health(frontend: Frontend): Promise<{ status: number; router: RouterHealth[] }> {
  const res = await fetch(`${frontend.url}/health`);
  const body = (await res.json()) as { router: RouterHealth[] };
  return { status: res.status, router: body.router };
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300 && !(await check()); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await check()).toBe(true);
}

async function setUp(router: Partial<RouterSettings>) {
  const hub = new MemoryHub();
  const worker = await createRuntime({ log, memory: hub });
  // An empty cache: the router's first resync succeeds.
  await worker.serveEndpoint(
    { ...scope, endpoint: ENDPOINTS.kvDump },
    async function* (): AsyncIterable<KvDump> {
      yield { workerId: worker.instanceId, lastEventId: -1, events: [] };
    },
    { requestSchema: z.object({}) },
  );
  await serveTestWorker(worker);
  const runtime = await createRuntime({ log, memory: hub });
  const frontend = await startFrontend(
    { host: '127.0.0.1', port: 0, migrationLimit: 0, busyStatusCode: 529, bodyLimitBytes: 1 << 20, router },
    runtime,
    log,
  );
  const client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  await until(async () => (await health(frontend)).router[0]?.workers[0]?.resyncs === 1);
  return {
    worker,
    frontend,
    client,
    async close() {
      await frontend.close();
      await worker.close();
      await runtime.close();
    },
  };
}

describe('router index health in /health', () => {
  let s: Awaited<ReturnType<typeof setUp>>;
  beforeAll(async () => {
    s = await setUp({ staleAfterMs: 100 });
  });
  afterAll(() => s.close());

  it('goes load-only when its only worker serves without publishing events, fresh again on one', async () => {
    const id = s.worker.instanceId;
    expect(await health(s.frontend)).toEqual({
      status: 200,
      router: [
        expect.objectContaining({
          model: 'test-model',
          mode: 'kv',
          state: 'healthy',
          workers: [expect.objectContaining({ instance_id: id, state: 'fresh', dump_failures: 0 })],
        }),
      ],
    });
    await s.client.chat.completions.create({
      model: 'test-model',
      messages: [{ role: 'user', content: PROMPT }],
    });
    await until(async () => (await health(s.frontend)).router[0]?.state === 'load-only');
    const stale = await health(s.frontend);
    expect(stale.status).toBe(200);
    expect(stale.router[0]).toMatchObject({
      reason: 'every worker is stale or resyncing',
      workers: [{ instance_id: id, state: 'stale' }],
    });
    expect(stale.router[0]?.workers[0]?.owed_s).toBeGreaterThan(0);
    const metrics = await (await fetch(`${s.frontend.url}/metrics`)).text();
    expect(metrics).toContain(
      'dynamo_router_index_state{model="test-model",dynamo_router_index_state="load-only"} 1',
    );
    expect(metrics).toContain(
      `dynamo_router_worker_index_state{model="test-model",worker="${id}",dynamo_router_worker_index_state="stale"} 1`,
    );
    s.worker.eventPlane.publish(KV_EVENTS, scope, { workerId: id, eventId: 0, data: 'cleared' });
    await until(async () => (await health(s.frontend)).router[0]?.state === 'healthy');
    expect((await health(s.frontend)).router[0]?.workers[0]).toMatchObject({ state: 'fresh', owed_s: 0 });
  });
});

describe('route debug', () => {
  const ask = { headers: { 'x-dynamo-route-debug': '1' } };
  const messages = [{ role: 'user' as const, content: PROMPT }];

  it('answers x-dynamo-route with the candidates and the pick under --router-debug, unary and streamed', async () => {
    const s = await setUp({ routeDebug: true });
    try {
      const id = s.worker.instanceId;
      const unary = await s.client.chat.completions
        .create({ model: 'test-model', messages }, ask)
        .withResponse();
      const decisions = JSON.parse(
        unary.response.headers.get('x-dynamo-route') ?? 'null',
      ) as RouteExplanation[];
      expect(decisions).toEqual([
        {
          mode: 'kv',
          index: 'healthy',
          chosen: id,
          candidates: [
            {
              worker: id,
              overlapBlocks: 0,
              prefillTokens: expect.any(Number),
              decodeBlocks: expect.any(Number),
              pendingPrefills: expect.any(Number),
              logit: expect.any(Number),
              activeOverlapBlocks: 0,
            },
          ],
          busy: [],
        },
      ]);
      expect(decisions[0]?.candidates[0]?.prefillTokens).toBeGreaterThan(16);
      const streamed = await s.client.chat.completions
        .create({ model: 'test-model', messages, stream: true }, ask)
        .withResponse();
      for await (const _ of streamed.data) {
        // read to the end
      }
      expect(JSON.parse(streamed.response.headers.get('x-dynamo-route') ?? 'null')).toEqual([
        expect.objectContaining({ mode: 'kv', chosen: id }),
      ]);
      // Not asked: no header.
      const plain = await s.client.chat.completions.create({ model: 'test-model', messages }).withResponse();
      expect(plain.response.headers.get('x-dynamo-route')).toBeNull();
    } finally {
      await s.close();
    }
  });

  it('ignores the request header without --router-debug', async () => {
    const s = await setUp({});
    try {
      const res = await s.client.chat.completions
        .create({ model: 'test-model', messages }, ask)
        .withResponse();
      expect(res.response.headers.get('x-dynamo-route')).toBeNull();
    } finally {
      await s.close();
    }
  });
});
