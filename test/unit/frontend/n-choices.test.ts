// n > 1 through the frontend (issue 21 item 4), with the openai SDK as the client: each choice is a
// generation of its own (request id `<id>-<i>`, seed + i) whose worker replies by its seed, so the
// choices differ in text, finish reason, logprobs and tool calls. Unary and streamed, chat and
// completions; usage sums; streamed choices interleave and end with one [DONE]; a failing choice
// fails the request and cancels the others, as a client leaving does; the choices of a request go to
// one worker; structured output holds for every choice; n = 1 answers exactly what it did.
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import type { ChatCompletionTool } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateRequest } from '../../../src/api/index.js';
import { type Frontend, startFrontend } from '../../../src/frontend/index.js';
import { createRuntime, MemoryHub, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { defaultTokenizerDir, startWorker, type Worker } from '../../../src/worker/index.js';
import { qwenTokenizer, scriptedLogprob, serveTestWorker } from './test-worker.js';

const log = createLogger({ level: 'silent' });
const IM_END = 151645;
const SEED = 40;
/** What the worker answers by the seed of the request: choice i of a request with SEED gets REPLIES[i]. */
const REPLIES = [
  'Short.',
  'A much longer answer that runs past the token limit of the request, since it goes on and on and on with many more words than the limit allows.',
  '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>',
];
const MAX_TOKENS = 24;
const tools: ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
];
const ids = (text: string) => [...qwenTokenizer.encode(text, false), IM_END];
/** The tokens choice i generates (its reply cut at MAX_TOKENS). */
const tokensOf = (i: number) => ids(REPLIES[i] as string).slice(0, MAX_TOKENS);
const text = (id: number) => qwenTokenizer.decode([id], false);

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
}

