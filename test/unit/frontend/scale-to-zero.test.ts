// Scale to zero that stays routable: a standby card (src/runtime/standby.ts) keeps a model listed with
// no worker; its requests wait in the frontend until a worker comes (then they are served), or get an
// OpenAI-shaped 503 naming the model and the wait. Over the in-memory runtime, the openai SDK as client.
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { type Frontend, startFrontend } from '../../../src/frontend/index.js';
import {
  createRuntime,
  MemoryHub,
  type Runtime,
  registerStandby,
  standbyInstance,
} from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { serveTestWorker, testCard } from './test-worker.js';

const log = createLogger({ level: 'silent' });
const MODEL = 'test-model';
const SCOPE = { namespace: 'dynamo', component: 'backend' };

interface Setup {
  hub: MemoryHub;
  frontend: Frontend;
  runtimes: Runtime[];
  planner: Runtime;
  client: OpenAI;
}

let s: Setup | undefined;

async function setUp(workerWait: { maxWaiting?: number; timeoutMs?: number }): Promise<Setup> {
  const hub = new MemoryHub();
  const frontendRuntime = await createRuntime({ log, memory: hub });
  const planner = await createRuntime({ log, memory: hub });
  // Parked before the frontend starts: the model was scaled to zero by a planner that holds its card.
  await registerStandby(
    planner.discovery,
    standbyInstance(SCOPE, planner.instanceId, 'memory'),
    testCard(MODEL),
  );
  const frontend = await startFrontend(
    {
      host: '127.0.0.1',
      port: 0,
      migrationLimit: 0,
      busyStatusCode: 529,
      bodyLimitBytes: 1 << 20,
      workerWait,
    },
    frontendRuntime,
    log,
  );
  const client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  return { hub, frontend, runtimes: [frontendRuntime], planner, client };
}

async function addWorker(setup: Setup): Promise<void> {
  const runtime = await createRuntime({ log, memory: setup.hub });
  setup.runtimes.push(runtime);
  await serveTestWorker(runtime, { name: MODEL, reply: 'Hello there' });
}

async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !(await check()); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await check()).toBe(true);
}

async function waitingGauge(setup: Setup): Promise<number> {
  const text = await (await fetch(`${setup.frontend.url}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`dynamo_frontend_waiting_for_worker{model="${MODEL}"}`));
  return Number(line?.split(' ').at(-1) ?? Number.NaN);
}

afterEach(async () => {
  if (s === undefined) return;
  await s.frontend.close();
  await Promise.all([...s.runtimes, s.planner].map((r) => r.close()));
  s = undefined;
});

describe('a model scaled to zero', () => {
  it('stays listed with no worker, and /health stays 200 naming it parked', async () => {
    s = await setUp({});
    const models = await s.client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([MODEL]);
    expect((await s.client.models.retrieve(MODEL)).id).toBe(MODEL);
    const health = await fetch(`${s.frontend.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'healthy', parked: [MODEL], instances: [] });
    expect(await waitingGauge(s)).toBe(0);
  });

  it('holds a request until a worker comes, then serves it', async () => {
    s = await setUp({ timeoutMs: 30_000 });
    const setup = s;
    const answer = setup.client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 8,
    });
    // The request waits, visibly: the planner's signal.
    await until(async () => (await waitingGauge(setup)) === 1);
    await addWorker(setup);
    const reply = await answer;
    expect(reply.choices[0]?.message.content).toContain('Hello');
    expect(await waitingGauge(setup)).toBe(0);
    const metrics = await (await fetch(`${setup.frontend.url}/metrics`)).text();
    expect(metrics).toContain(`dynamo_frontend_worker_wait_total{model="${MODEL}",outcome="served"} 1`);
  });

  it('answers 503 naming the model and the wait when no worker comes in time', async () => {
    s = await setUp({ timeoutMs: 200 });
    const response = await fetch(`${s.frontend.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
    });
    expect(response.status).toBe(503);
    const body = (await response.json()) as { error: { message: string; code: string; type: string } };
    expect(body.error.code).toBe('worker_wait_timeout');
    expect(body.error.type).toBe('service_unavailable');
    expect(body.error.message).toContain(MODEL);
    expect(body.error.message).toContain('waited 0.2 s');
  });

  it('refuses at once past the waiting bound, and with waiting off', async () => {
    s = await setUp({ maxWaiting: 0 });
    const err = await s.client.completions
      .create({ model: MODEL, prompt: 'hi', max_tokens: 2 })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    expect((err as Error).message).toContain('--worker-wait-queue 0');
  });

  it('is unlisted once its standby card goes with no worker (the planner died)', async () => {
    s = await setUp({});
    const setup = s;
    await setup.planner.close();
    await until(() => setup.frontend.app.services.registry.get(MODEL) === undefined);
    const response = await fetch(`${setup.frontend.url}/v1/models/${MODEL}`);
    expect(response.status).toBe(404);
  });
});
