// A float16 model (`dynamo model tiny --dtype float16`: float16 weights, KV and logits, as an fp16
// optimum export): the engine generates with it, and its greedy output is the same computed from
// scratch by a bare session.run loop, from the prefix cache, batched with other sequences, and after
// preemption. A KV cache copied by value instead of by bit pattern fails every one of these.
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { GenerateRequest } from '../../../../src/api/index.js';
import {
  createOnnxEngine,
  type OnnxEngine,
  type OnnxEngineOptions,
} from '../../../../src/engines/onnx/index.js';
import { float16Tensor } from '../../../../src/engines/onnx/model-session.js';
import { loadModelDir } from '../../../../src/llm/model-dir.js';
import { seededRandom } from '../../../../src/llm/seeded-random.js';
import { createLogger } from '../../../../src/runtime/logger.js';
import { tinyModelDir } from '../../../harness/tiny-model.js';

let modelDir: string;
const engines: OnnxEngine[] = [];
const log = createLogger({ level: 'silent' });

beforeAll(async () => {
  modelDir = await tinyModelDir(1, 'float16');
}, 120_000);
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

async function engine(options: Partial<OnnxEngineOptions> = {}): Promise<OnnxEngine> {
  const e = await createOnnxEngine({ modelDir, log, threads: 1, ...options });
  engines.push(e);
  return e;
}

function prompt(seed: number, length: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length }, () => Math.floor(random() * 151_000));
}

async function run(
  e: OnnxEngine,
  tokenIds: number[],
  maxTokens = 10,
): Promise<{ tokens: number[]; cached: number }> {
  const request: GenerateRequest = {
    requestId: 'r',
    model: 'tiny',
    tokenIds,
    sampling: {},
    stop: { maxTokens },
  };
  const tokens: number[] = [];
  let cached = -1;
  for await (const frame of e.generate(request, new AbortController().signal)) {
    if (cached < 0) cached = frame.cachedTokens ?? 0;
    tokens.push(...frame.tokenIds);
  }
  return { tokens, cached };
}

/** Greedy decoding by recomputing the whole sequence every token: no KV cache, no batching. */
async function reference(tokenIds: number[], maxTokens: number): Promise<number[]> {
  const model = await loadModelDir(modelDir);
  const session = await ort.InferenceSession.create(model.modelPath, { intraOpNumThreads: 1 });
  try {
    const seq = [...tokenIds];
    const out: number[] = [];
    for (let n = 0; n < maxTokens; n++) {
      const s = seq.length;
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(seq, BigInt), [1, s]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(s).fill(1n), [1, s]),
        position_ids: new ort.Tensor(
          'int64',
          BigInt64Array.from(seq, (_, i) => BigInt(i)),
          [1, s],
        ),
        num_logits_to_keep: new ort.Tensor('int64', BigInt64Array.of(1n), []),
      };
      for (let i = 0; i < model.numLayers; i++) {
        for (const kind of ['key', 'value']) {
          feeds[`past_key_values.${i}.${kind}`] = float16Tensor(new Uint16Array(0), [
            1,
            model.numKvHeads,
            0,
            model.headDim,
          ]);
        }
      }
      const result = await session.run(feeds, ['logits']);
      const logits = result.logits as ort.Tensor;
      expect(logits.type).toBe('float16');
      const values = Float32Array.from(logits.data as unknown as Float16Array);
      let best = 0;
      for (let v = 1; v < values.length; v++) if ((values[v] as number) > (values[best] as number)) best = v;
      out.push(best);
      seq.push(best);
    }
    return out;
  } finally {
    await session.release();
  }
}

describe('onnx engine on the float16 tiny model', () => {
  test('greedy output equals recomputing from scratch each token, and the cached prefix changes nothing', async () => {
    const e = await engine();
    const shared = prompt(1, 48);
    const a = [...shared, ...prompt(2, 5)];
    const b = [...shared, ...prompt(3, 9)];
    const fresh = await run(await engine(), b);
    expect(fresh.cached).toBe(0);
    expect(fresh.tokens).toEqual(await reference(b, 10));
    await run(e, a);
    const cached = await run(e, b);
    expect(cached.cached).toBe(48);
    expect(cached.tokens).toEqual(fresh.tokens);
  }, 120_000);

  test('greedy output is the same alone, batched with sequences joining and leaving, and preempted', async () => {
    const prompts = [prompt(10, 5), prompt(11, 40), prompt(12, 17), prompt(13, 70), prompt(14, 1)];
    const lengths = [12, 5, 16, 9, 3];
    const alone: number[][] = [];
    const e1 = await engine();
    for (const [i, p] of prompts.entries()) alone.push((await run(e1, p, lengths[i])).tokens);
    const e2 = await engine({ maxNumBatchedTokens: 64 });
    const early = [0, 1].map((i) => run(e2, prompts[i] as number[], lengths[i]));
    await run(e2, prompt(15, 9), 2);
    const late = [2, 3, 4].map((i) => run(e2, prompts[i] as number[], lengths[i]));
    const batched = await Promise.all([...early, ...late]);
    expect(batched.map((r) => r.tokens)).toEqual(alone);
    // 5 sequences need 15 blocks together; 9 forces preemptions.
    const tight = await engine({ totalKvBlocks: 9 });
    const preempted = await Promise.all(prompts.map((p, i) => run(tight, p, lengths[i])));
    expect(preempted.map((r) => r.tokens)).toEqual(alone);
    expect(new Set(alone.map((t) => t.join(','))).size).toBe(prompts.length);
  }, 120_000);
});
