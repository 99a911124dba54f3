// The indexer's JS sequence-hash step against the WASM hasher (itself checked against hash-wasm in
// test/unit/wasm/block-hashes.test.ts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashesToHex } from '../../../src/router/block-hashes.js';
import { sequenceHashStep } from '../../../src/router/sequence-hash.js';
import { computeBlockHashesRaw, hashToHex, xxh3 } from '../../../src/wasm/index.js';

const out = new Int32Array(2);

function step(parent: bigint, local: bigint): string {
  const lo = (x: bigint) => Number(x & 0xffffffffn) | 0;
  const hi = (x: bigint) => Number(x >> 32n) | 0;
  sequenceHashStep(lo(parent), hi(parent), lo(local), hi(local), out);
  return hashesToHex(new Uint32Array(out.buffer))[0] as string;
}

function wasmStep(parent: bigint, local: bigint): string {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, parent, true);
  view.setBigUint64(8, local, true);
  return hashToHex(xxh3(bytes, 1337n));
}

describe('sequenceHashStep', () => {
  it('chains a request the way the WASM hasher does', () => {
    const tokens = Array.from({ length: 16 * 40 }, (_, i) => (i * 2654435761) >>> 8);
    const { local, sequence } = computeBlockHashesRaw(tokens, 16);
    for (let i = 1; i < sequence.length; i++) {
      expect(step(sequence[i - 1] as bigint, local[i] as bigint)).toBe(hashToHex(sequence[i] as bigint));
    }
  });

  it('agrees with XXH3 over u64le(parent) ‖ u64le(local) for any 64-bit values', () => {
    const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
    const edges = [0n, 1n, (1n << 32n) - 1n, 1n << 32n, (1n << 63n) + 5n, (1n << 64n) - 1n];
    for (const a of edges) for (const b of edges) expect(step(a, b)).toBe(wasmStep(a, b));
    fc.assert(
      fc.property(u64, u64, (a, b) => step(a, b) === wasmStep(a, b)),
      { numRuns: 2000 },
    );
  });
});
