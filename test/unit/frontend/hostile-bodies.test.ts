// More than a thousand malformed or hostile request bodies: wrong types, huge numbers, deep nesting,
// invalid UTF-8, 10 MB strings, unknown fields, random bytes. Each must get a 4xx with an OpenAI error
// body, and the server must still answer a good request afterwards. The frontend runs with
// strictRequestFields, so that unknown fields are refused rather than ignored (extension-fields.test.ts).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Frontend, startFrontend } from '../../../src/frontend/index.js';
import { createRuntime, MemoryHub, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { serveTestWorker } from './test-worker.js';

const log = createLogger({ level: 'silent' });

const GOOD_CHAT = { model: 'test-model', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4 };
const GOOD_COMPLETION = { model: 'test-model', prompt: 'Hi', max_tokens: 4 };

const deep = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};
const deepObject = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

// Values wrong for a field of each type.
const NOT_NUMBER = ['1', true, [], {}, [1], { x: 1 }, deep(50), 'x'.repeat(10_000)];
const BAD_NUMBER = [...NOT_NUMBER, 1e308, -1e308, 2 ** 53 + 2, -(2 ** 53) - 2, 1e20];
const BAD_INT = [...BAD_NUMBER, 1.5, -0.5, 3.000001];
const NOT_STRING = [1, -1, 1e308, true, false, [], {}, ['a'], { a: 'b' }, deep(50), deepObject(50)];
const NOT_BOOL = ['true', 1, 0, [], {}, 'yes', [true]];

const FIELDS: Record<string, unknown[]> = {
  model: [...NOT_STRING, '', 'x'.repeat(300)],
  max_tokens: [...BAD_INT, 0, -1, 2 ** 40],
  temperature: [...BAD_NUMBER, -0.1, 2.5, 1000],
  top_p: [...BAD_NUMBER, 0, -1, 1.5],
  top_k: [...BAD_INT, -2],
  seed: [...BAD_INT],
  stop: [1, true, {}, [1], [[]], [''], Array.from({ length: 100 }, () => 'x'), 'x'.repeat(5000)],
  presence_penalty: [...BAD_NUMBER, 3, -3],
  frequency_penalty: [...BAD_NUMBER, 2.01, -2.01],
  n: [17, 0, -1, 100, '1', 1.5, 1e308],
  ignore_eos: NOT_BOOL,
  user: NOT_STRING,
  stream: NOT_BOOL,
  stream_options: [1, 'x', [], { include_usage: 'yes' }, { unknown: 1 }, { continuous_usage_stats: 'yes' }],
  logit_bias: [{ '1': 101 }, 1, 'x', [], { x: 1 }, { '-1': 1 }, { '999999999': -100 }],
  service_tier: [1, 'x'.repeat(100), []],
};
const CHAT_FIELDS: Record<string, unknown[]> = {
  messages: [
    ...NOT_STRING.filter((v) => !Array.isArray(v) || (v as unknown[]).length > 0),
    [],
    [{}],
    [{ role: 'user' }],
    [{ role: 'robot', content: 'x' }],
    [{ role: 'user', content: 1 }],
    [{ role: 'user', content: [] }],
    [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x' } }] }],
    [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AA==', format: 'wav' } }] }],
    [{ role: 'user', content: [{ type: 'text' }] }],
    [{ role: 'user', content: [{ type: 'text', text: 1 }] }],
    [{ role: 'user', content: 'x', extra: 1 }],
    [{ role: 'tool', content: 'x' }],
    [{ role: 'assistant', content: 'x', tool_calls: [{ id: 1 }] }],
    [{ role: 'user', content: deep(1000) }],
    Array.from({ length: 5000 }, () => ({ role: 'user', content: 'x' })),
  ],
  max_completion_tokens: [...BAD_INT, 0],
  tools: [1, 'x', {}, [{}], [{ type: 'retrieval' }], [{ type: 'function', function: {} }]],
  tool_choice: ['required', { type: 'function', function: { name: 'f' } }, 1, 'any'],
  logprobs: ['true', 1, {}],
  top_logprobs: [1, 5, 'x'],
  response_format: [
    { type: 'json_object', extra: 1 },
    { type: 'json_schema', json_schema: {} },
    { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'nonsense' } } },
    { type: 'regex' },
    'text',
    1,
  ],
  modalities: [['audio'], ['text', 'audio'], 'text'],
  store: ['x', 1],
  audio: [{ voice: 'alloy', format: 'mp3' }],
  functions: [[{ name: 'f' }]],
  function_call: ['auto'],
  chat_template_kwargs: [1, 'x', []],
  metadata: [1, { a: 1 }],
  parallel_tool_calls: NOT_BOOL,
  prediction: [{ type: 'content', content: 'x' }],
  reasoning_effort: ['high'],
};
const COMPLETION_FIELDS: Record<string, unknown[]> = {
  prompt: [
    1,
    true,
    {},
    [],
    [[]],
    ['a', 'b'],
    [[1], [2]],
    ['a', 1],
    [-1],
    [1.5],
    [2 ** 33],
    [1e308],
    [{}],
    deep(100),
    null,
  ],
  suffix: ['x'],
  echo: [true],
  best_of: [2, 0],
  logprobs: [21, -1, true],
};

