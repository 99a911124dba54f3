/* tslint:disable */
/* eslint-disable */
/**
* Parses a JSON document; returns its handle (> 0).
* @param {Uint8Array} json
* @returns {number}
*/
export function json_parse(json: Uint8Array): number;
/**
* The document as JSON without `model.vocab` and `model.merges` (emptied): what the loader validates
* the configuration from.
* @param {number} doc
* @returns {string}
*/
export function json_skeleton(doc: number): string;
/**
* Frees a parsed document.
* @param {number} doc
*/
export function json_free(doc: number): void;
/**
* Builds a tokenizer from the loader's binary spec and parsed document `doc` (which it frees);
* returns its handle (> 0).
* @param {Uint8Array} spec
* @param {number} doc
* @returns {number}
*/
export function tokenizer_new(spec: Uint8Array, doc: number): number;
/**
* One past the largest id (model and added tokens), or 0 for a bad handle.
* @param {number} handle
* @returns {number}
*/
export function tokenizer_vocab_size(handle: number): number;
/**
* The id of a token, if it has one (none for a bad handle).
* @param {number} handle
* @param {string} token
* @returns {number | undefined}
*/
export function tokenizer_token_to_id(handle: number, token: string): number | undefined;
/**
* The decode table (see `Tokenizer::decode_table`).
* @param {number} handle
* @returns {Uint8Array}
*/
export function tokenizer_decode_table(handle: number): Uint8Array;
/**
* Every id's token string (see `Tokenizer::token_strings`).
* @param {number} handle
* @returns {Uint8Array}
*/
export function tokenizer_token_strings(handle: number): Uint8Array;
/**
* Frees a tokenizer; its handle is not reused.
* @param {number} handle
*/
export function tokenizer_free(handle: number): void;

export type InitInput = RequestInfo | URL | Response | BufferSource | WebAssembly.Module;

export interface InitOutput {
  readonly memory: WebAssembly.Memory;
  readonly wasm_alloc: (a: number) => number;
  readonly wasm_free: (a: number, b: number) => void;
  readonly block_hashes: (a: number, b: number, c: number, d: number, e: number, f: number) => number;
  readonly xxh3_64: (a: number, b: number, c: number) => number;
  readonly hex_u64: (a: number, b: number, c: number) => void;
  readonly last_error_ptr: () => number;
  readonly last_error_len: () => number;
  readonly result_ptr: () => number;
  readonly tokenizer_encode: (a: number, b: number, c: number, d: number) => number;
  readonly tokenizer_decode: (a: number, b: number, c: number, d: number) => number;
  readonly tokenizer_ids: (a: number) => number;
  readonly argmax_f32: (a: number, b: number) => number;
  readonly masked_argmax_f32: (a: number, b: number, c: number, d: number) => number;
  readonly apply_mask_f32: (a: number, b: number, c: number, d: number) => void;
  readonly max_f32: (a: number, b: number) => number;
  readonly json_parse: (a: number, b: number, c: number) => void;
  readonly json_skeleton: (a: number, b: number) => void;
  readonly tokenizer_new: (a: number, b: number, c: number, d: number) => void;
  readonly tokenizer_vocab_size: (a: number) => number;
  readonly tokenizer_token_to_id: (a: number, b: number, c: number, d: number) => void;
  readonly tokenizer_decode_table: (a: number, b: number) => void;
  readonly tokenizer_token_strings: (a: number, b: number) => void;
  readonly tokenizer_free: (a: number) => void;
  readonly json_free: (a: number) => void;
  readonly __wbindgen_malloc: (a: number, b: number) => number;
  readonly __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
  readonly __wbindgen_add_to_stack_pointer: (a: number) => number;
  readonly __wbindgen_free: (a: number, b: number, c: number) => void;
}

export type SyncInitInput = BufferSource | WebAssembly.Module;
/**
* Instantiates the given `module`, which can either be bytes or
* a precompiled `WebAssembly.Module`.
*
* @param {SyncInitInput} module
*
* @returns {InitOutput}
*/
export function initSync(module: SyncInitInput): InitOutput;

/**
* If `module_or_path` is {RequestInfo} or {URL}, makes a request and
* for everything else, calls `WebAssembly.instantiate` directly.
*
* @param {InitInput | Promise<InitInput>} module_or_path
*
* @returns {Promise<InitOutput>}
*/
export default function __wbg_init (module_or_path?: InitInput | Promise<InitInput>): Promise<InitOutput>;
