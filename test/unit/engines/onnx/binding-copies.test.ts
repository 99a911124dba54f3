// onnxruntime-node's binding returns a fresh copy of every output, also of those it wrote into tensors
// we gave it (the logits arena, the decode present buffers). ModelSession.run frees those copies at once:
// left to the GC they pile up as external memory (4.9 MB of logits per batch-8 run here) until V8 runs a
// full mark-compact, about every 13 runs. Our own buffers must survive.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type BatchFeeds, type KvArray, ModelSession } from '../../../../src/engines/onnx/model-session.js';
import { loadModelDir } from '../../../../src/llm/model-dir.js';
import type { TinyModelDtype } from '../../../../src/llm/tiny-model/tiny-model.js';
import { tinyModelDir } from '../../../harness/tiny-model.js';

const ROWS = 8;
const PAST = 40;

describe.each<TinyModelDtype>(['float32', 'float16'])('the %s tiny model', (dtype) => {
  let session: ModelSession;

  beforeAll(async () => {
    const model = await loadModelDir(await tinyModelDir(1, dtype));
    session = await ModelSession.create(model, { device: 'cpu', threads: 1 });
  }, 120_000);
  afterAll(() => session.release());

  const kv = (size: number): KvArray[] =>
    Array.from({ length: 2 * session.numLayers }, () =>
      dtype === 'float16' ? new Uint16Array(size) : new Float32Array(size),
    );

  function decodeFeeds(): BatchFeeds {
    const past = kv(ROWS * session.numKvHeads * PAST * session.headDim);
    for (const a of past) {
      const values = a instanceof Uint16Array ? new Float16Array(a.buffer) : a;
      for (let i = 0; i < values.length; i++) values[i] = Math.sin(i);
    }
    return {
      rows: ROWS,
      seqLen: 1,
      pastLen: PAST,
      inputIds: BigInt64Array.from({ length: ROWS }, (_, r) => BigInt(1000 + r)),
      attentionMask: new BigInt64Array(ROWS * (PAST + 1)).fill(1n),
      positionIds: new BigInt64Array(ROWS).fill(BigInt(PAST)),
      past,
    };
  }

  test('decode runs free the binding’s copies of their outputs, and keep ours', async () => {
    expect(session.hasNumLogitsToKeep).toBe(true); // the logits end up in the arena, for the kernels
    const feeds = decodeFeeds();
    const present = kv(ROWS * session.numKvHeads * (PAST + 1) * session.headDim);
    // Warm-up: the arena and onnxruntime's own buffers reach their size.
    let out = await session.run(feeds, present);
    const logits = Float32Array.from(out.logits);
    const keys = Array.from(present[0] as KvArray);
    const runs = 6;
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < runs; i++) out = await session.run(feeds, present);
    const grown = process.memoryUsage().arrayBuffers - before;
    // Each run's copies: the logits (ROWS × vocab) and the present tensors. Kept until a GC, six runs
    // would add six times that; freed at once, less than one run's logits remain.
    expect(grown).toBeLessThan(ROWS * session.vocabSize * (dtype === 'float16' ? 2 : 4));
    // Ours are intact and hold this run's values (the same feeds give the same outputs).
    expect(out.present[0]).toBe(present[0]);
    expect(out.logits.length).toBe(ROWS * session.vocabSize);
    expect(Array.from(out.logits.subarray(0, 64))).toEqual(Array.from(logits.subarray(0, 64)));
    expect(Array.from(out.logits.subarray(-64))).toEqual(Array.from(logits.subarray(-64)));
    expect(Array.from(present[0] as KvArray)).toEqual(keys);
  }, 60_000);
});
