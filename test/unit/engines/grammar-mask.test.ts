// The grammar mask (src/engines/grammar/grammar-mask.ts) over the Qwen3 vocabulary: the encoded
// vocabulary, the bitmask (applied by the WebAssembly kernels) refusing exactly the grammar's tokens,
// allowedFrom() wrapping past the end of the vocabulary (the mocker's draw), and after the stop token
// only stop tokens.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  encodedVocab,
  GrammarCompiler,
  type GrammarMask,
} from '../../../src/engines/grammar/grammar-mask.js';
import { LogitsArena } from '../../../src/wasm/index.js';
import { QWEN, qwenTokenizer } from '../frontend/test-worker.js';

const EOS = 151645;
const VOCAB = 151669;
const SCHEMA = {
  type: 'object',
  properties: { ok: { type: 'boolean' } },
  required: ['ok'],
  additionalProperties: false,
};

describe('grammar mask', () => {
  const compiler = new GrammarCompiler(QWEN.tokenizerJson, VOCAB, [EOS]);
  const kernels = new LogitsArena();
  let mask: GrammarMask;
  beforeAll(async () => {
    mask = await compiler.matcher({ type: 'json_schema', schema: SCHEMA });
  }, 60_000);
  afterAll(() => mask.dispose());

  test('the vocabulary as tokenizer.json writes it, byte-level', () => {
    const { vocab, vocabType } = encodedVocab(QWEN.tokenizerJson);
    expect(vocabType).toBe('BYTE_LEVEL');
    expect(vocab[EOS]).toBe('<|im_end|>');
    expect(vocab[qwenTokenizer.encode(' hello', false)[0] as number]).toBe('Ġhello');
  });

  test('only "{" can start, found from anywhere (wrapping), then the key, and EOS only at the end', async () => {
    const row = new Float32Array(VOCAB).fill(1);
    kernels.applyMask(row, 0, VOCAB, mask.bitmask());
    const allowed = [...row.keys()].filter((i) => row[i] !== Number.NEGATIVE_INFINITY);
    expect(allowed.map((id) => qwenTokenizer.decode([id], false)).every((t) => t.startsWith('{'))).toBe(true);
    expect(allowed).toContain(qwenTokenizer.encode('{', false)[0]);
    const first = allowed[0] as number;
    // From past the last allowed id the search wraps around to the first.
    expect(mask.allowedFrom((allowed.at(-1) as number) + 1)).toBe(first);
    expect(mask.allowedFrom(first)).toBe(first);
    // XGrammar's fixed layout (no free whitespace): JSON.stringify's with a 2-space indent.
    const ids = qwenTokenizer.encode(JSON.stringify({ ok: true }, null, 2), false);
    for (const id of ids) {
      const ready = mask.ready();
      if (ready !== undefined) await ready;
      expect(mask.allowedFrom(id), qwenTokenizer.decode([id], false)).toBe(id);
      expect(mask.accept(id)).toBe(true);
    }
    const ready = mask.ready();
    if (ready !== undefined) await ready;
    expect(mask.allowedFrom(0)).toBe(EOS);
    expect(mask.accept(EOS)).toBe(true);
    expect(mask.terminated).toBe(true);
    // ignore_eos keeps a sequence going: stop tokens only, and nothing more is accepted.
    const after = new Float32Array(VOCAB).fill(1);
    kernels.applyMask(after, 0, VOCAB, mask.bitmask());
    expect([...after.keys()].filter((i) => after[i] === 1)).toEqual([EOS]);
    expect(mask.accept(EOS)).toBe(false);
  });
});
