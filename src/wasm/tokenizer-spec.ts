// Validates the configuration of a HuggingFace tokenizer.json of the byte-level BPE family (the file
// without its vocabulary and merges, which the crate reads itself) into the compact binary spec the
// crate's tokenizer is built from (crates-wasm/src/tokenizer.rs `Tokenizer::new`), refusing, with an
// error that names it, anything outside what that pipeline reproduces exactly.
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
  truncation: z.unknown(),
  padding: z.unknown(),
  added_tokens: z.array(ADDED_TOKEN).nullish(),
  normalizer: z.unknown(),
  pre_tokenizer: z.unknown(),
  post_processor: z.unknown(),
  decoder: z.unknown(),
  model: z.object({ type: z.string().optional() }).loose(),
});

// vocab and merges (hundreds of thousands of entries) are read and checked by the crate
// (crates-wasm/src/tokenizer.rs `read_model`), from its own parse of the file.
const BPE = z.object({
  type: z.literal('BPE').optional(),
  dropout: z.number().nullish(),
  unk_token: z.string().nullish(),
  continuing_subword_prefix: z.string().nullish(),
  end_of_word_suffix: z.string().nullish(),
  fuse_unk: z.boolean().optional(),
  byte_fallback: z.boolean().optional(),
  ignore_merges: z.boolean().optional(),
});

const TYPED = z.object({ type: z.string() }).loose();
const SPLIT = z.object({
  pattern: z.union([z.object({ Regex: z.string() }), z.object({ String: z.string() })]),
  behavior: z.enum(['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']),
  invert: z.boolean().default(false),
});
const BYTE_LEVEL = z.object({
  add_prefix_space: z.boolean().default(true),
  trim_offsets: z.boolean().default(true),
  use_regex: z.boolean().default(true),
});
const DIGITS = z.object({ individual_digits: z.boolean().default(false) });
const TEMPLATE_PIECE = z.union([
  z.object({ SpecialToken: z.object({ id: z.string() }).loose() }),
  z.object({ Sequence: z.object({ id: z.enum(['A', 'B']) }).loose() }),
]);
const TEMPLATE = z.object({
  single: z.array(TEMPLATE_PIECE),
  special_tokens: z.record(z.string(), z.object({ ids: z.array(z.number().int().nonnegative()) }).loose()),
});

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

function normalizerForms(node: unknown, path: string, out: string[]): void {
  if (node === null || node === undefined) return;
  const n = typeOf(node, path);
  if (n.type === 'Sequence') {
    const list = parse(z.object({ normalizers: z.array(z.unknown()) }), n, path).normalizers;
    list.forEach((child, i) => {
      normalizerForms(child, `${path}.normalizers.${i}`, out);
    });
  } else if (n.type in FORMS) {
    out.push(n.type);
  } else {
    throw new TokenizerLoadError(
      `tokenizer.json: ${path}: unsupported normalizer type ${JSON.stringify(n.type)}`,
    );
  }
}

type PreStep =
  | { kind: 'split'; literal: boolean; pattern: string; behavior: number; invert: boolean }
  | { kind: 'byteLevel'; addPrefixSpace: boolean; useRegex: boolean }
  | { kind: 'digits'; individual: boolean };

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

function checkDecoder(node: unknown, path: string): void {
  const n = typeOf(node, path);
  if (n.type === 'ByteLevel') return;
  if (n.type === 'Sequence') {
    const list = parse(z.object({ decoders: z.array(z.unknown()) }), n, path).decoders;
    if (list.length !== 1) {
      throw new TokenizerLoadError(`tokenizer.json: ${path}: only a ByteLevel decoder is supported`);
    }
    checkDecoder(list[0], `${path}.decoders.0`);
    return;
  }
  throw new TokenizerLoadError(`tokenizer.json: ${path}: unsupported decoder type ${JSON.stringify(n.type)}`);
}

/**
 * Validates the configuration of a tokenizer.json (parsed; vocabulary and merges may be left out) and
 * builds the crate's spec. Throws TokenizerLoadError.
 */
