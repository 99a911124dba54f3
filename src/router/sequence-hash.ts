// One step of DESIGN §6's sequence hash, s[i] = XXH3-64(seed 1337) over u64le(s[i-1]) ‖ u64le(l[i]),
// on int32 halves. The indexer runs it once per stored block: it names nodes by the chain of local
// hashes a worker reports, not by the worker's own block ids (opaque to the router). A 16-byte input
// takes XXH3's 9-to-16-byte path; doing it here avoids a BigInt round trip through the WASM hasher
// per block. test/unit/router/sequence-hash.test.ts pins it to the WASM hasher.

const SEED = 1337n;
const M64 = (1n << 64n) - 1n;
/** XXH3's default secret, bytes 24..55: the 9-to-16-byte path reads four 64-bit words of it. */
const SECRET_24_56 = [0x1f67b3b7a4a44072n, 0x78e5c0cc4ee679cbn, 0x2172ffcc7dd05a82n, 0x8e2443f7744608b8n];
const BITFLIP1 = (((SECRET_24_56[0] as bigint) ^ (SECRET_24_56[1] as bigint)) + SEED) & M64;
const BITFLIP2 = (((SECRET_24_56[2] as bigint) ^ (SECRET_24_56[3] as bigint)) - SEED) & M64;
const F1_LO = Number(BITFLIP1 & 0xffffffffn) | 0;
const F1_HI = Number((BITFLIP1 >> 32n) & 0xffffffffn) | 0;
const F2_LO = Number(BITFLIP2 & 0xffffffffn) | 0;
const F2_HI = Number((BITFLIP2 >> 32n) & 0xffffffffn) | 0;
/** XXH3's avalanche multiplier 0x165667919E3779F9. */
const MX_LO = 0x9e3779f9 | 0;
const MX_HI = 0x16566791;

/** High 32 bits of the 64-bit product of two u32 (doubles are exact below 2^53, so split b in 16-bit halves). */
function mulHi(a: number, b: number): number {
  const t = a * (b & 0xffff);
  return ((a * (b >>> 16) + ((t / 65536) >>> 0)) / 65536) >>> 0;
}

function bswap(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
}

/**
 * Writes the sequence hash of a block whose parent's sequence hash is (parentLo, parentHi) and whose
 * local hash is (localLo, localHi) into out[0] (low half) and out[1] (high half), as int32.
 */
export function sequenceHashStep(
  parentLo: number,
  parentHi: number,
  localLo: number,
  localHi: number,
  out: Int32Array,
): void {
  // lo = u64le(parent) ^ bitflip1, hi = u64le(local) ^ bitflip2 (as unsigned 32-bit halves).
  const aL = (parentLo ^ F1_LO) >>> 0;
  const aH = (parentHi ^ F1_HI) >>> 0;
  const bL = (localLo ^ F2_LO) >>> 0;
  const bH = (localHi ^ F2_HI) >>> 0;
  // 128-bit product a·b, folded: low 64 ^ high 64.
  const llL = Math.imul(aL, bL) >>> 0;
  const llH = mulHi(aL, bL);
  const hlL = Math.imul(aH, bL) >>> 0;
  const hlH = mulHi(aH, bL);
  const lhL = Math.imul(aL, bH) >>> 0;
  const lhH = mulHi(aL, bH);
  const hhL = Math.imul(aH, bH) >>> 0;
  const hhH = mulHi(aH, bH);
  const cross = llH + hlL + lhL;
  const crossLo = cross >>> 0;
  const crossHi = lhH + Math.floor(cross / 4294967296);
  const upper = hhL + hlH + crossHi;
  const upperLo = upper >>> 0;
  const upperHi = (hhH + Math.floor(upper / 4294967296)) >>> 0;
  const foldLo = (llL ^ upperLo) >>> 0;
  const foldHi = (crossLo ^ upperHi) >>> 0;
  // acc = 16 + bswap64(a) + b + fold (mod 2^64).
  const sum = 16 + (bswap(aH) >>> 0) + bL + foldLo;
  let hLo = sum >>> 0;
  let hHi = ((bswap(aL) >>> 0) + bH + foldHi + Math.floor(sum / 4294967296)) >>> 0;
  // Avalanche: h ^= h >> 37; h *= MX; h ^= h >> 32.
  hLo = (hLo ^ (hHi >>> 5)) >>> 0;
  const pHi = mulHi(hLo, MX_LO) + Math.imul(hLo, MX_HI) + Math.imul(hHi, MX_LO);
  hHi = pHi | 0;
  hLo = Math.imul(hLo, MX_LO);
  out[0] = hLo ^ hHi;
  out[1] = hHi;
}
