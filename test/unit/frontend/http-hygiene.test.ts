// HTTP hygiene (issue 21 item 6): x-request-id echoed or generated and bound to the request's log
// lines, CORS off by default and on for named origins, 415 for bodies that are not JSON or are
// compressed, 405 with Allow for a wrong method on a known path, one access log line per request
// (off with accessLog: false), and log lines that never repeat a key.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Frontend, type HttpOptions, startFrontend } from '../../../src/frontend/index.js';
import { createRuntime, MemoryHub, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { Lines, topLevelKeys } from './log-lines.js';
import { serveTestWorker } from './test-worker.js';

interface Setup {
  frontend: Frontend;
  runtimes: Runtime[];
  out: Lines;
  client: OpenAI;
}

async function setUp(http: Partial<HttpOptions>): Promise<Setup> {
  const out = new Lines();
  const log = createLogger({ level: 'info', destination: out, pretty: false });
  const quiet = createLogger({ level: 'silent' });
  const hub = new MemoryHub();
  const worker = await createRuntime({ log: quiet, memory: hub });
  await serveTestWorker(worker, { reply: 'Hello there.' });
  const runtime = await createRuntime({ log, memory: hub });
  // As `dynamo run` builds it: the frontend's logger already carries a binding of its own.
  const frontend = await startFrontend(
    { host: '127.0.0.1', port: 0, migrationLimit: 0, busyStatusCode: 529, bodyLimitBytes: 1 << 20, http },
    runtime,
    log.child({ service: 'frontend' }),
  );
  for (let i = 0; i < 500 && !frontend.app.services.registry.get('test-model')?.routable; i++)
    await new Promise((r) => setTimeout(r, 10));
  const client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  return { frontend, runtimes: [worker, runtime], out, client };
}

async function tearDown(s: Setup): Promise<void> {
  await s.frontend.close();
  for (const r of s.runtimes) await r.close();
}

const CHAT = { model: 'test-model', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5 };

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
}

describe('HTTP hygiene, defaults', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp({});
  });
  afterAll(() => tearDown(s));

  const post = (path: string, init: RequestInit) =>
    fetch(`${s.frontend.url}${path}`, { method: 'POST', ...init });

  it("echoes the client's x-request-id and uses it in the request's log lines", async () => {
    const res = await s.client.chat.completions
      .create(
        { model: 'test-model', messages: [{ role: 'user', content: 'Hi' }] },
        { headers: { 'x-request-id': 'trace-42' } },
      )
      .withResponse();
    expect(res.response.headers.get('x-request-id')).toBe('trace-42');
    await until(() => s.out.records().some((r) => r.clientRequestId === 'trace-42'));
    const line = s.out.records().find((r) => r.clientRequestId === 'trace-42');
    expect(line).toMatchObject({
      msg: 'request completed',
      method: 'POST',
      path: '/v1/chat/completions',
      status: 200,
      model: 'test-model',
    });
    expect(line?.completionTokens).toBeGreaterThan(0);
    expect(typeof line?.durationMs).toBe('number');
  });

  it('generates an x-request-id when none (or a malformed one) is sent, streams included', async () => {
    const a = await post('/v1/chat/completions', {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...CHAT, stream: true }),
    });
    await a.text();
    const id = a.headers.get('x-request-id') ?? '';
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const b = await post('/v1/chat/completions', {
      headers: { 'content-type': 'application/json', 'x-request-id': 'x'.repeat(500) },
      body: JSON.stringify(CHAT),
    });
    expect(b.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    await until(() => s.out.records().some((r) => r.reqId === id && r.msg === 'request completed'));
  });

  it('sends no CORS headers unless origins are configured', async () => {
    const res = await fetch(`${s.frontend.url}/v1/models`, { headers: { origin: 'http://evil.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers 415 to a body that is not JSON', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const res = await post('/v1/chat/completions', {
        headers: { 'content-type': type },
        body: JSON.stringify(CHAT),
      });
      expect(res.status, type).toBe(415);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unsupported_media_type');
    }
  });

  it('answers 415 naming a Content-Encoding it does not decode', async () => {
    const { gzipSync } = await import('node:zlib');
    const res = await post('/v1/chat/completions', {
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify(CHAT)),
    });
    expect(res.status).toBe(415);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toContain('content-encoding "gzip" is not supported');
    const identity = await post('/v1/chat/completions', {
      headers: { 'content-type': 'application/json', 'content-encoding': 'identity' },
      body: JSON.stringify(CHAT),
    });
    expect(identity.status).toBe(200);
  });

  it('answers 405 with Allow for a wrong method on a known path, 404 elsewhere', async () => {
    const get = await fetch(`${s.frontend.url}/v1/chat/completions`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    const del = await fetch(`${s.frontend.url}/v1/models/test-model`, { method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toContain('GET');
    const put = await fetch(`${s.frontend.url}/v1/responses`, { method: 'PUT' });
    expect(put.status).toBe(405);
    expect(((await put.json()) as { error: { code: string } }).error.code).toBe('method_not_allowed');
    expect((await fetch(`${s.frontend.url}/v1/nothing`)).status).toBe(404);
  });

  it('writes log lines that never repeat a key', async () => {
    await s.client.completions.create({ model: 'test-model', prompt: 'Hi', max_tokens: 2 });
    await until(() => s.out.lines.length > 3);
    const repeated = s.out.lines.filter((l) => {
      const keys = topLevelKeys(l);
      return new Set(keys).size !== keys.length;
    });
    expect(repeated).toEqual([]);
    // The check itself finds a repeat.
    expect(topLevelKeys('{"a":1,"b":{"a":2},"a":"x\\"a\\":"}')).toEqual(['a', 'b', 'a']);
  });
});

describe('HTTP hygiene, configured', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp({ corsOrigins: ['http://app.example'], accessLog: false });
  });
  afterAll(() => tearDown(s));

  it('answers a preflight and a request from a configured origin, and not another', async () => {
    const pre = await fetch(`${s.frontend.url}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://app.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,authorization',
      },
    });
    expect(pre.status).toBeLessThan(300);
    expect(pre.headers.get('access-control-allow-origin')).toBe('http://app.example');
    const res = await fetch(`${s.frontend.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { origin: 'http://app.example', 'content-type': 'application/json' },
      body: JSON.stringify({ ...CHAT, stream: true }),
    });
    await res.text();
    expect(res.headers.get('access-control-allow-origin')).toBe('http://app.example');
    expect(res.headers.get('access-control-expose-headers')).toContain('x-request-id');
    const other = await fetch(`${s.frontend.url}/v1/models`, { headers: { origin: 'http://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('writes no access log line with accessLog off', async () => {
    await s.client.chat.completions.create(
      { model: 'test-model', messages: [{ role: 'user', content: 'Hi' }] },
      { headers: { 'x-request-id': 'quiet-1' } },
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(s.out.records().filter((r) => r.msg === 'request completed')).toEqual([]);
  });
});
