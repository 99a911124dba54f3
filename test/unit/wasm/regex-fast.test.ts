// The hand-coded pre-tokenizer matchers (crates-wasm/src/regex/fast.rs) split text exactly as the
// general regex engine and HF `tokenizers` do, for each pattern they stand in for. The splits are
// made visible in the ids: a WordPiece model whose vocabulary has every char of the text gives a
// word's first char one id and each later char another (`##` prefix), so equal ids mean equal
// word boundaries.
import fc from 'fast-check';
import { Tokenizer as HfTokenizer } from 'tokenizers';
import { afterAll, describe, expect, it } from 'vitest';
import { Tokenizer } from '../../../src/wasm/index.js';
import { CORPUS } from './corpus.js';

const GPT2 = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;
const CL100K = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
/** The patterns the fast path knows, as tokenizer.json files write them (Llama 3; Qwen 2 and 3). */
const PATTERNS = {
  gpt2: GPT2,
  llama3: CL100K,
  qwen2: CL100K.replace(String.raw`\p{N}{1,3}`, String.raw`\p{N}`),
} as const;

/** A tokenizer.json whose ids show where `pattern` split the text. */
function boundaryTokenizer(pattern: string): string {
  const vocab: Record<string, number> = { '[UNK]': 2 * ALPHABET.length };
  ALPHABET.forEach((c, i) => {
    vocab[c] = 2 * i;
    vocab[`##${c}`] = 2 * i + 1;
  });
  return JSON.stringify({
    version: '1.0',
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false }],
    },
    post_processor: null,
    decoder: null,
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 1_000_000,
      vocab,
    },
  });
}

/** Chars at the edges of the patterns' branches, which random Unicode seldom draws. */
const EDGES = [
  ...`aZ'sStTrReEvVmMlLdDkK \t\r\n09.,!-/é中`,
  '\u017F', // long s: folds to s under (?i)
  '\u212A', // Kelvin sign: folds to k
  '\u00A0',
  '\u2028',
  '\u3000',
  '\u0663',
  '\u2167',
  '\u00BD',
  '\u0301',
  '\u{1F600}',
  '\u{10400}',
  '\u{1D7CE}',
];
/** The chars of the tests' text: the edges, the corpus's, and code points sampled across Unicode
 * (every category, unassigned ones too). */
const SAMPLED = Array.from({ length: 0x110000 / 331 }, (_, i) => 0x80 + i * 331)
  .filter((c) => c < 0xd800 || (c > 0xdfff && c <= 0x10ffff))
  .map((c) => String.fromCodePoint(c));
const ALPHABET = [
  ...new Set(
    [...EDGES, ...SAMPLED, ...CORPUS.flatMap((s) => [...s])].concat(
      [...Array(128).keys()].map((c) => String.fromCharCode(c)),
    ),
  ),
];
const text = fc.oneof(
  fc.string({ unit: fc.constantFrom(...EDGES), maxLength: 24 }),
  fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength: 40 }),
  fc
    .array(fc.oneof(fc.constantFrom(...EDGES), fc.constantFrom(...ALPHABET)), { maxLength: 16 })
    .map((a) => a.join('')),
);

describe.each(Object.entries(PATTERNS))('the %s pattern', (_name, pattern) => {
  const fast = Tokenizer.fromJSON(boundaryTokenizer(pattern));
  // A group around the pattern matches the same and keeps it off the fast path.
  const general = Tokenizer.fromJSON(boundaryTokenizer(`(?:${pattern})`));
  const hfJson = boundaryTokenizer(pattern);
  const hf = HfTokenizer.fromString(hfJson);
  afterAll(() => {
    fast.free();
    general.free();
  });
  const check = async (s: string) => {
    const got = Array.from(fast.encode(s));
    expect(got, JSON.stringify(s)).toEqual(Array.from(general.encode(s)));
    expect(got, JSON.stringify(s)).toEqual((await hf.encode(s, null, { addSpecialTokens: false })).getIds());
  };

  it('splits the parity corpus as the general engine and HF tokenizers do', async () => {
    for (const s of CORPUS) await check(s);
  });

  it('splits random Unicode as the general engine and HF tokenizers do', async () => {
    await fc.assert(fc.asyncProperty(text, check), { numRuns: 400, seed: 23 });
  });
});
