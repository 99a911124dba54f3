// vLLM's sampling extensions in the ONNX engine (issue 21 item 5): min_p, min_tokens' ban on stop ids,
// top_k 1 as greedy — on the Sampler over logits in WASM memory, and end to end on the tiny model
// (min_tokens and stop_token_ids through the engine's scheduler).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { GenerateRequest, GenerateResponse } from '../../../../src/api/index.js';
import { createOnnxEngine, type OnnxEngine } from '../../../../src/engines/onnx/index.js';
import { Sampler } from '../../../../src/engines/onnx/sampler.js';
import { seededRandom } from '../../../../src/llm/seeded-random.js';
import { createLogger } from '../../../../src/runtime/logger.js';
import { LogitsArena } from '../../../../src/wasm/index.js';
import { tinyModelDir } from '../../../harness/tiny-model.js';

const V = 8;
const kernels = new LogitsArena();
// Probabilities at temperature 1, relative to token 0's: 1, .90, .05, .22, .61, .007, .14, .16
const LOGITS = [2, 1.9, -1, 0.5, 1.5, -3, 0, 0.2];
/** A row in the arena's own memory, as onnxruntime leaves it there. */
const row = (): Float32Array => {
  const view = kernels.view(V);
  view.set(LOGITS);
  return view;
};

const draws = (sampler: Sampler, n: number): Set<number> => {
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) seen.add(sampler.sample(row(), 0, V));
  return seen;
};

describe('Sampler extensions', () => {
  test('min_p drops tokens below min_p times the top probability', () => {
    const all = draws(new Sampler({ temperature: 1, seed: 1 }, [], kernels), 3000);
    expect(all.size).toBeGreaterThan(6);
    // Kept: 1, 0.90, 0.61 (≥ 0.5); dropped: 0.22 and below.
    expect(draws(new Sampler({ temperature: 1, minP: 0.5, seed: 1 }, [], kernels), 3000)).toEqual(
      new Set([0, 1, 4]),
    );
  });

  test('top_k 1 is greedy at any temperature', () => {
    expect(draws(new Sampler({ temperature: 1.5, topK: 1, seed: 3 }, [], kernels), 200)).toEqual(
      new Set([0]),
    );
  });

  test('min_tokens bans the stop ids until that many tokens were observed', () => {
    const ban = { ids: new Set([0, 4]), untilOutputs: 2 };
    const greedy = new Sampler({}, [], kernels, ban);
    expect(greedy.sample(row(), 0, V)).toBe(1);
    greedy.observe(1);
    expect(greedy.sample(row(), 0, V)).toBe(1);
    greedy.observe(1);
    expect(greedy.sample(row(), 0, V)).toBe(0);
    const sampled = new Sampler({ temperature: 1, seed: 5 }, [], kernels, {
      ids: new Set([0, 4]),
      untilOutputs: 1000,
    });
    const seen = draws(sampled, 2000);
    expect(seen.has(0) || seen.has(4)).toBe(false);
    expect(seen.size).toBeGreaterThan(4);
  });

  test('repetition_penalty lowers a repeated token until another wins', () => {
    const s = new Sampler({ repetitionPenalty: 1.2 }, [7], kernels);
    expect(s.sample(row(), 0, V)).toBe(0);
    s.observe(0);
    // 2 / 1.2 = 1.67 < 1.9
    const r = row();
    expect(s.sample(r, 0, V)).toBe(1);
    expect(r[0]).toBeCloseTo(2 / 1.2, 5);
  });
});

describe('onnx engine: min_tokens and stop_token_ids', () => {
  let e: OnnxEngine;
  const log = createLogger({ level: 'silent' });
  beforeAll(async () => {
    e = await createOnnxEngine({ modelDir: await tinyModelDir(), log, threads: 1 });
  }, 120_000);
  afterAll(() => e.close());

  const random = seededRandom(11);
  const prompt = Array.from({ length: 24 }, () => Math.floor(random() * 151_000));
  const run = async (
    stop: GenerateRequest['stop'],
  ): Promise<{ tokens: number[]; last: GenerateResponse }> => {
    const frames: GenerateResponse[] = [];
    const request = { requestId: 'r', model: 'tiny', tokenIds: prompt, sampling: {}, stop };
    for await (const f of e.generate(request, new AbortController().signal)) frames.push(f);
    return { tokens: frames.flatMap((f) => f.tokenIds), last: frames.at(-1) as GenerateResponse };
  };

  test('a stop token id ends the output, unless min_tokens says not yet', async () => {
    const free = await run({ maxTokens: 8, ignoreEos: true });
    expect(free.tokens).toHaveLength(8);
    const at = free.tokens.findIndex((t, i) => i >= 1 && free.tokens.indexOf(t) === i);
    const stopId = free.tokens[at] as number;
    const stopped = await run({ maxTokens: 8, ignoreEos: true, stopTokenIds: [stopId] });
    expect(stopped.tokens).toEqual(free.tokens.slice(0, at + 1));
    expect(stopped.last.finishReason).toBe('stop');
    const held = await run({ maxTokens: 8, ignoreEos: true, stopTokenIds: [stopId], minTokens: at + 2 });
    expect(held.tokens.slice(0, at)).toEqual(free.tokens.slice(0, at));
    expect(held.tokens.slice(0, at + 2)).not.toContain(stopId);
    expect(held.tokens.length).toBeGreaterThanOrEqual(at + 2);
  });
});
