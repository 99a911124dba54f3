// Loads the crate's WebAssembly module (crates-wasm/, built by `make build` into dist/wasm/) once, on
// first use, synchronously: Node compiles a module synchronously from bytes, so the hashing and tokenizer
// APIs stay plain synchronous calls.
//
// The module has no wasm-bindgen glue: it exports functions over its linear memory. Arguments are copied
// into memory the module allocated (`wasm_alloc`), results are read back before the next call.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (
    module: object,
    imports: Record<string, Record<string, unknown>>,
  ) => { exports: Record<string, unknown> };
  Memory: abstract new (...args: never[]) => WasmMemory;
}
const { Module, Instance, Memory } = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/** The crate's exports (crates-wasm/src/lib.rs); pointers and sizes are u32 offsets into `memory`. */
export interface WasmExports {
  memory: WasmMemory;
  wasm_alloc(size: number): number;
  wasm_free(ptr: number, size: number): void;
  block_hashes(
    tokens: number,
    n: number,
    blockSize: number,
    hasParent: number,
    parent: bigint,
    out: number,
  ): number;
  hex_u64(words: number, count: number, out: number): void;
  xxh3_64(ptr: number, len: number, seed: bigint): bigint;
  last_error_ptr(): number;
  last_error_len(): number;
  result_ptr(): number;
  json_parse(ptr: number, len: number): number;
  json_skeleton(doc: number): number;
  json_free(doc: number): void;
  tokenizer_new(spec: number, len: number, doc: number): number;
  tokenizer_vocab_size(handle: number): number;
  tokenizer_token_to_id(handle: number, ptr: number, len: number): number;
  tokenizer_decode_table(handle: number): number;
  tokenizer_token_strings(handle: number): number;
  tokenizer_free(handle: number): void;
  tokenizer_encode(handle: number, text: number, len: number, addSpecialTokens: number): number;
  tokenizer_ids(handle: number): number;
  tokenizer_decode(handle: number, ids: number, n: number, skipSpecialTokens: number): number;
  argmax_f32(row: number, len: number): number;
  masked_argmax_f32(row: number, len: number, mask: number, words: number): number;
  apply_mask_f32(row: number, len: number, mask: number, words: number): void;
  max_f32(row: number, len: number): number;
}

const EXPORTED_FUNCTIONS = [
  'wasm_alloc',
  'wasm_free',
  'block_hashes',
  'hex_u64',
  'xxh3_64',
  'last_error_ptr',
  'last_error_len',
  'result_ptr',
  'json_parse',
  'json_skeleton',
  'json_free',
  'tokenizer_new',
  'tokenizer_vocab_size',
  'tokenizer_token_to_id',
  'tokenizer_decode_table',
  'tokenizer_token_strings',
  'tokenizer_free',
  'tokenizer_encode',
  'tokenizer_ids',
  'tokenizer_decode',
  'argmax_f32',
  'masked_argmax_f32',
  'apply_mask_f32',
  'max_f32',
] as const;

/** Normalization forms in the crate's numbering (tokenizer.rs `Form`). */
const NORMALIZATION_FORMS = ['', 'NFC', 'NFD', 'NFKC', 'NFKD'] as const;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * The module's one import: Unicode normalization by V8's ICU. It writes the UTF-8 result at `out` when
 * it fits in `cap` bytes and returns its length, else returns minus the length needed.
 */
function hostNormalize(form: number, ptr: number, len: number, out: number, cap: number): number {
  const name = NORMALIZATION_FORMS[form];
  if (!loaded || !name) throw new Error(`host_normalize: unknown normalization form ${form}`);
  const memory = new Uint8Array(loaded.memory.buffer);
  const normalized = utf8.encode(utf8Decoder.decode(memory.subarray(ptr, ptr + len)).normalize(name));
  if (normalized.length > cap) return -normalized.length;
  memory.set(normalized, out);
  return normalized.length;
}

/** Where `make build` puts the optimized module: the same path from src/wasm/ and dist/wasm/. */
export const WASM_PATH = fileURLToPath(new URL('../../dist/wasm/dynamo_wasm.wasm', import.meta.url));

let loaded: WasmExports | undefined;

function isExports(exports: Record<string, unknown>): exports is Record<string, unknown> & WasmExports {
  return (
    exports.memory instanceof Memory &&
    EXPORTED_FUNCTIONS.every((name) => typeof exports[name] === 'function')
  );
}

let compiled: object | undefined;

function instantiate(imports: Record<string, Record<string, unknown>>): WasmExports {
  if (!compiled) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(WASM_PATH);
    } catch (err) {
      throw new Error(`cannot read the WebAssembly module ${WASM_PATH} (run \`make build\`): ${String(err)}`);
    }
    compiled = new Module(bytes);
  }
  const { exports } = new Instance(compiled, imports);
  if (!isExports(exports)) {
    throw new Error(
      `${WASM_PATH} does not export ${EXPORTED_FUNCTIONS.join(', ')}: rebuild it with \`make build\``,
    );
  }
  return exports;
}

/** The module's exports, instantiated on first call. */
export function wasm(): WasmExports {
  loaded ??= instantiate({ env: { host_normalize: hostNormalize } });
  return loaded;
}

/**
 * An instance of its own, with its own memory, for kernels that keep views of memory across other work
 * (the shared instance's memory grows, detaching views, whenever a tokenizer or hasher call needs room).
 * Its functions that need the host (the tokenizer's normalization) are not for use.
 */
export function privateInstance(): WasmExports {
  return instantiate({
    env: {
      host_normalize: () => {
        throw new Error('host_normalize: not available in a private instance');
      },
    },
  });
}

/** The message the module left for its last failed call. */
export function lastError(): string {
  const w = wasm();
  return utf8Decoder.decode(new Uint8Array(w.memory.buffer, w.last_error_ptr(), w.last_error_len()));
}

/**
 * A region of module memory reused across calls (one per purpose), grown on demand. Views of `memory`
 * must be taken after `reserve`: growing memory detaches earlier ones.
 */
export class Scratch {
  private ptr = 0;
  private size = 0;

  reserve(bytes: number): number {
    if (bytes > this.size) {
      const w = wasm();
      if (this.size > 0) w.wasm_free(this.ptr, this.size);
      // Round up so a stream of slightly larger requests does not reallocate every time.
      this.size = Math.max(1024, 2 ** Math.ceil(Math.log2(bytes)));
      this.ptr = w.wasm_alloc(this.size);
    }
    return this.ptr;
  }
}
