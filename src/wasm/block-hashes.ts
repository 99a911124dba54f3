// KV block hashes (DESIGN §6) of a whole request in one WebAssembly call.
//   local[i]    = XXH3-64(seed 1337) over block i's token ids as u32 little-endian bytes
//   sequence[0] = local[0];  sequence[i] = XXH3-64(seed 1337) over u64le(sequence[i-1]) ‖ u64le(local[i])
// Only full blocks are hashed; a trailing partial block is not.
import { Scratch, wasm } from './module.js';

const input = new Scratch();
const output = new Scratch();
const hex = new Scratch();

/** Block hashes as 16-digit lowercase hex: the wire and event form (JSON numbers lose precision past 2^53). */
export interface BlockHashes {
  local: string[];
  sequence: string[];
}

/** Block hashes as raw u64: for hot paths (the router's indexer) that key maps without hex strings. */
export interface RawBlockHashes {
  local: BigUint64Array;
  sequence: BigUint64Array;
}

function checkBlockSize(blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 0x10000) {
    throw new RangeError(`blockSize: expected an integer in [1, 65536], got ${blockSize}`);
  }
}

/** Copies the tokens into module memory, hashes them there; returns the number of blocks and where. */
function hashInto(tokens: Uint32Array | readonly number[], blockSize: number, parent: bigint | undefined) {
  checkBlockSize(blockSize);
  if (!(tokens instanceof Uint32Array)) {
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t === undefined || !Number.isInteger(t) || t < 0 || t > 0xffffffff) {
        throw new RangeError(`tokens[${i}]: expected a u32 token id, got ${String(t)}`);
      }
    }
  }
  const n = tokens.length;
  const blocks = Math.floor(n / blockSize);
  const w = wasm();
  const inPtr = input.reserve(n * 4);
  const outPtr = output.reserve(blocks * 16);
  new Uint32Array(w.memory.buffer, inPtr, n).set(tokens);
  if (parent !== undefined && (parent < 0n || parent > 0xffff_ffff_ffff_ffffn)) {
    throw new RangeError(`parent: expected a u64, got ${parent}`);
  }
  w.block_hashes(inPtr, n, blockSize, parent === undefined ? 0 : 1, parent ?? 0n, outPtr);
  return { w, blocks, outPtr };
}

/**
 * The local and sequence hashes of every full block of `tokens`, as 16-digit hex (DESIGN §6).
 * With `parentSequence` (hex), the first block chains onto that block: hashing a sequence block by block
 * as it grows gives the same hashes as hashing it whole.
 */
export function computeBlockHashes(
  tokens: Uint32Array | readonly number[],
  blockSize: number,
  parentSequence?: string,
): BlockHashes {
  const parent = parentSequence === undefined ? undefined : hexToU64(parentSequence);
  const { w, blocks, outPtr } = hashInto(tokens, blockSize, parent);
  const hexPtr = hex.reserve(blocks * 32);
  w.hex_u64(outPtr, 2 * blocks, hexPtr);
  const text = Buffer.from(w.memory.buffer, hexPtr, blocks * 32).toString('latin1');
  const local = new Array<string>(blocks);
  const sequence = new Array<string>(blocks);
  for (let i = 0; i < blocks; i++) {
    local[i] = text.slice(16 * i, 16 * i + 16);
    sequence[i] = text.slice(16 * (blocks + i), 16 * (blocks + i) + 16);
  }
  return { local, sequence };
}

/**
 * As `computeBlockHashes`, as raw u64 (one BigUint64Array buffer holds both halves; `hashToHex` gives
 * the wire form of one value). `parentSequence` chains the first block onto an earlier sequence hash.
 */
export function computeBlockHashesRaw(
  tokens: Uint32Array | readonly number[],
  blockSize: number,
  parentSequence?: bigint,
): RawBlockHashes {
  const { w, blocks, outPtr } = hashInto(tokens, blockSize, parentSequence);
  const all = new BigUint64Array(w.memory.buffer.slice(outPtr, outPtr + blocks * 16));
  return { local: all.subarray(0, blocks), sequence: all.subarray(blocks) };
}

/** The wire form of a u64 hash: 16 lowercase hex digits. */
export function hashToHex(hash: bigint): string {
  return hash.toString(16).padStart(16, '0');
}

/** Parses a 16-digit hex hash into a u64; throws a RangeError naming the value otherwise. */
export function hexToU64(hex: string): bigint {
  if (!/^[0-9a-f]{16}$/.test(hex))
    throw new RangeError(`expected a 16-digit lowercase hex hash, got ${JSON.stringify(hex)}`);
  return BigInt(`0x${hex}`);
}

/** XXH3-64 of `bytes` with `seed` (the module's own implementation; exposed for tests and tools). */
export function xxh3(bytes: Uint8Array, seed: bigint): bigint {
  const w = wasm();
  const ptr = input.reserve(bytes.length);
  new Uint8Array(w.memory.buffer, ptr, bytes.length).set(bytes);
  return BigInt.asUintN(64, w.xxh3_64(ptr, bytes.length, seed));
}
