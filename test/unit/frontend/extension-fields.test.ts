// What benchmark and serving clients send besides OpenAI's fields (issue 21 item 5): vLLM's and
// Dynamo's extensions reach the worker's request, continuous_usage_stats puts usage on every chunk,
// caller-describing fields are accepted, and unknown fields are ignored and named (or refused under
// strictRequestFields). The openai SDK is the client; extension fields travel as extra body keys.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateRequest } from '../../../src/api/index.js';
import { IGNORED_FIELDS_HEADER } from '../../../src/frontend/plugins/request-fields.plugin.js';
import { startTestFrontend, type TestFrontend } from './test-frontend.js';

const REPLY = 'Hello there, how are you today?';
const IM_END = 151645;

interface Setup extends TestFrontend {
  seen: GenerateRequest[];
}

async function setUp(strictRequestFields: boolean): Promise<Setup> {
  const seen: GenerateRequest[] = [];
  const t = await startTestFrontend(
    { reply: REPLY, onRequest: (r) => seen.push(r) },
    { http: { strictRequestFields } },
  );
  return { ...t, seen };
}

const tearDown = (s: Setup) => s.close();

const chat = (extra: Record<string, unknown> = {}) => ({
  model: 'test-model',
  messages: [{ role: 'user' as const, content: 'Hi' }],
  ...extra,
});

