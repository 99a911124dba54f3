// A HuggingFace tokenizer.json (byte-level BPE: GPT-2, Llama 3, Qwen 2/3, DeepSeek V3, ...) encoded
// by the crate's WebAssembly pipeline and decoded here, with ids identical to HF `tokenizers`.
//
//   Tokenizer.fromFile ─ json_parse in WASM ─ skeleton (the file minus vocab and merges) ─ buildSpec
//                      (validate, refuse what we cannot reproduce) ─ tokenizer_new in WASM (vocab and
//                      merges read from the parsed file, regexes compiled)
//   encode:  UTF-8 into module memory ─ tokenizer_encode ─ ids copied out
//   decode:  ids ─ bytes of each token (tables built here) ─ TextDecoder (lossy, like HF)
import { readFileSync } from 'node:fs';
import { lastError, Scratch, wasm } from './module.js';
import { buildSpec, TokenizerLoadError } from './tokenizer-spec.js';

export { TokenizerLoadError };

export interface EncodeOptions {
  /** Add the post-processor's special tokens (e.g. Llama 3's BOS). Default false. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out added tokens marked special. Default false. */
  skipSpecialTokens?: boolean;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

const textScratch = new Scratch();
const FREE_ON_GC = new FinalizationRegistry<number>((handle) => wasm().tokenizer_free(handle));
const EMPTY = new Uint8Array(0);

/** Streams ids to text: `push` returns only complete characters, holding a partial UTF-8 sequence back. */
export class IncrementalDecoder {
  private readonly decoder = new TextDecoder('utf-8');

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly skipSpecialTokens: boolean,
  ) {}

  /** The text that `id` completes (possibly empty). */
  push(id: number): string {
    return this.decoder.decode(this.tokenizer.bytesOf(id, this.skipSpecialTokens), { stream: true });
  }

  /** The end of the stream: a dangling partial character becomes U+FFFD. */
  flush(): string {
    return this.decoder.decode();
  }
}

/** What decoding needs, built on first use (a router that only encodes never pays for it). */
interface DecodeTables {
  /** The bytes of every id's token, concatenated; id i spans offsets[i]..offsets[i+1]. */
  bytes: Uint8Array;
  offsets: Uint32Array;
  special: Uint8Array;
}

/** Every id's token string: one string, sliced by UTF-16 offsets (built on first use). */
interface TokenStrings {
  text: string;
  offsets: Uint32Array;
  present: Uint8Array;
}

/** Copies the module's result buffer out, as [n][offsets: n + 1][flags: n, padded to 4][payload]. */
function readTable(length: number): { offsets: Uint32Array; flags: Uint8Array; payload: Uint8Array } {
  const w = wasm();
  const copy = w.memory.buffer.slice(w.result_ptr(), w.result_ptr() + length);
  const n = new Uint32Array(copy, 0, 1)[0] ?? 0;
  const offsets = new Uint32Array(copy, 4, n + 1);
  const flagsAt = 4 * (n + 2);
  const flags = new Uint8Array(copy, flagsAt, n);
  const payloadAt = flagsAt + Math.ceil(n / 4) * 4;
  return { offsets, flags, payload: new Uint8Array(copy, payloadAt) };
}

export class Tokenizer {
  private readonly handle: number;
  private decodeTables: DecodeTables | undefined;
  private tokenStrings: TokenStrings | undefined;
  private readonly decoder = new TextDecoder('utf-8');

  /** `json`: the UTF-8 bytes of a tokenizer.json, parsed by the module itself (no JS object per token). */
  private constructor(json: Uint8Array) {
    const w = wasm();
    const ptr = w.wasm_alloc(json.length);
    new Uint8Array(w.memory.buffer, ptr, json.length).set(json);
    const doc = w.json_parse(ptr, json.length);
    w.wasm_free(ptr, json.length);
    if (doc === 0) throw new TokenizerLoadError(`tokenizer.json: ${lastError()}`);
    let spec: Uint8Array;
    try {
      const n = w.json_skeleton(doc);
      if (n < 0) throw new TokenizerLoadError(`tokenizer.json: ${lastError()}`);
      const skeleton: unknown = JSON.parse(
        utf8Decoder.decode(new Uint8Array(w.memory.buffer, w.result_ptr(), n)),
      );
      spec = buildSpec(skeleton);
    } catch (err) {
      w.json_free(doc);
      throw err;
    }
    const specPtr = w.wasm_alloc(spec.length);
    new Uint8Array(w.memory.buffer, specPtr, spec.length).set(spec);
    this.handle = w.tokenizer_new(specPtr, spec.length, doc);
    w.wasm_free(specPtr, spec.length);
    if (this.handle === 0) throw new TokenizerLoadError(`tokenizer.json: ${lastError()}`);
    // The module's copy (vocabulary, merges, caches: tens of MB) goes when this object does.
    FREE_ON_GC.register(this, this.handle, this);
  }

