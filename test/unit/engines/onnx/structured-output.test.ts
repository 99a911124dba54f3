// Structured output in the ONNX engine (issue 21 item 3): the tiny model (random weights, so left alone
// it writes noise) sampled under XGrammar's mask writes JSON that parses and validates against the
// schema, for several schemas and seeds, and ends by itself (EOS once the grammar is complete); greedy
// too (the mask fused with the argmax in WebAssembly), alone and batched alike.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { GenerateRequest, GenerateResponse, GrammarSpec } from '../../../../src/api/index.js';
import { createOnnxEngine, type OnnxEngine } from '../../../../src/engines/onnx/index.js';
import { loadTokenizer, type TextTokenizer } from '../../../../src/llm/tokenizer.js';
import { createLogger } from '../../../../src/runtime/logger.js';
import { tinyModelDir } from '../../../harness/tiny-model.js';

const SCHEMAS: Record<string, unknown>[] = [
  {
    type: 'object',
    properties: { name: { type: 'string', maxLength: 6 }, ok: { type: 'boolean' } },
    required: ['name', 'ok'],
    additionalProperties: false,
  },
  {
    type: 'object',
    properties: {
      color: { enum: ['red', 'green', 'blue'] },
      n: { type: 'integer', minimum: 0, maximum: 99 },
      tags: { type: 'array', items: { type: 'boolean' }, maxItems: 3 },
    },
    required: ['color', 'n', 'tags'],
    additionalProperties: false,
  },
  { type: 'array', items: { enum: [1, 2, 3] }, minItems: 1, maxItems: 4 },
];

describe('onnx engine: structured output', () => {
  let e: OnnxEngine;
  let tokenizer: TextTokenizer;
  const log = createLogger({ level: 'silent' });
  beforeAll(async () => {
    const dir = await tinyModelDir();
    e = await createOnnxEngine({ modelDir: dir, log, threads: 1 });
    tokenizer = loadTokenizer(await readFile(join(dir, 'tokenizer.json'), 'utf8'), null);
  }, 120_000);
  afterAll(() => e.close());

  const run = async (grammar: GrammarSpec, seed: number, temperature = 1) => {
    const frames: GenerateResponse[] = [];
    const request: GenerateRequest = {
      requestId: `s${seed}`,
      model: 'tiny',
      tokenIds: [1, 2, 3, 4, 5, 6, 7, 8].map((t) => t * 1000 + seed),
      sampling: { temperature, seed },
      stop: { maxTokens: 120, stopTokenIds: e.card.eosTokenIds },
      grammar,
    };
    for await (const f of e.generate(request, new AbortController().signal)) frames.push(f);
    const tokens = frames.flatMap((f) => f.tokenIds);
    return { tokens, text: tokenizer.decode(tokens, true), finish: frames.at(-1)?.finishReason };
  };

  test('every output parses and validates against its schema', async () => {
    const ajv = new Ajv();
    for (const schema of SCHEMAS) {
      const validate = ajv.compile(schema);
      const outs = await Promise.all([11, 12, 13].map((seed) => run({ type: 'json_schema', schema }, seed)));
      for (const out of outs) {
        expect(out.finish, out.text).toBe('stop');
        const value = JSON.parse(out.text) as unknown;
        expect(validate(value), `${out.text}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      }
    }
  }, 120_000);

  test('greedy (the mask fused with the argmax): valid output, the same alone and batched', async () => {
    const ajv = new Ajv();
    for (const schema of SCHEMAS.slice(0, 2)) {
      const validate = ajv.compile(schema);
      const grammar: GrammarSpec = { type: 'json_schema', schema };
      const alone = [];
      for (const seed of [21, 22, 23]) alone.push(await run(grammar, seed, 0));
      const batched = await Promise.all([21, 22, 23].map((seed) => run(grammar, seed, 0)));
      expect(batched.map((o) => o.tokens)).toEqual(alone.map((o) => o.tokens));
      for (const out of alone) {
        expect(out.finish, out.text).toBe('stop');
        expect(validate(JSON.parse(out.text)), out.text).toBe(true);
      }
    }
  }, 120_000);

  test('json_object: the text is a JSON object, or a valid prefix of one when max_tokens cuts it', async () => {
    const out = await run({ type: 'json_object' }, 5);
    expect(out.text.startsWith('{'), out.text).toBe(true);
    if (out.finish === 'stop') expect(typeof JSON.parse(out.text)).toBe('object');
  }, 60_000);
});
