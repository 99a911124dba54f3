// Validates the configuration of a HuggingFace tokenizer.json (the file without its vocabulary and
// merges, which the crate reads itself) into the compact binary spec the crate's tokenizer is built from
// (crates-wasm/src/tokenizer.rs `Tokenizer::new`), refusing, with an error that names it, anything
// outside what that pipeline reproduces exactly. Models: BPE (byte-level, or SentencePiece-style with
// Metaspace and byte fallback), Unigram, WordPiece.
import { z } from 'zod';

/** A tokenizer.json we do not support, or a malformed one: names the JSON path and the construct. */
export class TokenizerLoadError extends Error {
  override name = 'TokenizerLoadError';
}

const ADDED_TOKEN = z.object({
  id: z.number().int().nonnegative(),
  content: z.string(),
  single_word: z.boolean().default(false),
  lstrip: z.boolean().default(false),
  rstrip: z.boolean().default(false),
  normalized: z.boolean().default(true),
  special: z.boolean().default(false),
});
type AddedToken = z.output<typeof ADDED_TOKEN>;

const ROOT = z.object({
  truncation: z.unknown().optional(),
  padding: z.unknown().optional(),
  added_tokens: z.array(ADDED_TOKEN).nullish(),
  normalizer: z.unknown().optional(),
  pre_tokenizer: z.unknown().optional(),
  post_processor: z.unknown().optional(),
  decoder: z.unknown().optional(),
  model: z.object({ type: z.string().optional() }).loose(),
});

// vocab and merges (hundreds of thousands of entries) are read and checked by the crate
// (crates-wasm/src/tokenizer.rs `vocab_object`, `bpe_merges`, `unigram_vocab`), from its own parse.
const BPE = z.object({
  type: z.literal('BPE').optional(),
  dropout: z.number().nullish(),
  unk_token: z.string().nullish(),
  continuing_subword_prefix: z.string().nullish(),
  end_of_word_suffix: z.string().nullish(),
  fuse_unk: z.boolean().default(false),
  byte_fallback: z.boolean().default(false),
  ignore_merges: z.boolean().default(false),
});
const UNIGRAM = z.object({
  unk_id: z.number().int().nonnegative().nullish(),
  byte_fallback: z.boolean().default(false),
});
const WORD_PIECE = z.object({
  unk_token: z.string().default('[UNK]'),
  continuing_subword_prefix: z.string().default('##'),
  max_input_chars_per_word: z.number().int().nonnegative().default(100),
});

const TYPED = z.object({ type: z.string() }).loose();
const PATTERN = z.union([z.object({ Regex: z.string() }), z.object({ String: z.string() })]);
const SPLIT = z.object({
  pattern: PATTERN,
  behavior: z.enum(['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']),
  invert: z.boolean().default(false),
});
const BYTE_LEVEL = z.object({
  add_prefix_space: z.boolean().default(true),
  trim_offsets: z.boolean().default(true),
  use_regex: z.boolean().default(true),
});
const DIGITS = z.object({ individual_digits: z.boolean().default(false) });
// Files before tokenizers 0.19 give add_prefix_space (false: never) beside or instead of prepend_scheme.
const METASPACE = z.object({
  replacement: z.string().refine((s) => [...s].length === 1, 'expected one character'),
  prepend_scheme: z.enum(['always', 'first', 'never']).optional(),
  add_prefix_space: z.boolean().optional(),
  split: z.boolean().default(true),
});
const PREPEND_SCHEMES = ['always', 'first', 'never'] as const;
const REPLACE = z.object({ pattern: PATTERN, content: z.string() });
const BERT_NORMALIZER = z.object({
  clean_text: z.boolean().default(true),
  handle_chinese_chars: z.boolean().default(true),
  strip_accents: z.boolean().nullish(),
  lowercase: z.boolean().default(true),
});
const STRIP_DECODER = z.object({
  content: z.string().refine((s) => [...s].length === 1, 'expected one character'),
  start: z.number().int().nonnegative(),
  stop: z.number().int().nonnegative(),
});
const WORD_PIECE_DECODER = z.object({ prefix: z.string().default('##'), cleanup: z.boolean().default(true) });
const TEMPLATE_PIECE = z.union([
  z.object({ SpecialToken: z.object({ id: z.string() }).loose() }),
  z.object({ Sequence: z.object({ id: z.enum(['A', 'B']) }).loose() }),
]);
const TEMPLATE = z.object({
  single: z.array(TEMPLATE_PIECE),
  special_tokens: z.record(z.string(), z.object({ ids: z.array(z.number().int().nonnegative()) }).loose()),
});
const TOKEN_AND_ID = z.tuple([z.string(), z.number().int().nonnegative()]);
const BERT_PROCESSING = z.object({ cls: TOKEN_AND_ID, sep: TOKEN_AND_ID });

