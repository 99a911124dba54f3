// The frontend end to end in one process, over the in-memory runtime, with the openai SDK as the
// client: routes, streaming, usage, stop strings, errors, health, disconnects and migration.
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Frontend, startFrontend } from '../../../src/frontend/index.js';
import type { RouterSettings } from '../../../src/router/index.js';
import { createRuntime, MemoryHub, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { qwenTokenizer, serveTestWorker, type TestWorkerOptions } from './test-worker.js';

const log = createLogger({ level: 'silent' });
const REPLY = 'Hello there, how are you today?';

interface Setup {
  hub: MemoryHub;
  frontend: Frontend;
  frontendRuntime: Runtime;
  workers: Runtime[];
  client: OpenAI;
}

async function addWorker(setup: Setup, options: TestWorkerOptions = {}): Promise<Runtime> {
  const runtime = await createRuntime({ log, memory: setup.hub });
  await serveTestWorker(runtime, { reply: REPLY, ...options });
  setup.workers.push(runtime);
  return runtime;
}

async function setUp(migrationLimit = 0, router: Partial<RouterSettings> = {}): Promise<Setup> {
  const hub = new MemoryHub();
  const frontendRuntime = await createRuntime({ log, memory: hub });
  const frontend = await startFrontend(
    { host: '127.0.0.1', port: 0, migrationLimit, busyStatusCode: 529, bodyLimitBytes: 1024 * 1024, router },
    frontendRuntime,
    log,
  );
  const client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  return { hub, frontend, frontendRuntime, workers: [], client };
}

async function tearDown(setup: Setup): Promise<void> {
  await setup.frontend.close();
  await Promise.all(setup.workers.map((w) => w.close()));
  await setup.frontendRuntime.close();
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
}

describe('frontend with a worker', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp();
    await addWorker(s);
    await until(() => (s.frontend.app.services.registry.get('test-model')?.instances.size ?? 0) > 0);
  });
  afterAll(() => tearDown(s));

  it('lists the model', async () => {
    const models = await s.client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['test-model']);
    expect((await s.client.models.retrieve('test-model')).id).toBe('test-model');
  });

  it('answers a chat completion with usage and finish_reason stop', async () => {
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'Hi' },
    ];
    const res = await s.client.chat.completions.create({ model: 'test-model', messages });
    expect(res.object).toBe('chat.completion');
    expect(res.choices[0]?.message.content).toBe(REPLY);
    expect(res.choices[0]?.finish_reason).toBe('stop');
    const prompt =
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n';
    const promptTokens = qwenTokenizer.encode(prompt, false).length;
    const completionTokens = qwenTokenizer.encode(REPLY, false).length + 1;
    expect(res.usage).toEqual({
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      prompt_tokens_details: { cached_tokens: 0 },
    });
  });

  it('streams a chat completion, with usage last when asked', async () => {
    const stream = await s.client.chat.completions.create({
      model: 'test-model',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const finishes: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      for (const choice of chunk.choices) {
        text += choice.delta.content ?? '';
        finishes.push(choice.finish_reason);
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(REPLY);
    expect(chunks).toBeGreaterThan(5);
    expect(finishes.at(-1)).toBe('stop');
    expect(finishes.filter((f) => f !== null)).toEqual(['stop']);
    expect(usage?.completion_tokens).toBe(qwenTokenizer.encode(REPLY, false).length + 1);
  });

  it('stops at max_tokens with finish_reason length', async () => {
    const res = await s.client.chat.completions.create({
      model: 'test-model',
      messages: [{ role: 'user', content: 'Hi' }],
      max_completion_tokens: 3,
    });
    expect(res.choices[0]?.finish_reason).toBe('length');
    expect(res.usage?.completion_tokens).toBe(3);
    expect(res.choices[0]?.message.content).toBe(
      qwenTokenizer.decode(qwenTokenizer.encode(REPLY, false).slice(0, 3), true),
    );
  });

  it('cuts at a stop string spanning tokens, without emitting it, streamed and not', async () => {
    const res = await s.client.chat.completions.create({
      model: 'test-model',
      messages: [{ role: 'user', content: 'Hi' }],
      stop: ['re, ho'],
    });
    expect(res.choices[0]?.message.content).toBe('Hello the');
    expect(res.choices[0]?.finish_reason).toBe('stop');
    const stream = await s.client.completions.create({
      model: 'test-model',
      prompt: 'x',
      stop: 'you',
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe('Hello there, how are ');
  });

  it('answers completions for a text prompt and a token-id prompt, ignore_eos honoured', async () => {
    const res = await s.client.completions.create({ model: 'test-model', prompt: 'Once', max_tokens: 50 });
    expect(res.choices[0]?.text).toBe(REPLY);
    expect(res.usage?.prompt_tokens).toBe(qwenTokenizer.encode('Once', true).length);
    const ids = await s.client.completions.create({
      model: 'test-model',
      prompt: [1, 2, 3],
      max_tokens: 12,
      // @ts-expect-error vLLM's extension, not in the SDK's types
      ignore_eos: true,
    });
    expect(ids.usage?.prompt_tokens).toBe(3);
    expect(ids.usage?.completion_tokens).toBe(12);
    expect(ids.choices[0]?.finish_reason).toBe('length');
  });

  it('refuses what it does not support with a 400 naming the field', async () => {
    const err = await s.client.completions
      .create({ model: 'test-model', prompt: 'x', n: 2, best_of: 3 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const bad = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(bad.param).toBe('best_of');
    expect(bad.code).toBe('unsupported_parameter');
    expect(bad.message).toMatch(/best_of other than n is not supported/);
    const image = await s.client.chat.completions
      .create({
        model: 'test-model',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x/y.png' } }] }],
      })
      .then(
        () => undefined,
        (e: unknown) => e as InstanceType<typeof OpenAI.BadRequestError>,
      );
    expect(image?.status).toBe(400);
    expect(image?.param).toBe('messages[0].content[0].type');
  });

  it('answers 404 for an unknown model in OpenAI error shape', async () => {
    const res = await fetch(`${s.frontend.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: {
        message: 'model "nope" does not exist',
        type: 'invalid_request_error',
        param: 'model',
        code: 'model_not_found',
      },
    });
  });

  it('answers 400 context_length_exceeded for a prompt over the context length, and 400 for max_tokens past it', async () => {
    const long = await fetch(`${s.frontend.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'test-model', prompt: Array.from({ length: 5000 }, () => 7) }),
    });
    expect(long.status).toBe(400);
    expect(await long.json()).toEqual({
      error: {
        message: expect.stringMatching(/5000 tokens/),
        type: 'invalid_request_error',
        param: 'prompt',
        code: 'context_length_exceeded',
      },
    });
    const max = await fetch(`${s.frontend.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'test-model', prompt: 'x', max_tokens: 5000 }),
    });
    expect(max.status).toBe(400);
    expect(((await max.json()) as { error: { param: string } }).error.param).toBe('max_tokens');
  });

  it('serves /health, /live, /metrics and /openapi.json', async () => {
    const health = await fetch(`${s.frontend.url}/health`);
    expect(health.status).toBe(200);
    const body = (await health.json()) as { instances: { model: string }[] };
    expect(body.instances.map((i) => i.model)).toEqual(['test-model']);
    expect((await fetch(`${s.frontend.url}/live`)).status).toBe(200);
    const metrics = await (await fetch(`${s.frontend.url}/metrics`)).text();
    expect(metrics).toMatch(
      /dynamo_frontend_requests_total\{model="test-model",endpoint="chat_completions",request_type="stream",status="success"\} [1-9]/,
    );
    expect(metrics).toContain('dynamo_frontend_time_to_first_token_seconds_bucket');
    // Refused requests count as errors; a model nobody serves is not a label value.
    expect(metrics).toMatch(
      /dynamo_frontend_requests_total\{model="unknown",endpoint="chat_completions",request_type="unary",status="error"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /dynamo_frontend_requests_total\{model="test-model",endpoint="chat_completions",request_type="unary",status="error"\} [1-9]/,
    );
    expect(metrics).not.toContain('model="nope"');
    expect(metrics).toContain('dynamo_frontend_output_sequence_tokens_count{model="test-model"}');
    const openapi = (await (await fetch(`${s.frontend.url}/openapi.json`)).json()) as { paths: object };
    expect(Object.keys(openapi.paths)).toContain('/v1/chat/completions');
  });
});

describe('frontend without workers', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp();
  });
  afterAll(() => tearDown(s));

  it('is unhealthy and answers 404 for a model nobody serves', async () => {
    const health = await fetch(`${s.frontend.url}/health`);
    expect(health.status).toBe(503);
    const err = await s.client.completions.create({ model: 'm', prompt: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe('frontend: disconnects and migration', () => {
  let s: Setup;
  afterEach(() => tearDown(s));

  it('cancels the request on its worker when the client disconnects', async () => {
    s = await setUp();
    const cancelled: string[] = [];
    let received = 0;
    await addWorker(s, {
      stallAfter: 2,
      onCancel: (id) => cancelled.push(id),
      onRequest: () => {
        received++;
      },
    });
    await until(() => (s.frontend.app.services.registry.get('test-model')?.instances.size ?? 0) > 0);
    const controller = new AbortController();
    const stream = await s.client.chat.completions.create(
      { model: 'test-model', messages: [{ role: 'user', content: 'Hi' }], stream: true },
      { signal: controller.signal },
    );
    let chunks = 0;
    try {
      for await (const _ of stream) {
        if (++chunks === 2) controller.abort();
      }
    } catch {
      // the SDK may raise its abort error
    }
    expect(chunks).toBe(2);
    await until(() => cancelled.length === 1);
    // Not streamed: the same.
    const unary = new AbortController();
    const pending = fetch(`${s.frontend.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'test-model', prompt: 'x' }),
      signal: unary.signal,
    }).catch((e: unknown) => e);
    await until(() => received === 2);
    unary.abort();
    await pending;
    await until(() => cancelled.length === 2);
    await until(
      () =>
        s.frontend.app.services.metrics.registry.getSingleMetric('dynamo_frontend_disconnected_clients') !==
        undefined,
    );
    const text = await s.frontend.app.services.metrics.registry.metrics();
    expect(text).toMatch(/dynamo_frontend_disconnected_clients\{model="test-model"\} 2/);
  }, 30_000);

  it('continues a stream on another worker when its worker dies mid-stream', async () => {
    s = await setUp(2);
    const first = await addWorker(s, { stallAfter: 4 });
    const requests: number[][] = [];
    await until(() => (s.frontend.app.services.registry.get('test-model')?.instances.size ?? 0) === 1);
    const stream = await s.client.chat.completions.create({
      model: 'test-model',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
      if (s.workers.length === 1 && qwenTokenizer.encode(text, false).length >= 4) {
        // The first worker has stalled after 4 tokens: bring up a second one and kill the first.
        await addWorker(s, { onRequest: (r) => requests.push(r.tokenIds) });
        await until(() => (s.frontend.app.services.registry.get('test-model')?.instances.size ?? 0) === 2);
        await first.close();
      }
    }
    expect(text).toBe(REPLY);
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBe(qwenTokenizer.encode(REPLY, false).length + 1);
    // The second worker got the prompt plus the 4 tokens already produced.
    expect(requests).toHaveLength(1);
    expect(requests[0]?.slice(-4)).toEqual(qwenTokenizer.encode(REPLY, false).slice(0, 4));
    const metrics = await s.frontend.app.services.metrics.registry.metrics();
    expect(metrics).toMatch(
      /dynamo_frontend_model_migration_total\{model="test-model",migration_type="ongoing_request"\} 1/,
    );
  }, 30_000);

  it('queues a request while every worker is busy, and answers 529 once the queue is full', async () => {
    // One request takes the whole (tiny) capacity: the worker is busy until it ends.
    s = await setUp(0, { mode: 'round-robin', busyThreshold: 0.0001, maxQueued: 1, queueTimeoutMs: 30_000 });
    await addWorker(s, { stallAfter: 1 });
    await until(() => (s.frontend.app.services.registry.get('test-model')?.instances.size ?? 0) > 0);
    const first = new AbortController();
    const holding = await s.client.chat.completions.create(
      { model: 'test-model', messages: [{ role: 'user', content: 'Hi' }], stream: true },
      { signal: first.signal },
    );
    const reading = (async () => {
      try {
        for await (const _ of holding);
      } catch {
        // aborted below
      }
    })();
    // The second waits in the queue...
    const queued = fetch(`${s.frontend.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'test-model', prompt: 'x', max_tokens: 1 }),
    });
    const gauge = async () =>
      (await s.frontend.app.services.metrics.registry.metrics()).match(
        /dynamo_frontend_queued_requests\{model="test-model"\} (\d+)/,
      )?.[1];
    for (let i = 0; i < 500 && (await gauge()) !== '1'; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await gauge()).toBe('1');
    // ...and the third finds the queue full.
    const busy = await fetch(`${s.frontend.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'test-model', prompt: 'x', max_tokens: 1 }),
    });
    expect(busy.status).toBe(529);
    expect(((await busy.json()) as { error: { code: string } }).error.code).toBe('all_workers_busy');
    // The first ends (client gone): the queued one runs.
    first.abort();
    await reading;
    const res = await queued;
    expect(res.status).toBe(200);
    expect(await gauge()).toBe('0');
  }, 30_000);

  it('frees the worker for the router when a stream ends early on a stop string', async () => {
    // Busy with a single request, no queue: a request the router still counts would make the next a 529.
    s = await setUp(0, { mode: 'round-robin', busyThreshold: 0.0001, maxQueued: 0 });
    await addWorker(s);
    await until(() => (s.frontend.app.services.registry.get('test-model')?.instances.size ?? 0) > 0);
    for (let i = 0; i < 3; i++) {
      const stream = await s.client.chat.completions.create({
        model: 'test-model',
        messages: [{ role: 'user', content: 'Hi' }],
        stop: ['there'],
        stream: true,
      });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).toBe('Hello ');
    }
    const after = await s.client.chat.completions.create({
      model: 'test-model',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(after.choices[0]?.message.content).toBe(REPLY);
  }, 30_000);

  it('on close, lets a stream in flight finish within the grace period and cuts one that outlasts it', async () => {
    s = await setUp();
    const cancelled: string[] = [];
    // About 200 ms of tokens: in flight when close starts, done well within its 1 s of grace.
    await addWorker(s, { name: 'test-model', tokenDelayMs: 20 });
    await addWorker(s, { name: 'stalling', stallAfter: 2, onCancel: (id) => cancelled.push(id) });
    await until(() => s.frontend.app.services.registry.list().length === 2);
    const finishing = await s.client.chat.completions.create({
      model: 'test-model',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
    });
    const stalled = await s.client.chat.completions.create({
      model: 'stalling',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
    });
    const read = async (stream: AsyncIterable<OpenAI.ChatCompletionChunk>) => {
      let text = '';
      try {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        return { text, complete: true };
      } catch {
        return { text, complete: false };
      }
    };
    const results = Promise.all([read(finishing), read(stalled)]);
    await s.frontend.close(1000);
    const [a, b] = await results;
    expect(a).toEqual({ text: REPLY, complete: true });
    expect(b.complete).toBe(false);
    await until(() => cancelled.length === 1);
  }, 30_000);

  it('ends a stream with an error event when its worker dies and migration is off', async () => {
    s = await setUp(0);
    const worker = await addWorker(s, { stallAfter: 3 });
    await until(() => (s.frontend.app.services.registry.get('test-model')?.instances.size ?? 0) > 0);
    const stream = await s.client.chat.completions.create({
      model: 'test-model',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
    });
    let chunks = 0;
    const error = await (async () => {
      try {
        for await (const _ of stream) {
          if (++chunks === 2) await worker.close();
        }
        return undefined;
      } catch (err) {
        return err;
      }
    })();
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(String((error as Error).message)).toMatch(/worker/);
    const metrics = await s.frontend.app.services.metrics.registry.metrics();
    expect(metrics).toMatch(
      /dynamo_frontend_requests_total\{model="test-model",endpoint="chat_completions",request_type="stream",status="error"\} 1/,
    );
  }, 30_000);

  it('does not cancel on the worker a request that finished normally', async () => {
    s = await setUp();
    const cancelled: string[] = [];
    await addWorker(s, { onCancel: (id) => cancelled.push(id) });
    await until(() => (s.frontend.app.services.registry.get('test-model')?.instances.size ?? 0) > 0);
    const messages = [{ role: 'user' as const, content: 'Hi' }];
    await s.client.chat.completions.create({ model: 'test-model', messages });
    const stream = await s.client.chat.completions.create({ model: 'test-model', messages, stream: true });
    for await (const _ of stream);
    await new Promise((r) => setTimeout(r, 50));
    expect(cancelled).toEqual([]);
  }, 30_000);

  it('routes by the x-dynamo-worker-instance-id header in direct mode', async () => {
    s = await setUp(0, { mode: 'direct' });
    const worker = await addWorker(s);
    await until(() => (s.frontend.app.services.registry.get('test-model')?.instances.size ?? 0) > 0);
    const body = { model: 'test-model', prompt: 'x', max_tokens: 2 };
    const without = await s.client.completions.create(body).catch((e: unknown) => e);
    expect(without).toBeInstanceOf(OpenAI.BadRequestError);
    expect((without as InstanceType<typeof OpenAI.BadRequestError>).param).toBe(
      'x-dynamo-worker-instance-id',
    );
    const named = await s.client.completions.create(body, {
      headers: { 'x-dynamo-worker-instance-id': worker.instanceId },
    });
    expect(named.usage?.completion_tokens).toBe(2);
  }, 30_000);
});
