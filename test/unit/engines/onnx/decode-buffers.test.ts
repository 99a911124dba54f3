import { describe, expect, test } from 'vitest';
import { DecodeBuffers } from '../../../../src/engines/onnx/decode-buffers.js';

describe('DecodeBuffers', () => {
  test('views reuse a set while it is large enough, grow it when not, and keep the two sets apart', () => {
    const b = new DecodeBuffers(4, 'float32');
    const first = b.views(0, 100);
    expect(first).toHaveLength(4);
    expect(first.every((a) => a instanceof Float32Array && a.length === 100)).toBe(true);
    expect(b.capacity(0)).toBe(150);
    first[0]?.fill(7);
    const smaller = b.views(0, 50);
    expect(smaller[0]?.buffer).toBe(first[0]?.buffer);
    expect(smaller[0]?.[49]).toBe(7);
    const other = b.views(1, 100);
    expect(other[0]?.buffer).not.toBe(first[0]?.buffer);
    expect(b.views(0, 150)[0]?.buffer).toBe(first[0]?.buffer);
    const grown = b.views(0, 160);
    expect(grown[0]?.buffer).not.toBe(first[0]?.buffer);
    // Half again what was asked: rows growing a token per step, or joining, rarely reallocate.
    expect(b.capacity(0)).toBe(240);
    // Growing with `keep` carries the contents over.
    grown[0]?.fill(3, 0, 160);
    const kept = b.views(0, 300, true);
    expect(kept[0]?.[159]).toBe(3);
    expect(kept[0]?.[160]).toBe(0);
  });

  test('float16 sets hold raw bits', () => {
    expect(new DecodeBuffers(2, 'float16').views(1, 8)[1]).toBeInstanceOf(Uint16Array);
  });
});