interface Case {
  name: string;
  path: string;
  body: string | Buffer;
  contentType?: string;
}

function fieldCases(path: string, good: object, fields: Record<string, unknown[]>): Case[] {
  const cases: Case[] = [];
  for (const [field, values] of Object.entries(fields)) {
    values.forEach((value, i) => {
      cases.push({ name: `${path} ${field}#${i}`, path, body: JSON.stringify({ ...good, [field]: value }) });
    });
  }
  return cases;
}

function allCases(): Case[] {
  const cases: Case[] = [
    ...fieldCases('/v1/chat/completions', GOOD_CHAT, { ...FIELDS, ...CHAT_FIELDS }),
    ...fieldCases('/v1/completions', GOOD_COMPLETION, { ...FIELDS, ...COMPLETION_FIELDS }),
  ];
  const paths = ['/v1/chat/completions', '/v1/completions'];
  const goods = [GOOD_CHAT, GOOD_COMPLETION];
  // Missing required fields.
  for (const [i, path] of paths.entries()) {
    for (const key of Object.keys(goods[i] as object)) {
      if (key === 'max_tokens') continue;
      const { [key]: _, ...rest } = goods[i] as Record<string, unknown>;
      cases.push({ name: `${path} without ${key}`, path, body: JSON.stringify(rest) });
    }
  }
  // Unknown fields, including prototype tricks.
  const unknown = fc.sample(
    fc
      .string({ minLength: 1, maxLength: 20 })
      .filter(
        (k) =>
          !(k in FIELDS) &&
          !(k in CHAT_FIELDS) &&
          !(k in COMPLETION_FIELDS) &&
          !['model', 'messages', 'prompt'].includes(k),
      ),
    { numRuns: 120, seed: 7 },
  );
  for (const key of [...unknown, '__proto__', 'constructor', 'prototype', 'best_of_n', 'guided_json']) {
    for (const [i, path] of paths.entries()) {
      const body = `${JSON.stringify(goods[i]).slice(0, -1)},${JSON.stringify(key)}:1}`;
      cases.push({ name: `${path} unknown ${JSON.stringify(key)}`, path, body });
    }
  }
  // Bodies that are not a JSON object.
  const raw = [
    '',
    ' ',
    'null',
    '1',
    '"x"',
    '[]',
    'true',
    '{',
    '{"model":',
    '{"model":"test-model",}',
    "{'model':'x'}",
    '{"model":"test-model","messages":[{"role":"user","content":"\\ud800"}]',
    `${'['.repeat(200_000)}${']'.repeat(200_000)}`,
    `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`,
    `${JSON.stringify(GOOD_CHAT).slice(0, -1)},"user":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`,
    'NaN',
    '{"max_tokens": 1e999}',
  ];
  for (const path of paths) {
    raw.forEach((body, i) => {
      cases.push({ name: `${path} raw#${i}`, path, body });
    });
  }
  // Invalid UTF-8 inside a string, and a wrong content type.
  for (const [i, path] of paths.entries()) {
    const json = Buffer.from(JSON.stringify({ ...goods[i], user: 'XX' }));
    const at = json.indexOf('XX');
    for (const bytes of [
      [0xff, 0xfe],
      [0xc3, 0x28],
      [0xed, 0xa0],
      [0xe2, 0x82],
      [0x80, 0x80],
    ]) {
      const body = Buffer.from(json);
      body[at] = bytes[0] as number;
      body[at + 1] = bytes[1] as number;
      cases.push({ name: `${path} invalid utf-8 ${bytes}`, path, body });
    }
    cases.push({
      name: `${path} text/plain`,
      path,
      body: JSON.stringify(goods[i]),
      contentType: 'text/plain',
    });
    cases.push({
      name: `${path} form`,
      path,
      body: 'model=x',
      contentType: 'application/x-www-form-urlencoded',
    });
  }
  // Random bytes and random JSON values.
  for (const [i, bytes] of fc
    .sample(fc.uint8Array({ maxLength: 200 }), { numRuns: 150, seed: 11 })
    .entries()) {
    cases.push({ name: `random bytes #${i}`, path: paths[i % 2] as string, body: Buffer.from(bytes) });
  }
  for (const [i, value] of fc.sample(fc.jsonValue({ maxDepth: 6 }), { numRuns: 150, seed: 13 }).entries()) {
    cases.push({
      name: `random json #${i}`,
      path: paths[i % 2] as string,
      body: JSON.stringify(value) ?? 'null',
    });
  }
  return cases;
}

