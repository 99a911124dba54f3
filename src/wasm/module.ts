// Loads the crate's WebAssembly module once, on first use, synchronously: the wasm-pack package checked in
// at crates-wasm/pkg/ (`make wasm-pkg` regenerates it), its .wasm read from disk and handed to the glue's
// `initSync`, so the hashing and tokenizer APIs stay plain synchronous calls.
//
// Two ways in (crates-wasm/src/lib.rs): the glue's typed functions for cold calls (`bindings()`: loading a
// tokenizer, its tables), and raw exports over linear memory for the hot paths (`wasm()`): arguments are
// copied into memory the module allocated (`wasm_alloc`), results read back before the next call.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as glue from '../../crates-wasm/pkg/dynamo_wasm.js';

/** The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WebAssemblyApi {
  Module: (new (
    bytes: Uint8Array,
  ) => object) & { imports(module: object): { module: string; name: string; kind: string }[] };
  Instance: new (
    module: object,
    imports: Record<string, Record<string, unknown>>,
  ) => { exports: Record<string, unknown> };
  Memory: abstract new (...args: never[]) => WasmMemory;
}
const { Module, Instance, Memory } = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

/** The crate's raw exports (crates-wasm/src/lib.rs); pointers and sizes are u32 offsets into `memory`. */
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
  'tokenizer_encode',
  'tokenizer_ids',
  'tokenizer_decode',
  'argmax_f32',
  'masked_argmax_f32',
  'apply_mask_f32',
  'max_f32',
] as const;

// ignoreBOM: text that begins with U+FEFF keeps it (see tokenizer.ts).
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** The typed functions wasm-bindgen generated (the package's .d.ts); usable once `wasm()` has run. */
export type Bindings = Omit<typeof glue, 'default' | 'initSync'>;

/** The package's module: the same path from src/wasm/ and dist/wasm/. */
export const WASM_PATH = fileURLToPath(new URL('../../crates-wasm/pkg/dynamo_wasm_bg.wasm', import.meta.url));

let compiled: object | undefined;
let loaded: WasmExports | undefined;

function compile(): object {
  if (!compiled) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(WASM_PATH);
    } catch (err) {
      throw new Error(
        `cannot read the WebAssembly module ${WASM_PATH} (run \`make wasm-pkg\`): ${String(err)}`,
      );
    }
    compiled = new Module(bytes);
  }
  return compiled;
}

function checked(exports: Record<string, unknown>): WasmExports {
  const ok =
    exports.memory instanceof Memory &&
    EXPORTED_FUNCTIONS.every((name) => typeof exports[name] === 'function');
  if (!ok) {
    throw new Error(
      `${WASM_PATH} does not export ${EXPORTED_FUNCTIONS.join(', ')}: rebuild it with \`make wasm-pkg\``,
    );
  }
  return exports as unknown as WasmExports;
}

/** The module's raw exports, instantiated through the glue on first call. */
export function wasm(): WasmExports {
  if (!loaded) {
    // initSync gives the instance's exports: the glue's functions and these share the one instance.
    const module = compile() as Parameters<typeof glue.initSync>[0];
    loaded = checked(glue.initSync(module) as unknown as Record<string, unknown>);
  }
  return loaded;
}

/** The glue's typed functions (cold calls), on the instance `wasm()` returns. */
export function bindings(): Bindings {
  wasm();
  return glue;
}

/**
 * An instance of its own, with its own memory, for kernels that keep views of memory across other work
 * (the shared instance's memory grows, detaching views, whenever a tokenizer or hasher call needs room).
 * Only its raw exports are for use: the glue's imports (the tokenizer's normalization) throw here.
 */
export function privateInstance(): WasmExports {
  const module = compile();
  const imports: Record<string, Record<string, unknown>> = {};
  for (const { module: from, name } of Module.imports(module)) {
    imports[from] = {
      ...imports[from],
      [name]: () => {
        throw new Error(`${from}.${name}: not available in a private instance`);
      },
    };
  }
  return checked(new Instance(module, imports).exports);
}

/** The message the module left for its last failed raw call. */
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
