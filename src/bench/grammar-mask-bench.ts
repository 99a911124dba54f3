// Per-token cost of structured output's grammar mask in the engine (`npm run bench:grammar-mask`),
// against a batch-8 decode step of the tiny model (issue 21: goal under 10 %). The mask's work per
// sampled token: wait for XGrammar's next bitmask, the greedy argmax with the mask fused in (WebAssembly,
// on a row in a logits arena) less a plain argmax of the same row, accept the token (which starts the
// next bitmask) — timed over a JSON schema's output (an object with a string and an integer, greedy on
// random logits; a fresh matcher whenever one completes). `applyMaskMs`: the mask written into the row
// (temperature sampling's path), for reference.
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
import { LogitsArena } from '../wasm/index.js';

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
// The row where the engine's rows are: in a logits arena, as onnxruntime writes them.
const kernels = new LogitsArena();
const row = kernels.view(vocab);
let maskMs = 0;
let fusedMs = 0;
let argmaxMs = 0;
let restarts = 0;
for (let t = 0; t < TOKENS; t++) {
  row.set(base);
  base[Math.floor(random() * vocab)] = random() * 10; // a different winner now and then
  let start = performance.now();
  const ready = mask.ready();
  if (ready !== undefined) await ready;
  maskMs += performance.now() - start;
  // Greedy under a grammar: one fused pass (mask and argmax); its cost beyond the plain argmax that
  // greedy sampling does anyway is the mask's.
  start = performance.now();
  const best = kernels.maskedArgmax(row, 0, vocab, mask.bitmask());
  fusedMs += performance.now() - start;
  start = performance.now();
  kernels.argmax(row, 0, vocab);
  argmaxMs += performance.now() - start;
  start = performance.now();
  mask.accept(best);
  maskMs += performance.now() - start;
  if (mask.terminated || model.eosTokenIds.includes(best)) {
    mask.dispose();
    mask = await compiler.matcher({ type: 'json_schema', schema: SCHEMA });
    restarts++;
  }
}
// Sampling with temperature applies the mask to the row instead (written, then the sampler's passes).
let applyMs = 0;
await mask.ready();
for (let t = 0; t < TOKENS; t++) {
  row.set(base);
  const start = performance.now();
  kernels.applyMask(row, 0, vocab, mask.bitmask());
  applyMs += performance.now() - start;
}
maskMs += Math.max(0, fusedMs - argmaxMs);
const maskPerTokenMs = maskMs / TOKENS;
const round = (x: number) => Number(x.toFixed(4));
process.stdout.write(
  `${JSON.stringify({
    bench: 'grammar-mask',
    vocab,
    batch: BATCH,
    decodeStepMs: round(decodeStepMs),
    maskPerTokenMs: round(maskPerTokenMs),
    fusedArgmaxMs: round(fusedMs / TOKENS),
    plainArgmaxMs: round(argmaxMs / TOKENS),
    applyMaskMs: round(applyMs / TOKENS),
    tokens: TOKENS,
    completedJson: restarts,
    compileAndFirstMaskMs: round(firstMatcherMs),
    ratios: { maskOverDecodeStep: round((BATCH * maskPerTokenMs) / decodeStepMs) },
  })}\n`,
);
