// logprobs, logit_bias and seed in the ONNX engine (issue 21 item 4): logprobs are the log-softmax of the
// raw logits row (before temperature, penalties and bias), the sampled token's and the k best; the bias
// moves the Sampler's logits before the penalties, and on the tiny model a +100 bias forces a token
// while -100 removes it; a seeded sampled request gives the same tokens alone and batched with others
// (what docs/architecture.md promises), and another seed gives others.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { GenerateRequest, GenerateResponse, SamplingOptions } from '../../../../src/api/index.js';
import { createOnnxEngine, type OnnxEngine } from '../../../../src/engines/onnx/index.js';
import { logprobsOf, Sampler } from '../../../../src/engines/onnx/sampler.js';
import { seededRandom } from '../../../../src/llm/seeded-random.js';
import { createLogger } from '../../../../src/runtime/logger.js';
import { LogitsArena } from '../../../../src/wasm/index.js';
import { tinyModelDir } from '../../../harness/tiny-model.js';

const V = 8;
const kernels = new LogitsArena();
const LOGITS = [2, 1.9, -1, 0.5, 1.5, -3, 0, 0.2];
const row = (): Float32Array => {
  const view = kernels.view(V);
  view.set(LOGITS);
  return view;
};

describe('Sampler logprobs', () => {
  const lse = Math.log(LOGITS.reduce((a, x) => a + Math.exp(x), 0));
  test('log-softmax of the row: the token and the k best, best first', () => {
    const lp = logprobsOf(Float32Array.from(LOGITS), 3, 3);
    expect(lp.logprob).toBeCloseTo(0.5 - lse, 5);
    expect(lp.top.map(([id]) => id)).toEqual([0, 1, 4]);
    for (const [id, l] of lp.top) expect(l).toBeCloseTo((LOGITS[id] as number) - lse, 5);
    expect(logprobsOf(Float32Array.from(LOGITS), 0, 0).top).toEqual([]);
    expect(logprobsOf(Float32Array.from([0, Number.NEGATIVE_INFINITY]), 1, 2).logprob).toBe(-9999);
  });

  test('reported from the raw row, whatever temperature and bias did to it', () => {
    const s = new Sampler({ temperature: 0.5, seed: 2, logitBias: [[5, 100]], logprobs: 2 }, [], kernels);
    expect(s.sample(row(), 0, V)).toBe(5);
    const lp = s.takeLogprob();
    expect(lp?.logprob).toBeCloseTo(-3 - lse, 5);
    expect(lp?.top.map(([id]) => id)).toEqual([0, 1]);
    expect(s.takeLogprob()).toBeUndefined();
    expect(new Sampler({}, [], kernels).takeLogprob()).toBeUndefined();
  });
});

describe('Sampler logit_bias', () => {
  test('a bias changes the greedy winner, -100 keeps a token out of sampling', () => {
    expect(new Sampler({}, [], kernels).sample(row(), 0, V)).toBe(0);
    expect(new Sampler({ logitBias: [[5, 5.5]] }, [], kernels).sample(row(), 0, V)).toBe(5);
    const sampled = new Sampler({ temperature: 1, seed: 4, logitBias: [[0, -100]] }, [], kernels);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(sampled.sample(row(), 0, V));
    expect(seen.has(0)).toBe(false);
    expect(seen.size).toBeGreaterThan(4);
  });

  test('the penalties apply to the biased logit', () => {
    // 2 + 1 = 3, then repetition 1.5: 3 / 1.5 = 2 > 1.9 (penalty first would give 2/1.5 + 1 = 2.33).
    const r = row();
    new Sampler({ logitBias: [[0, 1]], repetitionPenalty: 1.5 }, [0], kernels).sample(r, 0, V);
    expect(r[0]).toBeCloseTo(2, 5);
  });
});

describe('onnx engine: logit_bias and seed', () => {
  let e: OnnxEngine;
  const log = createLogger({ level: 'silent' });
  beforeAll(async () => {
    e = await createOnnxEngine({ modelDir: await tinyModelDir(), log, threads: 1 });
  }, 120_000);
  afterAll(() => e.close());

  const random = seededRandom(23);
  const prompt = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 151_000));
  const P = prompt(20);
  const frames = async (tokenIds: number[], sampling: SamplingOptions, maxTokens: number) => {
    const out: GenerateResponse[] = [];
    const request: GenerateRequest = {
      requestId: 'r',
      model: 'tiny',
      tokenIds,
      sampling,
      stop: { maxTokens, ignoreEos: true },
    };
    for await (const f of e.generate(request, new AbortController().signal)) out.push(f);
    return out;
  };
  const run = async (tokenIds: number[], sampling: SamplingOptions, maxTokens = 12): Promise<number[]> =>
    (await frames(tokenIds, sampling, maxTokens)).flatMap((f) => f.tokenIds);

  test('logprobs: one entry per token; greedy picks the top one; a forced token keeps its raw logprob', async () => {
    const greedy = await frames(P, { logprobs: 3 }, 6);
    const tokens = greedy.flatMap((f) => f.tokenIds);
    const entries = greedy.flatMap((f) => f.logprobs ?? []);
    expect(entries).toHaveLength(tokens.length);
    entries.forEach((lp, i) => {
      expect(lp.top).toHaveLength(3);
      expect(lp.top[0]?.[0]).toBe(tokens[i]);
      expect(lp.logprob).toBe(lp.top[0]?.[1]);
      expect(lp.logprob).toBeLessThanOrEqual(0);
      expect(lp.top.reduce((a, [, l]) => a + Math.exp(l), 0)).toBeLessThanOrEqual(1 + 1e-6);
    });
    const second = entries[0]?.top[1] as [number, number];
    const forced = await frames(P, { logprobs: 1, logitBias: [[second[0], 100]] }, 1);
    expect(forced.flatMap((f) => f.tokenIds)).toEqual([second[0]]);
    expect(forced[0]?.logprobs?.[0]?.logprob).toBeCloseTo(second[1], 4);
    expect((await frames(P, {}, 2)).every((f) => f.logprobs === undefined)).toBe(true);
  });

  test('+100 forces a token, -100 removes the greedy choice', async () => {
    const greedy = await run(P, {});
    expect(await run(P, { logitBias: [[777, 100]] })).toEqual(Array(12).fill(777));
    const first = greedy[0] as number;
    const without = await run(P, { logitBias: [[first, -100]] });
    expect(without).not.toContain(first);
    expect(without[0]).not.toBe(first);
  });

  test('a seed gives the same tokens alone and batched with other requests', async () => {
    const sampling = { temperature: 1, seed: 1234 };
    const alone = await run(P, sampling, 16);
    const [batched] = await Promise.all([
      run(P, sampling, 16),
      run(prompt(7), { temperature: 0.8 }, 20),
      run(prompt(33), {}, 10),
      run(prompt(12), { temperature: 1, seed: 9 }, 24),
    ]);
    expect(batched).toEqual(alone);
    expect(await run(P, { temperature: 1, seed: 1235 }, 16)).not.toEqual(alone);
  });
});
