// A HuggingFace tokenizer.json (byte-level BPE: GPT-2, Llama 3, Qwen 2/3, DeepSeek V3; SentencePiece-
// style BPE: Llama 2, Mistral, Gemma; Unigram; WordPiece) encoded by the crate's WebAssembly pipeline,
// with ids and decoded text identical to HF `tokenizers`.
//
//   Tokenizer.fromFile ─ json_parse in WASM ─ skeleton (the file minus vocab and merges) ─ buildSpec
//                      (validate, refuse what we cannot reproduce) ─ tokenizer_new in WASM (vocab and
//                      merges read from the parsed file, regexes compiled)
//   encode:  UTF-8 into module memory ─ tokenizer_encode ─ ids copied out
//   decode:  a plain ByteLevel decoder: ids ─ bytes of each token (tables built here) ─ TextDecoder
//            (lossy, like HF); any other decoder chain: tokenizer_decode in WASM
import { readFileSync } from 'node:fs';
import { bindings, lastError, Scratch, wasm } from './module.js';
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
// ignoreBOM: a token may begin with U+FEFF (GPT-OSS has "\ufeffnamespace"); HF keeps it, TextDecoder
// would drop it at the start of the text.
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });

const textScratch = new Scratch();
const idScratch = new Scratch();
const FREE_ON_GC = new FinalizationRegistry<number>((handle) => bindings().tokenizer_free(handle));
const EMPTY = new Uint8Array(0);
/** HF's ByteFallback decoder's test for a byte token. */
const FALLBACK_BYTE = /^<0x[0-9a-fA-F]{2}>$/;

/**
 * Streams ids to text: `push` returns only complete characters. Byte-level tokenizers hold a partial
 * UTF-8 sequence back (O(1) per id); the others decode a short window of ids the way HF's DecodeStream
 * does (text is released when it grows and does not end in U+FFFD), so a decoder chain that looks at
 * neighbouring tokens (Strip of the first space, WordPiece's `##`) streams exactly what decode gives. A
 * run of byte-fallback tokens is held until it ends: HF decodes it as a whole (one invalid byte turns
 * each byte of the run into U+FFFD).
 */