describe('extension fields', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp(false);
  });
  afterAll(() => tearDown(s));

  it("passes vLLM's sampling and stop fields to the worker", async () => {
    s.seen.length = 0;
    await s.client.chat.completions.create({
      ...chat(),
      max_tokens: 20,
      // @ts-expect-error vLLM's extensions are not in the SDK's types: sent as extra body keys
      min_tokens: 3,
      min_p: 0.05,
      top_k: 7,
      repetition_penalty: 1.3,
      stop_token_ids: [42, 43],
    });
    const req = s.seen[0] as GenerateRequest;
    expect(req.sampling).toMatchObject({ minP: 0.05, topK: 7, repetitionPenalty: 1.3 });
    expect(req.stop).toMatchObject({ minTokens: 3, maxTokens: 20, stopTokenIds: [IM_END, 42, 43] });
    expect(req.stop.ignoreEos).toBeUndefined();
  });

  it("maps Dynamo's nvext onto the same fields; top-level fields win", async () => {
    s.seen.length = 0;
    const res = await s.client.chat.completions
      .create({
        ...chat(),
        temperature: 0.8,
        // @ts-expect-error Dynamo's extension
        nvext: {
          greed_sampling: true,
          ignore_eos: true,
          top_k: 5,
          repetition_penalty: 1.1,
          annotations: ['x'],
        },
        top_k: 9,
        max_tokens: 12,
      })
      .withResponse();
    const req = s.seen[0] as GenerateRequest;
    expect(req.sampling).toMatchObject({ temperature: 0, topK: 9, repetitionPenalty: 1.1 });
    expect(req.stop.ignoreEos).toBe(true);
    expect(req.stop.stopTokenIds).toBeUndefined();
    // ignore_eos: the scripted worker skips its end token and runs to max_tokens.
    expect(res.data.choices[0]?.finish_reason).toBe('length');
    expect(res.data.usage?.completion_tokens).toBe(12);
    // Accepted but not acted on: named.
    expect(res.response.headers.get(IGNORED_FIELDS_HEADER)).toBe('nvext.annotations');
  });

  it('puts the usage so far on every chunk with continuous_usage_stats', async () => {
    const stream = await s.client.chat.completions.create({
      ...chat(),
      stream: true,
      // @ts-expect-error vLLM's extension of stream_options
      stream_options: { include_usage: true, continuous_usage_stats: true },
    });
    const counts: number[] = [];
    let chunks = 0;
    for await (const chunk of stream) {
      // The role chunk: the prompt, nothing generated yet.
      if (chunks === 0) expect(chunk.usage).toMatchObject({ completion_tokens: 0, prompt_tokens: 9 });
      chunks++;
      if (chunk.choices[0]?.delta.content) counts.push(chunk.usage?.completion_tokens ?? -1);
      if (chunk.choices[0]?.finish_reason) expect(chunk.usage?.completion_tokens).toBeGreaterThan(0);
    }
    expect(chunks).toBeGreaterThan(counts.length);
    expect(counts.length).toBeGreaterThan(3);
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThan(counts[i - 1] as number);
    expect(counts[0]).toBeGreaterThan(0);
  });

  it('puts usage on completions chunks too', async () => {
    const res = await fetch(`${s.frontend.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'test-model',
        prompt: 'Hi',
        max_tokens: 4,
        stream: true,
        stream_options: { continuous_usage_stats: true },
      }),
    });
    const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: {'));
    const usages = events.map(
      (e) => (JSON.parse(e.slice(6)) as { usage?: { completion_tokens: number } }).usage,
    );
    expect(usages.map((u) => u?.completion_tokens)).toEqual([1, 2, 3, 4, 4]);
  });

  it('does not look for stop strings before min_tokens', async () => {
    const early = await s.client.chat.completions.create({ ...chat(), stop: ['there'] });
    expect(early.choices[0]?.message.content).toBe('Hello ');
    const late = await s.client.chat.completions.create({
      ...chat(),
      stop: ['there'],
      // @ts-expect-error vLLM's extension
      min_tokens: 4,
    });
    expect(late.choices[0]?.message.content).toBe(REPLY);
  });

  it('refuses min_tokens above max_tokens, naming the field', async () => {
    // @ts-expect-error vLLM's extension
    const req = s.client.chat.completions.create({ ...chat(), max_tokens: 2, min_tokens: 5 });
    await expect(req).rejects.toMatchObject({ status: 400, param: 'min_tokens' });
  });

  it('keeps special tokens in the text with skip_special_tokens false', async () => {
    const plain = await s.client.chat.completions.create(chat());
    expect(plain.choices[0]?.message.content).toBe(REPLY);
    // @ts-expect-error vLLM's extension
    const kept = await s.client.chat.completions.create({ ...chat(), skip_special_tokens: false });
    expect(kept.choices[0]?.message.content).toBe(`${REPLY}<|im_end|>`);
  });

  it('accepts the fields that only describe the caller, without naming them', async () => {
    const res = await s.client.chat.completions
      .create({
        ...chat(),
        user: 'u-1',
        metadata: { team: 'a' },
        prompt_cache_key: 'k',
        safety_identifier: 'hash',
        service_tier: 'flex',
        store: true,
      })
      .withResponse();
    expect(res.data.choices[0]?.message.content).toBe(REPLY);
    expect(res.response.headers.get(IGNORED_FIELDS_HEADER)).toBeNull();
  });

  it('ignores unknown top-level fields and names them in a header, streamed or not', async () => {
    const body = { ...chat(), max_tokens: 3, guided_json: null, best_of_n: 2, 'x y': 1 };
    const unary = await fetch(`${s.frontend.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(unary.status).toBe(200);
    expect(unary.headers.get(IGNORED_FIELDS_HEADER)).toBe('guided_json, best_of_n, x%20y');
    const streamed = await fetch(`${s.frontend.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'test-model', prompt: 'Hi', max_tokens: 2, stream: true, priority: 1 }),
    });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get(IGNORED_FIELDS_HEADER)).toBe('priority');
    expect(await streamed.text()).toContain('data: [DONE]');
    // Keys that name Object.prototype's members are just unknown fields.
    const proto = await fetch(`${s.frontend.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"__proto__":{"max_tokens":1},"constructor":1,${JSON.stringify(chat()).slice(1)}`,
    });
    expect(proto.status).toBe(200);
    expect(proto.headers.get(IGNORED_FIELDS_HEADER)).toBe('__proto__, constructor');
    expect(
      ((await proto.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content,
    ).toBe(REPLY);
  });

  it('still refuses a known field it cannot honour', async () => {
    const req = s.client.chat.completions.create({ ...chat(), reasoning_effort: 'low' });
    await expect(req).rejects.toMatchObject({
      status: 400,
      param: 'reasoning_effort',
      code: 'unsupported_parameter',
    });
  });
});

describe('--strict-request-fields', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp(true);
  });
  afterAll(() => tearDown(s));

  it('answers 400 naming the unknown field', async () => {
    // @ts-expect-error not a field of any API
    const req = s.client.chat.completions.create({ ...chat(), guided_json: { type: 'object' } });
    await expect(req).rejects.toMatchObject({ status: 400, param: 'guided_json' });
  });

  it('still accepts the extension fields it knows', async () => {
    const res = await s.client.chat.completions.create({
      ...chat(),
      // @ts-expect-error vLLM's extension
      min_tokens: 1,
      nvext: { annotations: ['a'] },
    });
    expect(res.choices[0]?.message.content).toBe(REPLY);
  });
});