const BEHAVIORS = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'] as const;
const FORMS = { NFC: 1, NFD: 2, NFKC: 3, NFKD: 4 } as const;

function parse<T extends z.ZodType>(schema: T, value: unknown, path: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = [path, ...(issue?.path ?? []).map(String)].join('.');
  throw new TokenizerLoadError(`tokenizer.json: ${where}: ${issue?.message ?? 'invalid'}`);
}

function typeOf(value: unknown, path: string): { type: string } & Record<string, unknown> {
  return parse(TYPED, value, path);
}

/** Little-endian u32s and length-prefixed UTF-8 strings, grown as needed. */
class SpecWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  private len = 0;
  private readonly encoder = new TextEncoder();

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + extra));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.len, v, true);
    this.len += 4;
  }

  str(s: string): void {
    this.ensure(4 + s.length * 3);
    const { written } = this.encoder.encodeInto(s, this.buf.subarray(this.len + 4));
    this.view.setUint32(this.len, written, true);
    this.len += 4 + written;
  }

  ids(ids: readonly number[]): void {
    this.u32(ids.length);
    for (const id of ids) this.u32(id);
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

type Norm =
  | { kind: 'form'; form: keyof typeof FORMS }
  | { kind: 'replace'; literal: boolean; pattern: string; content: string }
  | { kind: 'prepend'; prepend: string }
  | { kind: 'lowercase' | 'stripAccents' }
  | { kind: 'bert'; cleanText: boolean; chineseChars: boolean; stripAccents: boolean; lowercase: boolean };

function normalizers(node: unknown, path: string, out: Norm[]): void {
  if (node === null || node === undefined) return;
  const n = typeOf(node, path);
  switch (n.type) {
    case 'Sequence': {
      const list = parse(z.object({ normalizers: z.array(z.unknown()) }), n, path).normalizers;
      list.forEach((child, i) => {
        normalizers(child, `${path}.normalizers.${i}`, out);
      });
      return;
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      out.push({ kind: 'form', form: n.type });
      return;
    case 'Replace': {
      const r = parse(REPLACE, n, path);
      const literal = 'String' in r.pattern;
      const pattern = 'String' in r.pattern ? r.pattern.String : r.pattern.Regex;
      out.push({ kind: 'replace', literal, pattern, content: r.content });
      return;
    }
    case 'Prepend':
      out.push({ kind: 'prepend', prepend: parse(z.object({ prepend: z.string() }), n, path).prepend });
      return;
    case 'Lowercase':
      out.push({ kind: 'lowercase' });
      return;
    case 'StripAccents':
      out.push({ kind: 'stripAccents' });
      return;
    case 'BertNormalizer': {
      const b = parse(BERT_NORMALIZER, n, path);
      out.push({
        kind: 'bert',
        cleanText: b.clean_text,
        chineseChars: b.handle_chinese_chars,
        stripAccents: b.strip_accents ?? b.lowercase,
        lowercase: b.lowercase,
      });
      return;
    }
    default:
      throw new TokenizerLoadError(
        `tokenizer.json: ${path}: unsupported normalizer type ${JSON.stringify(n.type)}`,
      );
  }
}

/**
 * Metaspace's prepend scheme (default always). A legacy add_prefix_space: false must come with never, as
 * HF requires; true leaves the scheme as declared.
 */
function prependScheme(m: z.output<typeof METASPACE>, path: string): number {
  const scheme = m.prepend_scheme ?? 'always';
  if (m.add_prefix_space === false && scheme !== 'never') {
    throw new TokenizerLoadError(
      `tokenizer.json: ${path}.add_prefix_space: false does not match the prepend_scheme "${scheme}"`,
    );
  }
  return PREPEND_SCHEMES.indexOf(scheme);
}

type PreStep =
  | { kind: 'split'; literal: boolean; pattern: string; behavior: number; invert: boolean }
  | { kind: 'byteLevel'; addPrefixSpace: boolean; useRegex: boolean }
  | { kind: 'digits'; individual: boolean }
  | { kind: 'metaspace'; replacement: string; prepend: number; split: boolean }
  | { kind: 'bert' | 'whitespaceSplit' };

function preTokenizerSteps(node: unknown, path: string, out: PreStep[]): void {
  if (node === null || node === undefined) return;
  const n = typeOf(node, path);
  switch (n.type) {
    case 'Sequence': {
      const list = parse(z.object({ pretokenizers: z.array(z.unknown()) }), n, path).pretokenizers;
      list.forEach((child, i) => {
        preTokenizerSteps(child, `${path}.pretokenizers.${i}`, out);
      });
      return;
    }
    case 'Split': {
      const s = parse(SPLIT, n, path);
      const literal = 'String' in s.pattern;
      out.push({
        kind: 'split',
        literal,
        pattern: 'String' in s.pattern ? s.pattern.String : s.pattern.Regex,
        behavior: BEHAVIORS.indexOf(s.behavior),
        invert: s.invert,
      });
      return;
    }
    case 'ByteLevel': {
      const b = parse(BYTE_LEVEL, n, path);
      out.push({ kind: 'byteLevel', addPrefixSpace: b.add_prefix_space, useRegex: b.use_regex });
      return;
    }
    case 'Digits':
      out.push({ kind: 'digits', individual: parse(DIGITS, n, path).individual_digits });
      return;
    case 'Metaspace': {
      const m = parse(METASPACE, n, path);
      out.push({
        kind: 'metaspace',
        replacement: m.replacement,
        prepend: prependScheme(m, path),
        split: m.split,
      });
      return;
    }
    case 'BertPreTokenizer':
      out.push({ kind: 'bert' });
      return;
    case 'WhitespaceSplit':
      out.push({ kind: 'whitespaceSplit' });
      return;
    default:
      throw new TokenizerLoadError(
        `tokenizer.json: ${path}: unsupported pre-tokenizer type ${JSON.stringify(n.type)}`,
      );
  }
}

/** Ids the post-processor puts before and after the sequence when special tokens are added. */
function template(node: unknown, path: string, out: { prefix: number[]; suffix: number[] }): void {
  if (node === null || node === undefined) return;
  const n = typeOf(node, path);
  switch (n.type) {
    case 'Sequence': {
      const list = parse(z.object({ processors: z.array(z.unknown()) }), n, path).processors;
      list.forEach((child, i) => {
        template(child, `${path}.processors.${i}`, out);
      });
      return;
    }
    case 'ByteLevel':
      return; // only trims offsets
    case 'BertProcessing':
    case 'RobertaProcessing': {
      const b = parse(BERT_PROCESSING, n, path);
      out.prefix.push(b.cls[1]);
      out.suffix.push(b.sep[1]);
      return;
    }
    case 'TemplateProcessing': {
      const t = parse(TEMPLATE, n, path);
      let seen = false;
      for (const [i, piece] of t.single.entries()) {
        if ('Sequence' in piece) {
          if (piece.Sequence.id !== 'A' || seen) {
            throw new TokenizerLoadError(
              `tokenizer.json: ${path}.single.${i}: only one sequence $A is supported`,
            );
          }
          seen = true;
          continue;
        }
        const special = t.special_tokens[piece.SpecialToken.id];
        if (!special) {
          throw new TokenizerLoadError(
            `tokenizer.json: ${path}.single.${i}: special token ${JSON.stringify(piece.SpecialToken.id)} is not in special_tokens`,
          );
        }
        (seen ? out.suffix : out.prefix).push(...special.ids);
      }
      if (!seen) throw new TokenizerLoadError(`tokenizer.json: ${path}.single: no sequence $A`);
      return;
    }
    default:
      throw new TokenizerLoadError(
        `tokenizer.json: ${path}: unsupported post-processor type ${JSON.stringify(n.type)}`,
      );
  }
}

type DecStep =
  | { kind: 'byteLevel' | 'byteFallback' | 'fuse' }
  | { kind: 'replace'; pattern: string; content: string }
  | { kind: 'strip'; content: string; start: number; stop: number }
  | { kind: 'metaspace'; replacement: string; prepend: number }
  | { kind: 'wordPiece'; prefix: string; cleanup: boolean };

function decoders(node: unknown, path: string, out: DecStep[]): void {
  if (node === null || node === undefined) return;
  const n = typeOf(node, path);
  switch (n.type) {
    case 'Sequence': {
      const list = parse(z.object({ decoders: z.array(z.unknown()) }), n, path).decoders;
      list.forEach((child, i) => {
        decoders(child, `${path}.decoders.${i}`, out);
      });
      return;
    }
    case 'ByteLevel':
      out.push({ kind: 'byteLevel' });
      return;
    case 'ByteFallback':
      out.push({ kind: 'byteFallback' });
      return;
    case 'Fuse':
      out.push({ kind: 'fuse' });
      return;
    case 'Replace': {
      const r = parse(REPLACE, n, path);
      if (!('String' in r.pattern)) {
        throw new TokenizerLoadError(
          `tokenizer.json: ${path}.pattern: a Regex Replace decoder is not supported`,
        );
      }
      out.push({ kind: 'replace', pattern: r.pattern.String, content: r.content });
      return;
    }
    case 'Strip':
      out.push({ kind: 'strip', ...parse(STRIP_DECODER, n, path) });
      return;
    case 'Metaspace': {
      const m = parse(METASPACE, n, path);
      out.push({ kind: 'metaspace', replacement: m.replacement, prepend: prependScheme(m, path) });
      return;
    }
    case 'WordPiece':
      out.push({ kind: 'wordPiece', ...parse(WORD_PIECE_DECODER, n, path) });
      return;
    default:
      throw new TokenizerLoadError(
        `tokenizer.json: ${path}: unsupported decoder type ${JSON.stringify(n.type)}`,
      );
  }
}

/** What the model needs besides its vocabulary, as spec words. */
function modelSpec(root: z.output<typeof ROOT>, steps: PreStep[], w: SpecWriter): void {
  const modelType = root.model.type ?? 'BPE';
  if (!['BPE', 'Unigram', 'WordPiece'].includes(modelType)) {
    throw new TokenizerLoadError(
      `tokenizer.json: model.type: unsupported model ${JSON.stringify(modelType)} (BPE, Unigram and WordPiece are)`,
    );
  }
  const byteLevelAt = steps.findIndex((s) => s.kind === 'byteLevel');
  if (byteLevelAt !== -1 && byteLevelAt !== steps.length - 1) {
    throw new TokenizerLoadError(
      'tokenizer.json: pre_tokenizer: a pre-tokenizer after ByteLevel is not supported',
    );
  }
  if (byteLevelAt !== -1 && modelType !== 'BPE') {
    throw new TokenizerLoadError(
      `tokenizer.json: pre_tokenizer: a ByteLevel pre-tokenizer with a ${modelType} model is not supported`,
    );
  }
  switch (modelType) {
    case 'BPE': {
      const model = parse(BPE, root.model, 'model');
      if (model.dropout)
        throw new TokenizerLoadError('tokenizer.json: model.dropout: BPE dropout is not supported');
      if (model.continuing_subword_prefix || model.end_of_word_suffix) {
        throw new TokenizerLoadError(
          'tokenizer.json: model.continuing_subword_prefix/end_of_word_suffix: subword affixes are not supported',
        );
      }
      const byteLevel = byteLevelAt !== -1;
      if (byteLevel && model.byte_fallback) {
        throw new TokenizerLoadError(
          'tokenizer.json: model.byte_fallback: byte fallback with a ByteLevel pre-tokenizer is not supported',
        );
      }
      w.u32(1);
      w.u32(byteLevel ? 1 : 0);
      w.u32(model.ignore_merges ? 1 : 0);
      w.u32(model.byte_fallback ? 1 : 0);
      w.u32(model.fuse_unk ? 1 : 0);
      w.u32(model.unk_token != null ? 1 : 0);
      w.str(model.unk_token ?? '');
      return;
    }
    case 'Unigram': {
      const model = parse(UNIGRAM, root.model, 'model');
      w.u32(2);
      w.u32(model.unk_id != null ? 1 : 0);
      w.u32(model.unk_id ?? 0);
      w.u32(model.byte_fallback ? 1 : 0);
      return;
    }
    default: {
      // WordPiece
      const model = parse(WORD_PIECE, root.model, 'model');
      w.u32(3);
      w.str(model.unk_token);
      w.str(model.continuing_subword_prefix);
      w.u32(model.max_input_chars_per_word);
      return;
    }
  }
}

/** The crate's spec, and whether decoding is plain byte-level (each id's bytes, concatenated). */
export interface Spec {
  bytes: Uint8Array;
  byteLevelDecode: boolean;
  /** The decoder has ByteFallback: a run of <0xNN> tokens decodes as a whole. */
  byteFallbackDecode: boolean;
}

/**
 * Validates the configuration of a tokenizer.json (parsed; vocabulary and merges may be left out) and
 * builds the crate's spec. Throws TokenizerLoadError.
 */
export function buildSpec(json: unknown): Spec {
  const root = parse(ROOT, json, '(root)');
  for (const key of ['truncation', 'padding'] as const) {
    if (root[key] !== null && root[key] !== undefined) {
      throw new TokenizerLoadError(
        `tokenizer.json: ${key}: ${key} in the tokenizer is not supported (set it null)`,
      );
    }
  }
  const norms: Norm[] = [];
  normalizers(root.normalizer, 'normalizer', norms);
  const steps: PreStep[] = [];
  preTokenizerSteps(root.pre_tokenizer, 'pre_tokenizer', steps);
  const affixes = { prefix: [] as number[], suffix: [] as number[] };
  template(root.post_processor, 'post_processor', affixes);
  const decs: DecStep[] = [];
  decoders(root.decoder, 'decoder', decs);

  const added = root.added_tokens ?? [];
  for (const [i, t] of added.entries()) {
    if (t.single_word) {
      throw new TokenizerLoadError(
        `tokenizer.json: added_tokens.${i}: single_word added tokens are not supported`,
      );
    }
  }

  const w = new SpecWriter();
  w.u32(norms.length);
  for (const n of norms) {
    if (n.kind === 'form') w.u32(FORMS[n.form]);
    else if (n.kind === 'replace') {
      w.u32(5);
      w.u32(n.literal ? 1 : 0);
      w.str(n.pattern);
      w.str(n.content);
    } else if (n.kind === 'prepend') {
      w.u32(6);
      w.str(n.prepend);
    } else if (n.kind === 'lowercase') w.u32(7);
    else if (n.kind === 'stripAccents') w.u32(8);
    else if (n.kind === 'bert') {
      w.u32(9);
      for (const flag of [n.cleanText, n.chineseChars, n.stripAccents, n.lowercase]) w.u32(flag ? 1 : 0);
    }
  }
  w.u32(steps.length);
  for (const s of steps) {
    if (s.kind === 'split') {
      w.u32(1);
      w.u32(s.literal ? 1 : 0);
      w.str(s.pattern);
      w.u32(s.behavior);
      w.u32(s.invert ? 1 : 0);
    } else if (s.kind === 'byteLevel') {
      w.u32(2);
      w.u32(s.addPrefixSpace ? 1 : 0);
      w.u32(s.useRegex ? 1 : 0);
    } else if (s.kind === 'digits') {
      w.u32(3);
      w.u32(s.individual ? 1 : 0);
    } else if (s.kind === 'metaspace') {
      w.u32(4);
      w.str(s.replacement);
      w.u32(s.prepend);
      w.u32(s.split ? 1 : 0);
    } else w.u32(s.kind === 'bert' ? 5 : 6);
  }
  modelSpec(root, steps, w);
  w.u32(decs.length);
  for (const d of decs) {
    if (d.kind === 'byteLevel') w.u32(1);
    else if (d.kind === 'replace') {
      w.u32(2);
      w.str(d.pattern);
      w.str(d.content);
    } else if (d.kind === 'byteFallback') w.u32(3);
    else if (d.kind === 'fuse') w.u32(4);
    else if (d.kind === 'strip') {
      w.u32(5);
      w.str(d.content);
      w.u32(d.start);
      w.u32(d.stop);
    } else if (d.kind === 'metaspace') {
      w.u32(6);
      w.str(d.replacement);
      w.u32(d.prepend);
    } else if (d.kind === 'wordPiece') {
      w.u32(7);
      w.str(d.prefix);
      w.u32(d.cleanup ? 1 : 0);
    }
  }
  // HF matches the not-normalized added tokens on the raw text, the others on normalized text (the
  // crate normalizes their content); flags: special, lstrip, rstrip.
  const flags = (t: AddedToken) => (t.lstrip ? 2 : 0) | (t.rstrip ? 4 : 0) | (t.special ? 1 << 16 : 0);
  // HF builds its matcher from the special tokens first, then the others.
  const ordered = [...added.filter((t) => t.special), ...added.filter((t) => !t.special)];
  for (const normalized of [false, true]) {
    const group = ordered.filter((t) => t.normalized === normalized);
    w.u32(group.length);
    for (const t of group) {
      w.u32(t.id);
      w.str(t.content);
      w.u32(flags(t));
    }
  }
  w.ids(affixes.prefix);
  w.ids(affixes.suffix);
  return {
    bytes: w.bytes(),
    byteLevelDecode: decs.length === 1 && decs[0]?.kind === 'byteLevel',
    byteFallbackDecode: decs.some((d) => d.kind === 'byteFallback'),
  };
}
