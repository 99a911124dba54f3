// logit_bias and seed through the frontend (issue 21 item 4), with the openai SDK as the client: the
// bias map reaches the worker as [id, bias] pairs with the seed, and ids outside the vocabulary, keys
// that are not ids and biases past ±100 are a 400 naming logit_bias before the worker sees anything.
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateRequest } from '../../../src/api/index.js';
import { startTestFrontend, type TestFrontend } from './test-frontend.js';
import { QWEN_ID_LIMIT } from './test-worker.js';

describe('logit_bias and seed', () => {
  let client: OpenAI;
  const seen: GenerateRequest[] = [];

  let t: TestFrontend;

  beforeAll(async () => {
    t = await startTestFrontend({ onRequest: (r) => seen.push(r) });
    client = t.client;
  });
  afterAll(() => t.close());

  const messages = [{ role: 'user' as const, content: 'Hi' }];

  it('passes the bias as [id, bias] pairs and the seed to the worker (chat and completions)', async () => {
    seen.length = 0;
    await client.chat.completions.create({
      model: 'test-model',
      messages,
      logit_bias: { '42': -100, '151645': 2.5 },
      seed: 99,
    });
    await client.completions.create({ model: 'test-model', prompt: 'Hi', logit_bias: { '7': 100 } });
    expect(seen.map((r) => r.sampling)).toEqual([
      {
        logitBias: [
          [42, -100],
          [151645, 2.5],
        ],
        seed: 99,
      },
      { logitBias: [[7, 100]] },
    ]);
  });

  it('refuses ids outside the vocabulary, non-id keys and biases past ±100, naming logit_bias', async () => {
    seen.length = 0;
    const bad: Record<string, number>[] = [
      { [String(QWEN_ID_LIMIT)]: 1 },
      { hello: 1 },
      { '5': 100.5 },
      { '-3': 1 },
    ];
    for (const logit_bias of bad) {
      const chat = client.chat.completions.create({ model: 'test-model', messages, logit_bias });
      await expect(chat).rejects.toMatchObject({ status: 400, param: expect.stringMatching(/^logit_bias/) });
      const completion = client.completions.create({ model: 'test-model', prompt: 'Hi', logit_bias });
      await expect(completion).rejects.toMatchObject({ status: 400 });
    }
    await expect(
      client.chat.completions.create({ model: 'test-model', messages, logit_bias: { '999999999': 1 } }),
    ).rejects.toThrow(/logit_bias: token id 999999999 is outside the vocabulary \(size \d+\)/);
    expect(seen).toEqual([]);
  });
});