export class IncrementalDecoder {
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private ids: number[] = [];
  private prefix = '';
  private prefixIndex = 0;
  private inByteRun = false;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly skipSpecialTokens: boolean,
  ) {}

  /** The text that `id` completes (possibly empty). */
  push(id: number): string {
    if (this.tokenizer.byteLevelDecode) {
      this.tokenizer.checkId(id);
      return this.decoder.decode(this.tokenizer.bytesOf(id, this.skipSpecialTokens), { stream: true });
    }
    this.ids.push(id);
    // Hold a byte run until a token that shows (a skipped special one does not) ends it.
    if (this.tokenizer.isFallbackByte(id)) this.inByteRun = true;
    else if (!(this.inByteRun && this.skipSpecialTokens && this.tokenizer.isSpecial(id))) {
      this.inByteRun = false;
    }
    if (this.inByteRun) return '';
    const text = this.tokenizer.decode(this.ids, { skipSpecialTokens: this.skipSpecialTokens });
    if (text.length <= this.prefix.length || text.endsWith('\ufffd') || !text.startsWith(this.prefix)) {
      return '';
    }
    const delta = text.slice(this.prefix.length);
    const nextPrefixIndex = this.ids.length - this.prefixIndex;
    this.ids = this.ids.slice(this.prefixIndex);
    this.prefix = this.tokenizer.decode(this.ids, { skipSpecialTokens: this.skipSpecialTokens });
    this.prefixIndex = nextPrefixIndex;
    return delta;
  }

  /** The end of the stream: a dangling partial character becomes U+FFFD. */
  flush(): string {
    if (this.tokenizer.byteLevelDecode) return this.decoder.decode();
    const text = this.tokenizer.decode(this.ids, { skipSpecialTokens: this.skipSpecialTokens });
    const rest = text.startsWith(this.prefix) ? text.slice(this.prefix.length) : '';
    this.ids = [];
    this.prefix = '';
    this.prefixIndex = 0;
    this.inByteRun = false;
    return rest;
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

/** Splits a table the module returned: [n][offsets: n + 1][flags: n, padded to 4][payload]. */
function readTable(table: Uint8Array): { offsets: Uint32Array; flags: Uint8Array; payload: Uint8Array } {
  // The glue returns a copy with a buffer of its own, so the u32 views below are aligned.
  const copy = table.byteOffset === 0 ? table.buffer : table.slice().buffer;
  const n = new Uint32Array(copy, 0, 1)[0] ?? 0;
  const offsets = new Uint32Array(copy, 4, n + 1);
  const flagsAt = 4 * (n + 2);
  const flags = new Uint8Array(copy, flagsAt, n);
  const payloadAt = flagsAt + Math.ceil(n / 4) * 4;
  return { offsets, flags, payload: new Uint8Array(copy, payloadAt) };
}

/** A load step in the module: the glue throws its error message as a string. */
function loadStep<T>(step: () => T): T {
  try {
    return step();
  } catch (err) {
    throw new TokenizerLoadError(`tokenizer.json: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export class Tokenizer {
  private readonly handle: number;
  /** Decoding is each id's bytes concatenated (a plain ByteLevel decoder): done here, from tables. */
  readonly byteLevelDecode: boolean;
  private readonly byteFallbackDecode: boolean;
  private decodeTables: DecodeTables | undefined;
  private tokenStrings: TokenStrings | undefined;
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  /** `json`: the UTF-8 bytes of a tokenizer.json, parsed by the module itself (no JS object per token). */
  private constructor(json: Uint8Array) {
    const b = bindings();
    const doc = loadStep(() => b.json_parse(json));
    let spec: Uint8Array;
    let byteLevelDecode: boolean;
    let byteFallbackDecode: boolean;
    try {
      const skeleton: unknown = JSON.parse(loadStep(() => b.json_skeleton(doc)));
      ({ bytes: spec, byteLevelDecode, byteFallbackDecode } = buildSpec(skeleton));
    } catch (err) {
      b.json_free(doc);
      throw err;
    }
    this.handle = loadStep(() => b.tokenizer_new(spec, doc));
    this.byteLevelDecode = byteLevelDecode;
    this.byteFallbackDecode = byteFallbackDecode;
    // The module's copy (vocabulary, merges, caches: tens of MB) goes when this object does.
    FREE_ON_GC.register(this, this.handle, this);
  }

  private tables(): DecodeTables {
    if (!this.decodeTables) {
      const { offsets, flags, payload } = readTable(bindings().tokenizer_decode_table(this.handle));
      this.decodeTables = { bytes: payload, offsets, special: flags };
    }
    return this.decodeTables;
  }

  private strings(): TokenStrings {
    if (!this.tokenStrings) {
      const { offsets, flags, payload } = readTable(bindings().tokenizer_token_strings(this.handle));
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
    return bindings().tokenizer_vocab_size(this.handle);
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

  /**
   * Throws a RangeError for what cannot be a token id (negative, fractional, past 2^32). An id past the
   * vocabulary decodes to nothing, as in HF: models pad their embedding past the tokenizer (Qwen3's
   * 151,936 rows for 151,669 tokens) and may sample those rows.
   */
  checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) {
      throw new RangeError(`tokenizer: ${id} is not a token id`);
    }
  }

  /** HF's decode; throws a RangeError for what cannot be a token id. */
  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    if (!this.byteLevelDecode) return this.chainDecode(ids, skip);
    for (let i = 0; i < ids.length; i++) this.checkId(ids[i] ?? -1);
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

  /** Whether `id` is an added token marked special. */
  isSpecial(id: number): boolean {
    return this.tables().special[id] === 1;
  }

  /** Whether `id` is a `<0xNN>` token that a ByteFallback decoder turns into a byte. */
  isFallbackByte(id: number): boolean {
    return this.byteFallbackDecode && FALLBACK_BYTE.test(this.idToToken(id) ?? '');
  }

  /** Decodes through the crate's decoder chain. */
  private chainDecode(ids: ArrayLike<number>, skipSpecialTokens: boolean): string {
    const w = wasm();
    for (let i = 0; i < ids.length; i++) this.checkId(ids[i] ?? -1);
    const ptr = idScratch.reserve(4 * ids.length);
    new Uint32Array(w.memory.buffer, ptr, ids.length).set(ids);
    const n = w.tokenizer_decode(this.handle, ptr, ids.length, skipSpecialTokens ? 1 : 0);
    if (n < 0) throw new Error(`tokenizer: ${lastError()}`);
    return utf8Decoder.decode(new Uint8Array(w.memory.buffer, w.result_ptr(), n));
  }

  createDecoder(opts: DecodeOptions = {}): IncrementalDecoder {
    return new IncrementalDecoder(this, opts.skipSpecialTokens ?? false);
  }

  tokenToId(token: string): number | undefined {
    return bindings().tokenizer_token_to_id(this.handle, token);
  }

  idToToken(id: number): string | undefined {
    const s = this.strings();
    if (!Number.isInteger(id) || s.present[id] !== 1) return undefined;
    return s.text.slice(s.offsets[id], s.offsets[id + 1]);
  }

  /** Frees the module's copy now rather than at garbage collection (the object is unusable afterwards). */
  free(): void {
    FREE_ON_GC.unregister(this);
    bindings().tokenizer_free(this.handle);
  }
}
