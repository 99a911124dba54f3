// logprobs / top_logprobs through the frontend (issue 21 item 4), with the openai SDK as the client and
// a scripted worker that reports known logprobs: chat's content[] and completions' parallel lists,
// unary and streamed (the chunks together give what the unary body gives), and the 400s naming the field.
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateRequest } from '../../../src/api/index.js';
import { startTestFrontend, type TestFrontend } from './test-frontend.js';
import { qwenTokenizer, scriptedLogprob } from './test-worker.js';

const REPLY = 'Hello there, how are you today?';
const IM_END = 151645;
/** What the worker generates: the reply, then <|im_end|> (a stop token, counted and reported). */
const IDS = [...qwenTokenizer.encode(REPLY, false), IM_END];
const text = (id: number) => qwenTokenizer.decode([id], false);

describe('logprobs', () => {
  let client: OpenAI;
  const seen: GenerateRequest[] = [];

  let t: TestFrontend;

  beforeAll(async () => {
    t = await startTestFrontend({ reply: REPLY, onRequest: (r) => seen.push(r) });
    client = t.client;
  });
  afterAll(() => t.close());

  const messages = [{ role: 'user' as const, content: 'Hi' }];
  const chatEntry = (id: number) => {
    const lp = scriptedLogprob(id, 2);
    const item = (t: number, logprob: number) => ({
      token: text(t),
      logprob,
      bytes: [...Buffer.from(text(t), 'utf8')],
    });
    return { ...item(id, lp.logprob), top_logprobs: lp.top.map(([t, l]) => item(t, l)) };
  };

  it('chat: one entry per output token with its alternatives, unary and streamed alike', async () => {
    seen.length = 0;
    const unary = await client.chat.completions.create({
      model: 'test-model',
      messages,
      logprobs: true,
      top_logprobs: 2,
    });
    expect(seen[0]?.sampling.logprobs).toBe(2);
    const choice = unary.choices[0];
    expect(choice?.message.content).toBe(REPLY);
    expect(choice?.logprobs).toEqual({ content: IDS.map(chatEntry), refusal: null });
    expect(unary.usage?.completion_tokens).toBe(IDS.length);

    const stream = await client.chat.completions.create({
      model: 'test-model',
      messages,
      logprobs: true,
      top_logprobs: 2,
      stream: true,
    });
    const streamed: unknown[] = [];
    let content = '';
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      content += c?.delta.content ?? '';
      streamed.push(...(c?.logprobs?.content ?? []));
    }
    expect(content).toBe(REPLY);
    expect(streamed).toEqual(IDS.map(chatEntry));
  });

  it('chat: logprobs without top_logprobs has empty alternatives; no logprobs is null', async () => {
    const r = await client.chat.completions.create({ model: 'test-model', messages, logprobs: true });
    expect(r.choices[0]?.logprobs?.content?.map((e) => e.top_logprobs)).toEqual(IDS.map(() => []));
    const plain = await client.chat.completions.create({ model: 'test-model', messages });
    expect(plain.choices[0]?.logprobs).toBeNull();
  });

  it('completions: tokens, token_logprobs, top_logprobs and text_offset, unary and streamed alike', async () => {
    const expected = {
      tokens: [] as string[],
      token_logprobs: [] as number[],
      top_logprobs: [] as object[],
      text_offset: [] as number[],
    };
    let offset = 0;
    for (const id of IDS) {
      const lp = scriptedLogprob(id, 2);
      expected.tokens.push(text(id));
      expected.token_logprobs.push(lp.logprob);
      expected.top_logprobs.push(Object.fromEntries(lp.top.map(([t, l]) => [text(t), l])));
      expected.text_offset.push(offset);
      offset += text(id).length;
    }
    const unary = await client.completions.create({ model: 'test-model', prompt: 'Hi', logprobs: 2 });
    expect(unary.choices[0]?.logprobs).toEqual(expected);

    const stream = await client.completions.create({
      model: 'test-model',
      prompt: 'Hi',
      logprobs: 2,
      stream: true,
    });
    const got = {
      tokens: [] as string[],
      token_logprobs: [] as number[],
      top_logprobs: [] as object[],
      text_offset: [] as number[],
    };
    for await (const chunk of stream) {
      const lp = chunk.choices[0]?.logprobs;
      if (lp == null) continue;
      got.tokens.push(...(lp.tokens ?? []));
      got.token_logprobs.push(...(lp.token_logprobs ?? []));
      got.top_logprobs.push(...(lp.top_logprobs ?? []));
      got.text_offset.push(...(lp.text_offset ?? []));
    }
    expect(got).toEqual(expected);
  });

  it('refuses top_logprobs past 20 or without logprobs, naming the field, before the worker', async () => {
    seen.length = 0;
    await expect(
      client.chat.completions.create({ model: 'test-model', messages, logprobs: true, top_logprobs: 21 }),
    ).rejects.toMatchObject({ status: 400, param: 'top_logprobs' });
    await expect(
      client.chat.completions.create({ model: 'test-model', messages, top_logprobs: 3 }),
    ).rejects.toMatchObject({ status: 400, param: 'top_logprobs' });
    await expect(
      client.completions.create({ model: 'test-model', prompt: 'Hi', logprobs: 21 }),
    ).rejects.toMatchObject({ status: 400, param: 'logprobs' });
    expect(seen).toEqual([]);
  });
});