describe('n choices', () => {
  let runtimes: Runtime[];
  let mocker: Worker;
  let frontend: Frontend;
  let client: OpenAI;
  /** Requests seen by the two workers of `test-model`. */
  const seen: GenerateRequest[][] = [[], []];
  const cancelled: string[] = [];
  const stallCancelled: string[] = [];

  beforeAll(async () => {
    const hub = new MemoryHub();
    runtimes = await Promise.all([0, 1, 2, 3, 4].map(() => createRuntime({ log, memory: hub })));
    const [a, b, staller, mockerRt, frontendRt] = runtimes as [Runtime, Runtime, Runtime, Runtime, Runtime];
    for (const [w, rt] of [a, b].entries()) {
      await serveTestWorker(rt, {
        tokenDelayMs: 1,
        onRequest: (r) => seen[w]?.push(r),
        onCancel: (id) => cancelled.push(id),
        script: (r) => {
          const seed = r.sampling.seed;
          // seed 99 + 1: the second choice fails after two tokens; other seeds: the default reply.
          if (seed === 100) return { failAfter: 2 };
          const reply = seed === undefined ? undefined : REPLIES[seed - SEED];
          return reply === undefined ? undefined : { reply };
        },
      });
    }
    await serveTestWorker(staller, {
      name: 'stall-model',
      stallAfter: 2,
      onCancel: (id) => stallCancelled.push(id),
    });
    mocker = await startWorker(
      { modelName: 'mock', engine: { kind: 'mocker', tokenizerDir: defaultTokenizerDir(), noDelay: true } },
      mockerRt,
      log,
    );
    frontend = await startFrontend(
      {
        host: '127.0.0.1',
        port: 0,
        migrationLimit: 0,
        busyStatusCode: 529,
        bodyLimitBytes: 1 << 20,
        router: { mode: 'round-robin' },
      },
      frontendRt,
      log,
    );
    const registry = frontend.app.services.registry;
    await until(
      () =>
        (registry.get('test-model')?.instances.size ?? 0) === 2 &&
        registry.get('stall-model')?.routable === true &&
        registry.get('mock')?.routable === true,
    );
    client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await frontend.close();
    await mocker.close();
    for (const r of runtimes) await r.close();
  });

  const messages = [{ role: 'user' as const, content: 'Hi' }];
  const chatRequest = { model: 'test-model', messages, n: 3, seed: SEED, max_tokens: MAX_TOKENS, tools };
  /** The prompt's tokens (tools included), from a request of one choice. */
  const promptTokens = async () =>
    (await client.chat.completions.create({ ...chatRequest, n: 1, max_tokens: 1 })).usage?.prompt_tokens;

  it('chat, unary: a choice per generation, each with its own text, finish reason, logprobs and calls', async () => {
    const res = await client.chat.completions.create({ ...chatRequest, logprobs: true, top_logprobs: 1 });
    expect(res.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(res.choices.map((c) => c.finish_reason)).toEqual(['stop', 'length', 'tool_calls']);
    expect(res.choices[0]?.message.content).toBe('Short.');
    expect(res.choices[1]?.message.content).toBe(qwenTokenizer.decode(tokensOf(1), true));
    expect(res.choices[2]?.message.content).toBeNull();
    expect(res.choices[2]?.message.tool_calls?.map((c) => c.type === 'function' && c.function)).toEqual([
      { name: 'get_time', arguments: '{}' },
    ]);
    for (const [i, c] of res.choices.entries()) {
      expect(c.logprobs?.content?.map((e) => [e.token, e.logprob])).toEqual(
        tokensOf(i).map((id) => [text(id), scriptedLogprob(id, 1).logprob]),
      );
    }
    const completion = [0, 1, 2].reduce((n, i) => n + tokensOf(i).length, 0);
    const prompt = await promptTokens();
    expect(res.usage).toMatchObject({
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: (prompt ?? 0) + completion,
    });
  });

  it('chat, streamed: chunks carry their index, interleave, and give what the unary body gives', async () => {
    const unary = await client.chat.completions.create({ ...chatRequest, logprobs: true });
    const stream = await client.chat.completions.create({
      ...chatRequest,
      logprobs: true,
      stream: true,
      stream_options: { include_usage: true },
    });
    const content = ['', '', ''];
    const finish: (string | null)[] = [null, null, null];
    const calls: unknown[][] = [[], [], []];
    const logprobs: number[][] = [[], [], []];
    const order: number[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        if (c.delta.content) order.push(c.index);
        content[c.index] += c.delta.content ?? '';
        calls[c.index]?.push(...(c.delta.tool_calls ?? []).filter((t) => t.function?.name));
        logprobs[c.index]?.push(...(c.logprobs?.content ?? []).map((e) => e.logprob));
        if (c.finish_reason) finish[c.index] = c.finish_reason;
      }
    }
    expect(finish).toEqual(unary.choices.map((c) => c.finish_reason));
    expect(content.slice(0, 2)).toEqual(unary.choices.slice(0, 2).map((c) => c.message.content));
    expect(calls[2]).toHaveLength(1);
    expect(logprobs).toEqual(unary.choices.map((c) => c.logprobs?.content?.map((e) => e.logprob)));
    expect(usage).toEqual(unary.usage);
    // Interleaved: some content of choice 1 comes before choice 0's last content.
    expect(order.indexOf(1)).toBeLessThan(order.lastIndexOf(0));
  });

  it('completions, unary and streamed: choices, finish reasons, logprobs, usage summed, one [DONE]', async () => {
    const body = { model: 'test-model', prompt: 'Hi', n: 2, seed: SEED, max_tokens: MAX_TOKENS, logprobs: 0 };
    const unary = await client.completions.create(body);
    expect(unary.choices.map((c) => [c.index, c.finish_reason])).toEqual([
      [0, 'stop'],
      [1, 'length'],
    ]);
    expect(unary.choices[0]?.text).toBe('Short.');
    expect(unary.choices.map((c) => c.logprobs?.tokens)).toEqual([0, 1].map((i) => tokensOf(i).map(text)));
    expect(unary.usage?.completion_tokens).toBe(tokensOf(0).length + tokensOf(1).length);
    expect(await client.completions.create({ ...body, best_of: 2 })).toMatchObject({
      choices: [{ text: 'Short.' }, {}],
    });

    const raw = await fetch(`${frontend.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    });
    const sse = await raw.text();
    expect(sse.match(/data: \[DONE\]/g)).toHaveLength(1);
    expect(sse.endsWith('data: [DONE]\n\n')).toBe(true);
    const chunks = sse
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map((e) => JSON.parse(e.slice(6)) as OpenAI.Completion);
    const texts = ['', ''];
    const finish: (string | null)[] = [null, null];
    for (const chunk of chunks)
      for (const c of chunk.choices) {
        texts[c.index] += c.text;
        if (c.finish_reason) finish[c.index] = c.finish_reason;
      }
    expect(texts).toEqual(unary.choices.map((c) => c.text));
    expect(finish).toEqual(['stop', 'length']);
    expect(chunks.at(-1)?.usage).toEqual(unary.usage);
    expect(chunks.at(-1)?.choices).toEqual([]);
  });

  it('continuous_usage_stats: every chunk carries the summed usage so far', async () => {
    const stream = await client.completions.create({
      model: 'test-model',
      prompt: 'Hi',
      n: 2,
      seed: SEED,
      max_tokens: MAX_TOKENS,
      stream: true,
      stream_options: {
        include_usage: true,
        continuous_usage_stats: true,
      } as OpenAI.ChatCompletionStreamOptions,
    });
    const seenUsage: number[] = [];
    for await (const chunk of stream) seenUsage.push(chunk.usage?.completion_tokens ?? -1);
    expect(seenUsage).not.toContain(-1);
    expect(seenUsage.at(-1)).toBe(tokensOf(0).length + tokensOf(1).length);
    expect([...seenUsage].sort((x, y) => x - y)).toEqual(seenUsage); // never decreasing
  });

  it('sends each choice as its own request (id <id>-<i>, seed + i), all to one worker', async () => {
    for (let round = 0; round < 3; round++) {
      for (const s of seen) s.length = 0;
      await client.completions.create({ model: 'test-model', prompt: 'Hi', n: 4, seed: 7, max_tokens: 2 });
      const [mine, other] = seen[0]?.length === 4 ? [seen[0], seen[1]] : [seen[1], seen[0]];
      expect(other).toEqual([]);
      expect(mine?.map((r) => r.sampling.seed).sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual([7, 8, 9, 10]);
      const requestIds = (mine ?? []).map((r) => r.requestId);
      const base = requestIds[0]?.replace(/-\d+$/, '');
      expect(requestIds.sort()).toEqual([0, 1, 2, 3].map((i) => `${base}-${i}`));
    }
    // Without a seed, none is invented.
    for (const s of seen) s.length = 0;
    await client.completions.create({ model: 'test-model', prompt: 'Hi', n: 2, max_tokens: 2 });
    expect(seen.flat().map((r) => r.sampling.seed)).toEqual([undefined, undefined]);
  });

  it('a failing choice fails the request (an error event once streaming) and cancels the others', async () => {
    cancelled.length = 0;
    const unary = client.completions.create({
      model: 'test-model',
      prompt: 'Hi',
      n: 2,
      seed: 99,
      max_tokens: 200,
      // @ts-expect-error vLLM's extension, not in the SDK's types
      ignore_eos: true,
    });
    await expect(unary).rejects.toMatchObject({ status: 502 });
    const stream = await client.chat.completions.create({
      model: 'test-model',
      messages,
      n: 2,
      seed: 99,
      max_tokens: 200,
      // @ts-expect-error vLLM's extension, not in the SDK's types
      ignore_eos: true,
      stream: true,
    });
    const read = async () => {
      for await (const _ of stream) {
        // until the error event
      }
    };
    await expect(read()).rejects.toThrow(/worker failed/);
    // Choice 0 (seed 99, no script: the default reply, ignoring EOS) is cancelled on its worker.
    await until(() => cancelled.filter((id) => id.endsWith('-0')).length === 2);
  });

  it('a client leaving cancels every choice', async () => {
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'stall-model', messages, n: 3, stream: true },
      { signal: controller.signal },
    );
    let chunks = 0;
    try {
      for await (const _ of stream) if (++chunks === 3) controller.abort();
    } catch {
      // the SDK may raise the abort or just end the iteration
    }
    expect(chunks).toBe(3);
    await until(() => stallCancelled.length === 3);
    expect(stallCancelled.map((id) => id.slice(-2)).sort()).toEqual(['-0', '-1', '-2']);
  });

  it('structured output: every choice has its own grammar state and answers valid JSON', async () => {
    const schema = {
      type: 'object',
      properties: { city: { type: 'string', maxLength: 8 }, sunny: { type: 'boolean' } },
      required: ['city', 'sunny'],
      additionalProperties: false,
    };
    const validate = new Ajv().compile(schema);
    const request = {
      model: 'mock',
      messages,
      n: 3,
      seed: 5,
      max_tokens: 200,
      response_format: { type: 'json_schema' as const, json_schema: { name: 'w', schema, strict: true } },
    };
    const res = await client.chat.completions.create(request);
    expect(res.choices).toHaveLength(3);
    for (const c of res.choices) expect(validate(JSON.parse(c.message.content ?? ''))).toBe(true);
    const stream = await client.chat.completions.create({ ...request, stream: true });
    const content = ['', '', ''];
    for await (const chunk of stream)
      for (const c of chunk.choices) content[c.index] += c.delta.content ?? '';
    expect(content).toEqual(res.choices.map((c) => c.message.content));
  });

  it('refuses n past 16 and best_of other than n, naming the field', async () => {
    await expect(
      client.chat.completions.create({ model: 'test-model', messages, n: 17 }),
    ).rejects.toMatchObject({ status: 400, param: 'n' });
    await expect(
      client.completions.create({ model: 'test-model', prompt: 'Hi', n: 0 }),
    ).rejects.toMatchObject({ status: 400, param: 'n' });
    await expect(
      client.completions.create({ model: 'test-model', prompt: 'Hi', n: 2, best_of: 4 }),
    ).rejects.toMatchObject({ status: 400, param: 'best_of', code: 'unsupported_parameter' });
  });

  it('n = 1 answers the same bytes as no n, in the format it always had', async () => {
    const normalize = (s: string) =>
      s.replace(/"id":"[^"]+"/g, '"id":"X"').replace(/"created":\d+/g, '"created":0');
    const post = async (extra: object) => {
      const res = await fetch(`${frontend.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'test-model', prompt: 'Hi', max_tokens: 2, stream: true, ...extra }),
      });
      return normalize(await res.text());
    };
    const plain = await post({});
    expect(await post({ n: 1 })).toBe(plain);
    const head = 'data: {"id":"X","object":"text_completion","created":0,"model":"test-model","choices":[';
    const [a, b] = ids('Hello there, how are you today?').map(text) as [string, string];
    expect(plain).toBe(
      `${head}{"index":0,"text":${JSON.stringify(a)},"logprobs":null,"finish_reason":null}]}\n\n` +
        `${head}{"index":0,"text":${JSON.stringify(b)},"logprobs":null,"finish_reason":null}]}\n\n` +
        `${head}{"index":0,"text":"","logprobs":null,"finish_reason":"length"}]}\n\ndata: [DONE]\n\n`,
    );
  });
});
