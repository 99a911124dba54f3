// The router's form of a 64-bit block hash: two int32 halves in a Uint32Array, low half first — the
// memory layout of a BigUint64Array on little-endian machines, so a WASM hasher's u64 output is viewed
// without copying. Hex strings (the wire form, DESIGN §5) are converted once, at the event boundary.

/** n hashes as 2n words: [lo0, hi0, lo1, hi1, ...]. */
export type BlockHashes = Uint32Array;

/** The hashes of a request's full blocks, as the router needs them (DESIGN §6). */
export interface RequestHashes {
  /** Local hashes: the radix tree's keys along the path from the root. */
  local: BlockHashes;
  /** Sequence hashes: how workers (and the router's own bookkeeping) name blocks. */
  sequence: BlockHashes;
}

/** Hex digit code → value ('0'..'9', 'a'..'f'; wire hashes are lowercase, validated by zod at the boundary). */
const NIBBLE = new Uint8Array(128);
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i;
for (let i = 0; i < 6; i++) NIBBLE[97 + i] = 10 + i;

/** High half (first 8 hex digits) of a 16-hex-digit hash, as int32. */
export function hexHi(hex: string): number {
  return (
    ((NIBBLE[hex.charCodeAt(0)] as number) << 28) |
    ((NIBBLE[hex.charCodeAt(1)] as number) << 24) |
    ((NIBBLE[hex.charCodeAt(2)] as number) << 20) |
    ((NIBBLE[hex.charCodeAt(3)] as number) << 16) |
    ((NIBBLE[hex.charCodeAt(4)] as number) << 12) |
    ((NIBBLE[hex.charCodeAt(5)] as number) << 8) |
    ((NIBBLE[hex.charCodeAt(6)] as number) << 4) |
    (NIBBLE[hex.charCodeAt(7)] as number)
  );
}

/** Low half (last 8 hex digits) of a 16-hex-digit hash, as int32. */
export function hexLo(hex: string): number {
  return (
    ((NIBBLE[hex.charCodeAt(8)] as number) << 28) |
    ((NIBBLE[hex.charCodeAt(9)] as number) << 24) |
    ((NIBBLE[hex.charCodeAt(10)] as number) << 20) |
    ((NIBBLE[hex.charCodeAt(11)] as number) << 16) |
    ((NIBBLE[hex.charCodeAt(12)] as number) << 12) |
    ((NIBBLE[hex.charCodeAt(13)] as number) << 8) |
    ((NIBBLE[hex.charCodeAt(14)] as number) << 4) |
    (NIBBLE[hex.charCodeAt(15)] as number)
  );
}

export function hashesFromHex(hex: readonly string[]): BlockHashes {
  const out = new Uint32Array(hex.length * 2);
  for (let i = 0; i < hex.length; i++) {
    const h = hex[i] as string;
    out[2 * i] = hexLo(h);
    out[2 * i + 1] = hexHi(h);
  }
  return out;
}

export function hexFromHalves(lo: number, hi: number): string {
  return (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}

export function hashesToHex(hashes: BlockHashes): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < hashes.length; i += 2) {
    out.push(hexFromHalves(hashes[i] as number, hashes[i + 1] as number));
  }
  return out;
}

/**
 * A hash as one JS number, for Map keys in per-request bookkeeping: the top 53 bits survive, so two
 * distinct XXH3 hashes collide with probability 2^-53 — harmless for load accounting.
 */
export function hashKey(hashes: BlockHashes, index: number): number {
  return (hashes[2 * index + 1] as number) * 4294967296 + (hashes[2 * index] as number);
}
