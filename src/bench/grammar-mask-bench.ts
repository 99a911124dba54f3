// Per-token cost of structured output's grammar mask in the engine (`npm run bench:grammar-mask`),
// against a batch-8 decode step of the tiny model (issue 21: goal under 10 %). The mask's work per
// sampled token: wait for XGrammar's next bitmask, set the refused logits of a vocabulary-wide row to
// −∞, accept the token (which starts the next bitmask) — timed over a JSON schema's output (an object
// with a string and an integer, greedy on random logits; a fresh matcher whenever one completes).
// The decode step: 8 greedy requests of 33 tokens minus 8 of 1 token, over the 32 steps between.
// `ratios.maskOverDecodeStep` = 8 masks / one batch-8 step (every row structured: the worst case).
// Prints one JSON object as the last line.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { GenerateRequest } from '../api/index.js';
import { GrammarCompiler, type GrammarMask } from '../engines/grammar/grammar-mask.js';
import { createOnnxEngine } from '../engines/onnx/index.js';
import { loadModelDir } from '../llm/model-dir.js';
import { seededRandom } from '../llm/seeded-random.js';
import { ensureTinyModel } from '../llm/tiny-model/tiny-model.js';
import { createLogger } from '../runtime/logger.js';

const { values } = parseArgs({
  options: { model: { type: 'string' }, tokens: { type: 'string', default: '2000' } },
});
const TOKENS = Number(values.tokens);
const BATCH = 8;
const SCHEMA = {
  type: 'object',
  properties: { note: { type: 'string' }, count: { type: 'integer' } },
  required: ['note', 'count'],
  additionalProperties: false,
};

const modelDir =
  values.model ?? (await ensureTinyModel(fileURLToPath(new URL('../../.cache', import.meta.url))));
const model = await loadModelDir(modelDir);
const engine = await createOnnxEngine({ modelDir, log: createLogger({ level: 'warn' }), threads: 1 });
const vocab = engine.card.vocabSize ?? 0;

/** Wall ms of BATCH greedy requests of `tokens` output tokens each, at once. */
async function batch(tokens: number): Promise<number> {
  const random = seededRandom(tokens);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: BATCH }, async (_, i) => {
      const request: GenerateRequest = {
        requestId: `b${i}`,
        model: 'tiny',
        tokenIds: Array.from({ length: 32 }, () => Math.floor(random() * 150_000)),
        sampling: {},
        stop: { maxTokens: tokens, ignoreEos: true },
      };
      for await (const _frame of engine.generate(request, new AbortController().signal));
    }),
  );
  return performance.now() - start;
}

await batch(8); // warm-up
const steps: number[] = [];
for (let round = 0; round < 3; round++) steps.push(((await batch(33)) - (await batch(1))) / 32);
const decodeStepMs = [...steps].sort((a, b) => a - b)[1] as number;
await engine.close();

const compiler = new GrammarCompiler(model.tokenizerJson, vocab, model.eosTokenIds);
const compileStart = performance.now();
let mask: GrammarMask = await compiler.matcher({ type: 'json_schema', schema: SCHEMA });
const firstMatcherMs = performance.now() - compileStart;
const random = seededRandom(7);
const base = Float32Array.from({ length: vocab }, () => random() * 10);
const row = new Float32Array(vocab);
let maskMs = 0;
let restarts = 0;
for (let t = 0; t < TOKENS; t++) {
  row.set(base);
  base[Math.floor(random() * vocab)] = random() * 10; // a different winner now and then
  let start = performance.now();
  const ready = mask.ready();
  if (ready !== undefined) await ready;
  mask.apply(row);
  maskMs += performance.now() - start;
  // The sampler's own pass (not the mask's cost): greedy over the masked row.
  let best = 0;
  for (let i = 1; i < vocab; i++) if ((row[i] as number) > (row[best] as number)) best = i;
  start = performance.now();
  mask.accept(best);
  maskMs += performance.now() - start;
  if (mask.terminated || model.eosTokenIds.includes(best)) {
    mask.dispose();
    mask = await compiler.matcher({ type: 'json_schema', schema: SCHEMA });
    restarts++;
  }
}
const maskPerTokenMs = maskMs / TOKENS;
const round = (x: number) => Number(x.toFixed(4));
process.stdout.write(
  `${JSON.stringify({
    bench: 'grammar-mask',
    vocab,
    batch: BATCH,
    decodeStepMs: round(decodeStepMs),
    maskPerTokenMs: round(maskPerTokenMs),
    tokens: TOKENS,
    completedJson: restarts,
    compileAndFirstMaskMs: round(firstMatcherMs),
    ratios: { maskOverDecodeStep: round((BATCH * maskPerTokenMs) / decodeStepMs) },
  })}\n`,
);