describe('hostile bodies', () => {
  let hub: MemoryHub;
  let frontendRuntime: Runtime;
  let worker: Runtime;
  let frontend: Frontend;

  beforeAll(async () => {
    hub = new MemoryHub();
    worker = await createRuntime({ log, memory: hub });
    await serveTestWorker(worker);
    frontendRuntime = await createRuntime({ log, memory: hub });
    frontend = await startFrontend(
      {
        host: '127.0.0.1',
        port: 0,
        migrationLimit: 0,
        busyStatusCode: 529,
        bodyLimitBytes: 8 * 1024 * 1024,
        http: { strictRequestFields: true },
      },
      frontendRuntime,
      log,
    );
  });
  afterAll(async () => {
    await frontend.close();
    await worker.close();
    await frontendRuntime.close();
  });

  const good = async () => {
    const res = await frontend.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: GOOD_CHAT,
    });
    expect(res.statusCode).toBe(200);
    expect((res.json() as { choices: unknown[] }).choices).toHaveLength(1);
  };

  it('answers each of more than 1,000 bad bodies with a 4xx OpenAI error, then a good request', async () => {
    await good();
    const cases = allCases();
    expect(cases.length).toBeGreaterThanOrEqual(1000);
    const wrong: string[] = [];
    for (const c of cases) {
      const res = await frontend.app.inject({
        method: 'POST',
        url: c.path,
        headers: { 'content-type': c.contentType ?? 'application/json' },
        payload: c.body,
      });
      const body = res.json() as { error?: { message?: unknown; type?: unknown; code?: unknown } };
      const ok =
        res.statusCode >= 400 &&
        res.statusCode < 500 &&
        typeof body.error?.message === 'string' &&
        typeof body.error.type === 'string' &&
        typeof body.error.code === 'string';
      if (!ok) wrong.push(`${c.name}: ${res.statusCode} ${res.body.slice(0, 200)}`);
    }
    expect(wrong).toEqual([]);
    await good();
  });

  it('answers a 10 MB string with 413 over a real socket and keeps serving', async () => {
    const huge = JSON.stringify({
      ...GOOD_CHAT,
      messages: [{ role: 'user', content: 'x'.repeat(10 * 1024 * 1024) }],
    });
    const res = await fetch(`${frontend.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: huge,
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('body_too_large');
    const after = await fetch(`${frontend.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(GOOD_CHAT),
    });
    expect(after.status).toBe(200);
  });

  it('names the field in a validation error', async () => {
    const res = await frontend.app.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      payload: { ...GOOD_CHAT, temperature: 'hot' },
    });
    expect(res.statusCode).toBe(400);
    const body = res.json() as { error: { param: string; message: string } };
    expect(body.error.param).toBe('temperature');
    expect(body.error.message).toMatch(/^temperature: /);
  });
});
