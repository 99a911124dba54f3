// A HuggingFace tokenizer.json (byte-level BPE: GPT-2, Llama 3, Qwen 2/3, DeepSeek V3, ...) encoded
// by the crate's WebAssembly pipeline and decoded here, with ids identical to HF `tokenizers`.
//
//   Tokenizer.fromFile ─ JSON.parse ─ buildSpec (validate, refuse what we cannot reproduce)
//                      ─ tokenizer_new in WASM (regexes compiled, merges hashed)
//   encode:  UTF-8 into module memory ─ tokenizer_encode ─ ids copied out
//   decode:  ids ─ bytes of each token (tables built here) ─ TextDecoder (lossy, like HF)
import { readFileSync } from 'node:fs';
import { lastError, Scratch, wasm } from './module.js';
import { type AddedToken, buildSpec, TokenizerLoadError } from './tokenizer-spec.js';

export { TokenizerLoadError };

export interface EncodeOptions {
  /** Add the post-processor's special tokens (e.g. Llama 3's BOS). Default false. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out added tokens marked special. Default false. */
  skipSpecialTokens?: boolean;
}

/** GPT-2's bytes_to_unicode inverted: the byte each character of a byte-level token stands for. */
const CHAR_TO_BYTE = (() => {
  const table = new Int16Array(256 + 68).fill(-1);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[printable ? b : next++] = b;
  }
  return table;
})();
const utf8 = new TextEncoder();

/**
 * Writes the bytes `token` decodes to at `out[at..]`: its byte-level characters mapped back, or its raw
 * UTF-8 when one is outside the alphabet (HF's ByteLevel decoder). Returns the byte count.
 */
function writeTokenBytes(token: string, out: Uint8Array, at: number): number {
  let n = 0;
  for (let i = 0; i < token.length; i++) {
    const b = CHAR_TO_BYTE[token.charCodeAt(i)] ?? -1;
    if (b < 0) return utf8.encodeInto(token, out.subarray(at)).written;
    out[at + n++] = b;
  }
  return n;
}

const textScratch = new Scratch();
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
  tokens: (string | undefined)[];
  /** The bytes of every id's token, concatenated; id i spans offsets[i]..offsets[i+1]. */
  bytes: Uint8Array;
  offsets: Uint32Array;
  special: Uint8Array;
}

export class Tokenizer {
  private readonly handle: number;
  private readonly vocab: Record<string, number>;
  private readonly added: readonly AddedToken[];
  private readonly addedIds = new Map<string, number>();
  private tables: DecodeTables | undefined;
  private readonly decoder = new TextDecoder('utf-8');

  private constructor(json: unknown) {
    const { spec, vocab, added } = buildSpec(json);
    const w = wasm();
    const ptr = w.wasm_alloc(spec.length);
    new Uint8Array(w.memory.buffer, ptr, spec.length).set(spec);
    this.handle = w.tokenizer_new(ptr, spec.length);
    w.wasm_free(ptr, spec.length);
    if (this.handle === 0) throw new TokenizerLoadError(`tokenizer.json: ${lastError()}`);
    this.vocab = vocab;
    this.added = added;
    for (const t of added) this.addedIds.set(t.content, t.id);
  }

  private decodeTables(): DecodeTables {
    if (this.tables) return this.tables;
    let maxId = -1;
    for (const token in this.vocab) maxId = Math.max(maxId, this.vocab[token] ?? -1);
    for (const t of this.added) maxId = Math.max(maxId, t.id);
    const tokens = new Array<string | undefined>(maxId + 1);
    for (const token in this.vocab) {
      const id = this.vocab[token];
      if (id !== undefined) tokens[id] = token;
    }
    // An added token's content wins over the model's token of the same id (HF looks it up first).
    const special = new Uint8Array(maxId + 1);
    for (const t of this.added) {
      tokens[t.id] = t.content;
      if (t.special) special[t.id] = 1;
    }
    const offsets = new Uint32Array(maxId + 2);
    let bytes = new Uint8Array(1 << 20);
    let total = 0;
    for (let id = 0; id <= maxId; id++) {
      offsets[id] = total;
      const token = tokens[id];
      if (token === undefined) continue;
      if (total + 3 * token.length > bytes.length) {
        const grown = new Uint8Array(2 * bytes.length + 3 * token.length);
        grown.set(bytes.subarray(0, total));
        bytes = grown;
      }
      total += writeTokenBytes(token, bytes, total);
    }
    offsets[maxId + 1] = total;
    this.tables = { tokens, bytes: bytes.subarray(0, total), offsets, special };
    return this.tables;
  }

  /** Loads a tokenizer.json file; throws TokenizerLoadError for one we do not support. */
  static fromFile(path: string): Tokenizer {
    return Tokenizer.fromJSON(readFileSync(path, 'utf8'));
  }

  static fromJSON(text: string): Tokenizer {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new TokenizerLoadError(
        `tokenizer.json: not JSON: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    return new Tokenizer(json);
  }

  /** Ids + added tokens: one past the largest id. */
  get vocabSize(): number {
    return this.decodeTables().tokens.length;
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
    const t = this.decodeTables();
    if (!Number.isInteger(id) || id < 0 || id >= t.tokens.length) return EMPTY;
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
    return this.addedIds.get(token) ?? (Object.hasOwn(this.vocab, token) ? this.vocab[token] : undefined);
  }

  idToToken(id: number): string | undefined {
    return this.decodeTables().tokens[id];
  }

  /** Frees the module's copy (the object is unusable afterwards). */
  free(): void {
    wasm().tokenizer_free(this.handle);
  }
}
