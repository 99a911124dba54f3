// Block hashing (DESIGN §6) against an independent XXH3 implementation: hash-wasm's xxhash3 (C, compiled
// to WebAssembly by its authors), over every XXH3 length class.
import fc from 'fast-check';
import { createXXHash3, type IHasher } from 'hash-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  computeBlockHashes,
  computeBlockHashesRaw,
  hashToHex,
  hexToU64,
  xxh3,
} from '../../../src/wasm/index.js';

let ref: IHasher;
beforeAll(async () => {
  ref = await createXXHash3(1337, 0);
});

function refHash(bytes: Uint8Array): string {
  ref.init();
  ref.update(bytes);
  return ref.digest('hex');
}

function u64le(hex: string): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(`0x${hex}`), true);
  return out;
}

/** DESIGN §6 computed with the reference hasher. */
function reference(tokens: number[], blockSize: number): { local: string[]; sequence: string[] } {
  const local: string[] = [];
  const sequence: string[] = [];
  for (let i = 0; i + blockSize <= tokens.length; i += blockSize) {
    const l = refHash(new Uint8Array(Uint32Array.from(tokens.slice(i, i + blockSize)).buffer));
    const prev = sequence.at(-1);
    local.push(l);
    sequence.push(prev === undefined ? l : refHash(new Uint8Array([...u64le(prev), ...u64le(l)])));
  }
  return { local, sequence };
}

describe('xxh3', () => {
  it('matches hash-wasm for every length from 0 to 2100 bytes and several seeds', async () => {
    const data = Uint8Array.from({ length: 2100 }, (_, i) => (i * 131 + 7) & 0xff);
    for (const seed of [0n, 1337n, 0xffff_ffff_ffff_ffffn, 0x1234_5678_9abc_def0n]) {
      const hasher = await createXXHash3(Number(seed & 0xffff_ffffn), Number(seed >> 32n));
      for (let len = 0; len <= data.length; len += len < 300 ? 1 : 37) {
        hasher.init();
        hasher.update(data.subarray(0, len));
        expect(hashToHex(xxh3(data.subarray(0, len), seed)), `len ${len} seed ${seed}`).toBe(
          hasher.digest('hex'),
        );
      }
    }
  });
});

describe('computeBlockHashes', () => {
  it('gives the DESIGN §6 test vector', () => {
    expect(computeBlockHashes([1, 2, 3, 4], 4)).toEqual({
      local: ['cb38e4d7fb2dca5c'],
      sequence: ['cb38e4d7fb2dca5c'],
    });
  });

  it('hashes only full blocks', () => {
    expect(computeBlockHashes([1, 2, 3], 4)).toEqual({ local: [], sequence: [] });
    expect(computeBlockHashes([1, 2, 3, 4, 5, 6, 7], 4).local).toEqual(['cb38e4d7fb2dca5c']);
  });

  it('matches the reference for block sizes of every XXH3 length class', () => {
    const tokens = Array.from({ length: 4 * 1024 + 5 }, (_, i) => (i * 2654435761) >>> 0);
    for (const blockSize of [1, 2, 3, 4, 5, 16, 17, 32, 33, 60, 64, 65, 128, 300, 1024]) {
      const ours = computeBlockHashes(Uint32Array.from(tokens), blockSize);
      expect(ours, `block size ${blockSize}`).toEqual(reference(tokens, blockSize));
      expect(computeBlockHashes(tokens, blockSize)).toEqual(ours);
    }
  });

  it('matches the reference on random token sequences', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 300 }),
        fc.integer({ min: 1, max: 80 }),
        (tokens, blockSize) => {
          expect(computeBlockHashes(tokens, blockSize)).toEqual(reference(tokens, blockSize));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('chains onto a parent: block by block equals whole', () => {
    const tokens = Array.from({ length: 64 * 5 }, (_, i) => i + 100);
    const whole = computeBlockHashes(tokens, 64);
    const head = computeBlockHashes(tokens.slice(0, 128), 64);
    const tail = computeBlockHashes(tokens.slice(128), 64, head.sequence.at(-1));
    expect([...head.local, ...tail.local]).toEqual(whole.local);
    expect([...head.sequence, ...tail.sequence]).toEqual(whole.sequence);
  });

  it('raw form holds the same values', () => {
    const tokens = Array.from({ length: 16 * 9 + 3 }, (_, i) => i * 7);
    const hex = computeBlockHashes(tokens, 16);
    const raw = computeBlockHashesRaw(tokens, 16);
    expect(Array.from(raw.local, hashToHex)).toEqual(hex.local);
    expect(Array.from(raw.sequence, hashToHex)).toEqual(hex.sequence);
    const parent = raw.sequence[4];
    expect(parent).toBeDefined();
    const tail = computeBlockHashesRaw(tokens.slice(16 * 5), 16, parent);
    expect(Array.from(tail.sequence, hashToHex)).toEqual(hex.sequence.slice(5));
    expect(hexToU64(hex.sequence[0] ?? '')).toBe(raw.sequence[0]);
  });

  it('refuses what is not a u32 token or a block size', () => {
    expect(() => computeBlockHashes([1, -1], 1)).toThrow(/tokens\[1\]/);
    expect(() => computeBlockHashes([1, 2.5], 1)).toThrow(/tokens\[1\]/);
    expect(() => computeBlockHashes([1, 2 ** 32], 1)).toThrow(/tokens\[1\]/);
    expect(() => computeBlockHashes([1, 2], 0)).toThrow(/blockSize/);
    expect(() => computeBlockHashes([1, 2], 1.5)).toThrow(/blockSize/);
    expect(() => computeBlockHashes([1, 2], 1, 'zz')).toThrow(/hex hash/);
  });
});
