// Admission control end to end over the in-memory runtime: workers that refuse streams past their
// bound (overloaded) and the router's retry, the busy answer (529 / --busy-status-code) with
// Retry-After after the queue timeout, SSE keep-alive comments while a stream waits, the HTTP timeouts,
// and the 400s for token ids outside the vocabulary and prompts past the context length.
import { once } from 'node:events';
import { connect } from 'node:net';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { type Frontend, type FrontendConfig, startFrontend } from '../../../src/frontend/index.js';
import { createRuntime, MemoryHub, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { QWEN_ID_LIMIT, serveTestWorker, type TestWorkerOptions } from './test-worker.js';

const log = createLogger({ level: 'silent' });

interface Setup {
  hub: MemoryHub;
  frontend: Frontend;
  runtimes: Runtime[];
}

let current: Setup | undefined;

async function setUp(config: Partial<FrontendConfig>, workers: TestWorkerOptions[]): Promise<Setup> {
  const hub = new MemoryHub();
  const frontendRuntime = await createRuntime({ log, memory: hub });
  const frontend = await startFrontend(
    {
      host: '127.0.0.1',
      port: 0,
      migrationLimit: 0,
      busyStatusCode: 529,
      bodyLimitBytes: 1024 * 1024,
      ...config,
    },
    frontendRuntime,
    log,
  );
  const runtimes = [frontendRuntime];
  for (const options of workers) {
    const runtime = await createRuntime({ log, memory: hub });
    await serveTestWorker(runtime, options);
    runtimes.push(runtime);
  }
  for (let i = 0; i < 500; i++) {
    if ((frontend.app.services.registry.get('test-model')?.instances.size ?? 0) === workers.length) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  current = { hub, frontend, runtimes };
  return current;
}

afterEach(async () => {
  if (!current) return;
  await current.frontend.close();
  await Promise.all(current.runtimes.map((r) => r.close()));
  current = undefined;
});

function post(s: Setup, path: string, body: unknown): Promise<Response> {
  return fetch(`${s.frontend.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function metric(s: Setup, pattern: RegExp): Promise<string | undefined> {
  return (await s.frontend.app.services.metrics.registry.metrics()).match(pattern)?.[1];
}

describe('admission control', () => {
  it('a worker at its bound refuses as overloaded; the request runs on another, no migration spent', async () => {
    const s = await setUp({ router: { mode: 'round-robin', busyThreshold: null } }, [{ maxStreams: 0 }, {}]);
    for (let i = 0; i < 4; i++) {
      const res = await post(s, '/v1/completions', { model: 'test-model', prompt: 'x', max_tokens: 2 });
      expect(res.status).toBe(200);
    }
    // Round robin (its counter moves on retries too) sent some of them to the refusing worker first.
    const retries = Number(
      await metric(s, /dynamo_frontend_overload_retries_total\{model="test-model"\} (\d+)/),
    );
    expect(retries).toBeGreaterThanOrEqual(1);
    expect(await metric(s, /dynamo_frontend_model_migration_total\{[^}]*\} (\d+)/)).toBeUndefined();
  });

  it('every worker overloaded: 529 with Retry-After (503 with --busy-status-code 503)', async () => {
    const s = await setUp({ router: { busyThreshold: null }, admission: { retryAfterS: 3 } }, [
      { maxStreams: 0 },
      { maxStreams: 0 },
    ]);
    const res = await post(s, '/v1/completions', { model: 'test-model', prompt: 'x', max_tokens: 2 });
    expect(res.status).toBe(529);
    expect(res.headers.get('retry-after')).toBe('3');
    const body = (await res.json()) as { error: { code: string; type: string; message: string } };
    expect(body.error).toMatchObject({ code: 'all_workers_busy', type: 'service_unavailable' });
    expect(body.error.message).toMatch(/admission bound \(2 refused\)/);
    await current?.frontend.close();
    await Promise.all(current?.runtimes.map((r) => r.close()) ?? []);
    const s503 = await setUp({ busyStatusCode: 503, router: { busyThreshold: null } }, [{ maxStreams: 0 }]);
    const again = await post(s503, '/v1/chat/completions', {
      model: 'test-model',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(again.status).toBe(503);
    expect(again.headers.get('retry-after')).toBe('1');
  });

  it('a request queued behind busy workers gets 529 + Retry-After at the queue timeout', async () => {
    const s = await setUp(
      { router: { mode: 'round-robin', busyThreshold: 0.0001, maxQueued: 4, queueTimeoutMs: 300 } },
      [{ stallAfter: 1 }],
    );
    const held = await post(s, '/v1/completions', { model: 'test-model', prompt: 'x', stream: true });
    expect(held.status).toBe(200);
    const started = performance.now();
    const res = await post(s, '/v1/completions', { model: 'test-model', prompt: 'y', max_tokens: 1 });
    expect(res.status).toBe(529);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /stayed busy for 300 ms/,
    );
    // It waited for the timeout (a generous bound, not a duration check).
    expect(performance.now() - started).toBeGreaterThan(250);
    await held.body?.cancel();
  });

  it('derives the busy threshold and the queue bound from the card by default', async () => {
    const s = await setUp({ router: { mode: 'round-robin', queueTimeoutMs: 30_000 } }, [{ stallAfter: 1 }]);
    const router = s.frontend.app.services.registry.get('test-model')?.sets.values().next().value?.router;
    // The test card: 64 sequences, one worker: busy at ceil(0.95 · 64) = 61 active, 64 may queue.
    expect(router?.maxQueued).toBe(64);
    expect(router?.settings.busyThreshold).toBe(0.95);
  });

  it('sends SSE keep-alive comments while a stream waits for its first token', async () => {
    const s = await setUp({ admission: { sseKeepAliveMs: 50 } }, [{ firstTokenDelayMs: 400 }]);
    const res = await post(s, '/v1/completions', { model: 'test-model', prompt: 'x', stream: true });
    expect(res.status).toBe(200);
    const text = await res.text();
    const firstData = text.indexOf('data: ');
    const comments = text.slice(0, firstData).split(': keep-alive\n\n').length - 1;
    expect(comments).toBeGreaterThanOrEqual(2);
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    // The OpenAI SDK ignores the comments.
    const client = new OpenAI({ baseURL: `${s.frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.completions.create({ model: 'test-model', prompt: 'x', stream: true });
    let out = '';
    for await (const chunk of stream) out += chunk.choices[0]?.text ?? '';
    expect(out).toBe('Hello there, how are you today?');
  });

  it('a queued stream past the keep-alive interval answers 200, comments, then the busy error event', async () => {
    const s = await setUp(
      {
        router: { mode: 'round-robin', busyThreshold: 0.0001, maxQueued: 4, queueTimeoutMs: 400 },
        admission: { sseKeepAliveMs: 50 },
      },
      [{ stallAfter: 1 }],
    );
    const held = await post(s, '/v1/completions', { model: 'test-model', prompt: 'x', stream: true });
    const res = await post(s, '/v1/completions', { model: 'test-model', prompt: 'y', stream: true });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^(: keep-alive\n\n)+data: \{"error":\{[^\n]*"code":"all_workers_busy"/);
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    await held.body?.cancel();
  });

  it('sets the HTTP server timeouts', async () => {
    const s = await setUp(
      { admission: { requestTimeoutMs: 12_000, connectionTimeoutMs: 0, keepAliveTimeoutMs: 61_000 } },
      [],
    );
    expect(s.frontend.app.server.requestTimeout).toBe(12_000);
    expect(s.frontend.app.server.keepAliveTimeout).toBe(61_000);
    expect(s.frontend.app.server.timeout).toBe(0);
  });
});

describe('graceful stop', () => {
  it('a request arriving on an open connection while the frontend closes gets an OpenAI-shaped 503', async () => {
    const s = await setUp({}, [{ tokenDelayMs: 20 }]);
    const url = new URL(s.frontend.url);
    const socket = connect(Number(url.port), url.hostname);
    await once(socket, 'connect');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
    });
    const request = (prompt: string) => {
      const body = JSON.stringify({ model: 'test-model', prompt, max_tokens: 10 });
      return `POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    };
    socket.write(request('x'));
    for (
      let i = 0;
      i < 200 && (await metric(s, /dynamo_frontend_inflight_requests\{[^}]*\} (\d+)/)) !== '1';
      i++
    )
      await new Promise((r) => setTimeout(r, 5));
    const closed = s.frontend.app.close();
    await new Promise((r) => setTimeout(r, 10)); // the close has begun (its preClose hooks ran)
    socket.write(request('y')); // on the same connection, while the first one still streams
    await Promise.race([once(socket, 'close'), closed.then(() => once(socket, 'close'))]);
    const [first, second] = received.split(/(?=HTTP\/1\.1 )/);
    expect(first).toMatch(/^HTTP\/1\.1 200/);
    expect(second).toMatch(/^HTTP\/1\.1 503/);
    expect(second).toMatch(/retry-after: 1/i);
    expect(JSON.parse(second?.slice(second.indexOf('{')) ?? '')).toEqual({
      error: {
        message: 'the frontend is shutting down: retry on another replica',
        type: 'service_unavailable',
        param: null,
        code: 'shutting_down',
      },
    });
    await closed;
  });
});

describe('prompt checks', () => {
  it('answers 400 naming the index of a token id outside the vocabulary', async () => {
    const s = await setUp({}, [{}]);
    const one = await post(s, '/v1/completions', { model: 'test-model', prompt: [999999999] });
    expect(one.status).toBe(400);
    expect(await one.json()).toEqual({
      error: {
        message: `prompt[0]: token id 999999999 is outside the vocabulary (size ${QWEN_ID_LIMIT})`,
        type: 'invalid_request_error',
        param: 'prompt[0]',
        code: 'invalid_request',
      },
    });
    const batched = await post(s, '/v1/completions', {
      model: 'test-model',
      prompt: [[1, 2, 3, QWEN_ID_LIMIT]],
    });
    expect(batched.status).toBe(400);
    expect(((await batched.json()) as { error: { param: string } }).error.param).toBe('prompt[0][3]');
    // The last id of the vocabulary is fine.
    const edge = await post(s, '/v1/completions', {
      model: 'test-model',
      prompt: [1, QWEN_ID_LIMIT - 1],
      max_tokens: 1,
    });
    expect(edge.status).toBe(200);
  });

  it('answers 400 context_length_exceeded, as OpenAI, for chat and completions', async () => {
    const s = await setUp({}, [{ contextLength: 64 }]);
    const client = new OpenAI({ baseURL: `${s.frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const err = await client.chat.completions
      .create({ model: 'test-model', messages: [{ role: 'user', content: 'word '.repeat(200) }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err).toMatchObject({ status: 400, code: 'context_length_exceeded', param: 'messages' });
    const res = await post(s, '/v1/completions', { model: 'test-model', prompt: 'word '.repeat(200) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { param: string; code: string } }).error).toMatchObject({
      param: 'prompt',
      code: 'context_length_exceeded',
    });
  });
});
