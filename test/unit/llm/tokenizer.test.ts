import { describe, expect, it } from 'vitest';
import { IncrementalDetokenizer } from '../../../src/llm/detokenizer.js';
import { loadTokenizer } from '../../../src/llm/tokenizer.js';
import { tokenizerFiles } from './fixtures.js';

// A word-level tokenizer: not byte-level BPE, so the WASM tokenizer refuses it.
const WORD_LEVEL = JSON.stringify({
  version: '1.0',
  added_tokens: [
    {
      id: 3,
      content: '</s>',
      special: true,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
    },
  ],
  normalizer: null,
  pre_tokenizer: { type: 'Whitespace' },
  post_processor: null,
  decoder: null,
  model: { type: 'WordLevel', vocab: { hello: 0, world: 1, '[UNK]': 2, '</s>': 3 }, unk_token: '[UNK]' },
});

describe('loadTokenizer', () => {
  it('runs byte-level BPE tokenizers on WASM, with a streaming decoder', () => {
    const files = tokenizerFiles('qwen3');
    const t = loadTokenizer(files.tokenizerJson, files.tokenizerConfigJson);
    expect(t.createDecoder).toBeDefined();
    expect(t.encode('Hello world', false)).toEqual([9707, 1879]);
    expect(t.decode([9707, 1879, 151645], true)).toBe('Hello world');
  });

  it('falls back to the JS tokenizer for other kinds, decoded by windows', () => {
    const t = loadTokenizer(WORD_LEVEL, null);
    expect(t.createDecoder).toBeUndefined();
    const ids = t.encode('hello world hello', false);
    expect(ids).toEqual([0, 1, 0]);
    const detok = new IncrementalDetokenizer(t);
    const text = [...ids, 3].map((id) => detok.push([id])).join('') + detok.flush();
    expect(text).toBe(t.decode(ids, true));
    expect(text).toBe('hello world hello');
  });
});