  private tables(): DecodeTables {
    if (!this.decodeTables) {
      const { offsets, flags, payload } = readTable(wasm().tokenizer_decode_table(this.handle));
      this.decodeTables = { bytes: payload, offsets, special: flags };
    }
    return this.decodeTables;
  }

  private strings(): TokenStrings {
    if (!this.tokenStrings) {
      const { offsets, flags, payload } = readTable(wasm().tokenizer_token_strings(this.handle));
      this.tokenStrings = { text: utf8Decoder.decode(payload), offsets, present: flags };
    }
    return this.tokenStrings;
  }

  /** Loads a tokenizer.json file; throws TokenizerLoadError for one we do not support. */
  static fromFile(path: string): Tokenizer {
    return new Tokenizer(readFileSync(path));
  }

  static fromJSON(text: string): Tokenizer {
    return new Tokenizer(utf8.encode(text));
  }

  /** Ids + added tokens: one past the largest id. */
  get vocabSize(): number {
    return wasm().tokenizer_vocab_size(this.handle);
  }

  encode(text: string, opts: EncodeOptions = {}): Uint32Array {
    const w = wasm();
    const cap = text.length * 3;
    const ptr = textScratch.reserve(cap);
    const { written } = utf8.encodeInto(text, new Uint8Array(w.memory.buffer, ptr, cap));
    const n = w.tokenizer_encode(this.handle, ptr, written, opts.addSpecialTokens ? 1 : 0);
    if (n < 0) throw new Error(`tokenizer: ${lastError()}`);
    const ids = w.tokenizer_ids(this.handle);
    return new Uint32Array(w.memory.buffer.slice(ids, ids + 4 * n));
  }

  encodeBatch(texts: readonly string[], opts: EncodeOptions = {}): Uint32Array[] {
    return texts.map((t) => this.encode(t, opts));
  }

  /** The bytes of one id (empty for an unknown id, or a special one when skipped: as HF). */
  bytesOf(id: number, skipSpecialTokens = false): Uint8Array {
    const t = this.tables();
    if (!Number.isInteger(id) || id < 0 || id >= t.special.length) return EMPTY;
    if (skipSpecialTokens && t.special[id] === 1) return EMPTY;
    return t.bytes.subarray(t.offsets[id], t.offsets[id + 1]);
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    let total = 0;
    for (let i = 0; i < ids.length; i++) total += this.bytesOf(ids[i] ?? -1, skip).length;
    const out = new Uint8Array(total);
    let at = 0;
    for (let i = 0; i < ids.length; i++) {
      const b = this.bytesOf(ids[i] ?? -1, skip);
      out.set(b, at);
      at += b.length;
    }
    return this.decoder.decode(out);
  }

  createDecoder(opts: DecodeOptions = {}): IncrementalDecoder {
    return new IncrementalDecoder(this, opts.skipSpecialTokens ?? false);
  }

  tokenToId(token: string): number | undefined {
    const w = wasm();
    const cap = token.length * 3;
    const ptr = textScratch.reserve(cap);
    const { written } = utf8.encodeInto(token, new Uint8Array(w.memory.buffer, ptr, cap));
    const id = w.tokenizer_token_to_id(this.handle, ptr, written);
    return id < 0 ? undefined : id;
  }

  idToToken(id: number): string | undefined {
    const s = this.strings();
    if (!Number.isInteger(id) || s.present[id] !== 1) return undefined;
    return s.text.slice(s.offsets[id], s.offsets[id + 1]);
  }

  /** Frees the module's copy now rather than at garbage collection (the object is unusable afterwards). */
  free(): void {
    FREE_ON_GC.unregister(this);
    wasm().tokenizer_free(this.handle);
  }
}
