// Decode K/V stays where the last decode run left it when sequences join or leave the batch
// (onnx-engine #keptPast): finished rows are dropped by moving the later ones up, joining sequences are
// gathered into the rows after them. Greedy output must be each sequence's output alone.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createOnnxEngine, type OnnxEngine } from '../../../../src/engines/onnx/index.js';
import { seededRandom } from '../../../../src/llm/seeded-random.js';
import { createLogger } from '../../../../src/runtime/logger.js';
import { tinyModelDir } from '../../../harness/tiny-model.js';

let engine: OnnxEngine;
beforeAll(async () => {
  engine = await createOnnxEngine({
    modelDir: await tinyModelDir(),
    log: createLogger({ level: 'silent' }),
    threads: 1,
  });
}, 120_000);
afterAll(() => engine.close());

const prompt = (seed: number, n: number): number[] => {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => Math.floor(r() * 150_000));
};

/** Greedy tokens; `onFirst` runs when the first token arrives. */
async function run(tokenIds: number[], maxTokens: number, onFirst?: () => void): Promise<number[]> {
  const out: number[] = [];
  const request = { requestId: 'r', model: 'tiny', tokenIds, sampling: {}, stop: { maxTokens } };
  for await (const frame of engine.generate(request, new AbortController().signal)) {
    out.push(...frame.tokenIds);
    if (out.length === 1 && frame.tokenIds.length > 0) onFirst?.();
  }
  return out;
}

describe('decode K/V kept in place', () => {
  test('sequences joining a running batch (shorter and longer pasts) and leaving it early or late', async () => {
    const prompts = [prompt(1, 40), prompt(2, 20), prompt(3, 10), prompt(4, 33)];
    const lengths = [14, 5, 9, 3];
    const alone: number[][] = [];
    for (const [i, p] of prompts.entries()) alone.push(await run(p, lengths[i] as number));
    // A starts; B joins at A's first token, C at B's, D at C's; B and D leave before A and C.
    const pending: Promise<number[]>[] = [];
    const join = (i: number): void => {
      pending[i] = run(prompts[i] as number[], lengths[i] as number, i < 3 ? () => join(i + 1) : undefined);
    };
    join(0);
    for (let i = 0; i < 4; i++) {
      while (pending[i] === undefined) await new Promise((r) => setTimeout(r, 5));
    }
    expect(await Promise.all(pending)).toEqual(alone);
  }, 120_000);
});
