import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IncrementalDetokenizer } from '../../../src/llm/detokenizer.js';
import { loadTokenizer, type TextTokenizer } from '../../../src/llm/tokenizer.js';
import { tokenizerFiles } from './fixtures.js';

for (const [model, mode] of [
  ['qwen3', 'byte stream'],
  ['llama3', 'byte stream'],
  ['qwen3', 'window'],
  ['llama3', 'window'],
] as const) {
  describe(`IncrementalDetokenizer (${model}, ${mode})`, () => {
    const files = tokenizerFiles(model);
    const full = loadTokenizer(files.tokenizerJson, files.tokenizerConfigJson);
    // Without createDecoder, the detokenizer falls back to decoding windows (non-byte-level tokenizers).
    const tokenizer: TextTokenizer = mode === 'window' ? { encode: full.encode, decode: full.decode } : full;
    it('uses the mode under test', () => {
      expect(tokenizer.createDecoder === undefined).toBe(mode === 'window');
    });

    it('emits exactly the decoded text, one token at a time, never a broken character', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (text) => {
          const ids = tokenizer.encode(text, false);
          const detok = new IncrementalDetokenizer(tokenizer);
          let out = '';
          for (const id of ids) {
            const delta = detok.push([id]);
            expect(delta.includes('\uFFFD') && !text.includes('\uFFFD')).toBe(false);
            out += delta;
          }
          out += detok.flush();
          expect(out).toBe(tokenizer.decode(ids, true));
        }),
        { numRuns: 150 },
      );
    });

    it('holds back the bytes of a character split over tokens until it is complete', () => {
      const ids = tokenizer.encode('🦙 llama 羊驼', false);
      const detok = new IncrementalDetokenizer(tokenizer);
      const deltas = ids.map((id) => detok.push([id]));
      expect(deltas.join('')).toBe('🦙 llama 羊驼');
      expect(deltas.some((d) => d.includes('\uFFFD'))).toBe(false);
    });

    it('accepts several tokens per push and long outputs', () => {
      const text = 'The quick brown fox jumps over the lazy dog. '.repeat(20);
      const ids = tokenizer.encode(text, false);
      const detok = new IncrementalDetokenizer(tokenizer, tokenizer.encode('Say:', false));
      let out = '';
      for (let i = 0; i < ids.length; i += 3) out += detok.push(ids.slice(i, i + 3));
      expect(out + detok.flush()).toBe(text);
    });

    it('does not emit special tokens', () => {
      const eos = model === 'qwen3' ? '<|im_end|>' : '<|eot_id|>';
      const ids = tokenizer.encode(`Hi${eos}`, false);
      const detok = new IncrementalDetokenizer(tokenizer);
      expect(ids.map((id) => detok.push([id])).join('')).toBe('Hi');
    });
  });
}
