// Logits of a step whose past comes from the KV block store agree with computing everything in one run,
// alone and in a padded batch beside a sequence of another length (the engine's own batch layout).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type BatchRow, layoutBatch, storeNewKv } from '../../../../src/engines/onnx/batch-layout.js';
import { KvStore, type SlotTable } from '../../../../src/engines/onnx/kv-store.js';
import { ModelSession } from '../../../../src/engines/onnx/model-session.js';
import { loadModelDir } from '../../../../src/llm/model-dir.js';
import { seededRandom } from '../../../../src/llm/seeded-random.js';
import { tinyModelDir } from '../../../harness/tiny-model.js';

let session: ModelSession;
let store: KvStore;
const B = 16;

beforeAll(async () => {
  const model = await loadModelDir(await tinyModelDir());
  session = await ModelSession.create(model, { device: 'cpu', threads: 1 });
  store = new KvStore({
    numSlots: 32,
    numLayers: session.numLayers,
    numKvHeads: session.numKvHeads,
    blockSize: B,
    headDim: session.headDim,
    dtype: session.kvDtype,
  });
}, 120_000);
afterAll(() => session.release());

const tokens = (seed: number, n: number): number[] => {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => Math.floor(r() * 151_000));
};
const table = (): SlotTable => ({ slots: [], full: 0 });

/** Runs rows after giving them slots for their new tokens; returns each row's next-token logits. */
async function step(rows: BatchRow[], tag: string): Promise<Float32Array[]> {
  for (const row of rows) {
    const n = row.past + row.count;
    store.extend(
      row.table,
      n,
      Array.from({ length: Math.floor(n / B) }, (_, i) => `${tag}${row.tokens[0]}:${i}`),
    );
  }
  const feeds = layoutBatch(rows, store, session);
  const out = await session.run(feeds);
  storeNewKv(rows, store, out.present, feeds);
  const V = session.vocabSize;
  return rows.map((_, r) =>
    out.logits.slice((r * out.logitsLen + out.logitsLen - 1) * V, (r * out.logitsLen + out.logitsLen) * V),
  );
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs((a[i] as number) - (b[i] as number)));
  return d;
}

test('a cached step and an uncached one give the same logits, alone and batched', async () => {
  const a = tokens(1, 45);
  const b = tokens(2, 21);
  const [reference] = await step([{ tokens: a, past: 0, count: a.length, table: table() }], 'x');
  const [bReference] = await step([{ tokens: b, past: 0, count: b.length, table: table() }], 'y');
  if (reference === undefined || bReference === undefined) throw new Error('no logits');
  // Logits have std ≈ 8: a gap of 1e-3 is float rounding, not a different computation.
  const norm = maxDiff(reference, new Float32Array(reference.length));
  expect(norm).toBeGreaterThan(10);

  const ta = table();
  const tb = table();
  await step([{ tokens: a, past: 0, count: 37, table: ta }], 'a');
  await step([{ tokens: b, past: 0, count: 6, table: tb }], 'b');
  const [cached] = await step([{ tokens: a, past: 37, count: 8, table: ta }], 'a');
  expect(maxDiff(cached as Float32Array, reference)).toBeLessThan(1e-3);

  // Again from the same cached prefix, batched beside a row with a shorter past and more new tokens.
  ta.slots.length = 3;
  ta.full = 2;
  const [bRow, aRow] = await step(
    [
      { tokens: b, past: 6, count: 15, table: tb },
      { tokens: a, past: 37, count: 8, table: ta },
    ],
    'c',
  );
  expect(maxDiff(aRow as Float32Array, reference)).toBeLessThan(1e-3);
  expect(maxDiff(bRow as Float32Array, bReference)).toBeLessThan(1e-3);
}, 60_000);
