import { describe, expect, test } from 'vitest';
import type { SamplingOptions } from '../../../../src/api/index.js';
import { Sampler } from '../../../../src/engines/onnx/sampler.js';
import { LogitsArena } from '../../../../src/wasm/index.js';

const V = 8;
const kernels = new LogitsArena();
const logits = (): Float32Array => Float32Array.from([2, 1.9, -1, 0.5, 1.5, -3, 0, 0.2]);
const sample = (opts: SamplingOptions, prompt: number[] = [], observed: number[] = []): number => {
  const s = new Sampler(opts, prompt, kernels);
  for (const t of observed) s.observe(t);
  return s.sample(logits(), 0, V);
};
const draws = (opts: SamplingOptions, n: number): Set<number> => {
  const s = new Sampler(opts, [], kernels);
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) seen.add(s.sample(logits(), 0, V));
  return seen;
};

describe('Sampler', () => {
  test('greedy picks the largest logit', () => {
    expect(sample({})).toBe(0);
    expect(sample({ temperature: 0 })).toBe(0);
  });

  test('repetition penalty divides positive logits and multiplies negative ones of seen tokens', () => {
    // 2/2 = 1 < 1.9: token 1 wins; token 1 seen as well: 1.9/2 = 0.95 < 1.5: token 4 wins.
    expect(sample({ repetitionPenalty: 2 }, [0])).toBe(0 + 1);
    expect(sample({ repetitionPenalty: 2 }, [0, 1])).toBe(4);
    const s = new Sampler({ repetitionPenalty: 2 }, [2], kernels);
    const row = logits();
    s.sample(row, 0, V);
    expect(row[2]).toBe(-2);
  });

  test('frequency and presence penalties apply to generated tokens only', () => {
    expect(sample({ frequencyPenalty: 0.3 }, [0], [])).toBe(0);
    // 2 - 0.06 = 1.94 > 1.9 but 2 - 0.06·2 = 1.88 < 1.9
    expect(sample({ frequencyPenalty: 0.06 }, [], [0])).toBe(0);
    expect(sample({ frequencyPenalty: 0.06 }, [], [0, 0])).toBe(1);
    // 2 - 0.2 = 1.8 < 1.9
    expect(sample({ presencePenalty: 0.2 }, [], [0, 0, 0])).toBe(1);
  });

  test('top_k and top_p bound the candidates; a seed reproduces the draws', () => {
    expect(draws({ temperature: 1, topK: 2, seed: 1 }, 400)).toEqual(new Set([0, 1]));
    // softmax mass of tokens 0, 1 is about 0.62: top_p 0.5 keeps them, never token 4 (third).
    expect(draws({ temperature: 1, topP: 0.5, seed: 2 }, 400)).toEqual(new Set([0, 1]));
    expect(draws({ temperature: 1, seed: 3 }, 2000).size).toBe(V);
    const seq = (seed: number): number[] => {
      const s = new Sampler({ temperature: 1, seed }, [], kernels);
      return Array.from({ length: 30 }, () => s.sample(logits(), 0, V));
    };
    expect(seq(7)).toEqual(seq(7));
    expect(seq(7)).not.toEqual(seq(8));
  });
});