export function buildSpec(json: unknown): Uint8Array {
  const root = parse(ROOT, json, '(root)');
  for (const key of ['truncation', 'padding'] as const) {
    if (root[key] !== null && root[key] !== undefined) {
      throw new TokenizerLoadError(
        `tokenizer.json: ${key}: ${key} in the tokenizer is not supported (set it null)`,
      );
    }
  }
  const modelType = root.model.type ?? 'BPE';
  if (modelType !== 'BPE') {
    throw new TokenizerLoadError(
      `tokenizer.json: model.type: unsupported model ${JSON.stringify(modelType)} (only byte-level BPE)`,
    );
  }
  const model = parse(BPE, root.model, 'model');
  if (model.dropout)
    throw new TokenizerLoadError('tokenizer.json: model.dropout: BPE dropout is not supported');
  if (model.byte_fallback) {
    throw new TokenizerLoadError(
      'tokenizer.json: model.byte_fallback: byte fallback (SentencePiece-style BPE) is not supported',
    );
  }
  if (model.continuing_subword_prefix || model.end_of_word_suffix) {
    throw new TokenizerLoadError(
      'tokenizer.json: model.continuing_subword_prefix/end_of_word_suffix: subword affixes are not supported',
    );
  }
  const forms: string[] = [];
  normalizerForms(root.normalizer, 'normalizer', forms);
  const steps: PreStep[] = [];
  preTokenizerSteps(root.pre_tokenizer, 'pre_tokenizer', steps);
  const byteLevelAt = steps.findIndex((s) => s.kind === 'byteLevel');
  if (byteLevelAt === -1) {
    throw new TokenizerLoadError(
      'tokenizer.json: pre_tokenizer: no ByteLevel pre-tokenizer (only byte-level BPE is supported)',
    );
  }
  if (byteLevelAt !== steps.length - 1) {
    throw new TokenizerLoadError(
      'tokenizer.json: pre_tokenizer: a pre-tokenizer after ByteLevel is not supported',
    );
  }
  const affixes = { prefix: [] as number[], suffix: [] as number[] };
  template(root.post_processor, 'post_processor', affixes);
  if (root.decoder === null || root.decoder === undefined) {
    throw new TokenizerLoadError('tokenizer.json: decoder: missing (a ByteLevel decoder is required)');
  }
  checkDecoder(root.decoder, 'decoder');

  const added = root.added_tokens ?? [];
  for (const [i, t] of added.entries()) {
    if (t.single_word) {
      throw new TokenizerLoadError(
        `tokenizer.json: added_tokens.${i}: single_word added tokens are not supported`,
      );
    }
  }

  const normalize = (s: string): string => forms.reduce((acc, f) => acc.normalize(f), s);
  const w = new SpecWriter();
  w.u32(forms.length);
  for (const f of forms) w.u32(FORMS[f as keyof typeof FORMS]);
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
    } else {
      w.u32(3);
      w.u32(s.individual ? 1 : 0);
    }
  }
  w.u32(model.ignore_merges ? 1 : 0);
  w.u32(model.unk_token != null ? 1 : 0);
  // HF matches the not-normalized added tokens on the raw text, the others on normalized text.
  const flags = (t: AddedToken) => (t.lstrip ? 2 : 0) | (t.rstrip ? 4 : 0) | (t.special ? 1 << 16 : 0);
  // HF builds its matcher from the special tokens first, then the others.
  const ordered = [...added.filter((t) => t.special), ...added.filter((t) => !t.special)];
  for (const normalized of [false, true]) {
    const group = ordered.filter((t) => t.normalized === normalized);
    w.u32(group.length);
    for (const t of group) {
      w.u32(t.id);
      w.str(t.content);
      w.str(normalized ? normalize(t.content) : t.content);
      w.u32(flags(t));
    }
  }
  w.ids(affixes.prefix);
  w.ids(affixes.suffix);
  return w.bytes();
}
