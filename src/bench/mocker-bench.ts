// Benchmark of the mocker (`npm run bench:mocker`). Prints progress lines, then one JSON object as the
// last line.
// - Timing fidelity: streams on the real clock (speedup 1); wall time over the time the timing model
//   assigned to the same steps (1.0 = exact; timers only ever fire late).
// - Throughput with --no-delay: output tokens/s of the engine called directly, and of the same engine
//   behind a worker on the in-memory runtime (request validation, request plane, frames) — the peer
//   measured in the same run; rounds alternate so that machine noise hits both.
import { parseArgs } from 'node:util';
import { ENDPOINTS, type GenerateRequest, generateResponseSchema } from '../api/index.js';
import { MockerEngine, type StepReport } from '../engines/mocker/mocker-engine.js';
import { createRuntime, MemoryHub } from '../runtime/index.js';
import { createLogger } from '../runtime/logger.js';
import { defaultTokenizerDir, startWorker } from '../worker/index.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '256' },
    'prompt-tokens': { type: 'string', default: '512' },
    'output-tokens': { type: 'string', default: '64' },
    rounds: { type: 'string', default: '4' },
  },
});
const REQUESTS = Number(values.requests);
const PROMPT = Number(values['prompt-tokens']);
const OUTPUT = Number(values['output-tokens']);
const ROUNDS = Number(values.rounds);
const log = createLogger({ level: 'silent' });
const tokenizer = { checksum: '0'.repeat(64), configChecksum: null, vocabSize: 151_643, eosTokenIds: [] };
const never = new AbortController().signal;

/** Round r's requests: half of each prompt is a prefix shared by all of them, the rest is unique. */
function requests(round: number, n: number): GenerateRequest[] {
  return Array.from({ length: n }, (_, i) => ({
    requestId: `b${round}-${i}`,
    model: 'mocker',
    tokenIds: Array.from({ length: PROMPT }, (_, t) =>
      t < PROMPT / 2 ? round * 131 + t : (round * 7919 + i * 613 + t) % 151_643,
    ),
    sampling: {},
    stop: { maxTokens: OUTPUT, ignoreEos: true },
  }));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

// Timing fidelity: 8 concurrent streams per round on the system clock.
const steps: StepReport[] = [];
const timed = new MockerEngine({ modelName: 'mocker', tokenizer }, { onStep: (s) => steps.push(s) });
const fidelity: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  steps.length = 0;
  const began = performance.now();
  await Promise.all(
    requests(round, 8).map(async (r) => {
      for await (const _ of timed.generate(r, never));
    }),
  );
  const wall = performance.now() - began;
  const modelled = steps.reduce((sum, s) => sum + s.durationMs, 0);
  fidelity.push(wall / modelled);
  console.log(`fidelity round ${round}: wall ${wall.toFixed(1)} ms, modelled ${modelled.toFixed(1)} ms`);
}
await timed.close();

// Throughput with no delay: direct vs through a worker.
const direct = new MockerEngine({ modelName: 'mocker', tokenizer, noDelay: true });
const hub = new MemoryHub();
const workerRuntime = await createRuntime({ log, memory: hub });
const client = await createRuntime({ log, memory: hub });
const worker = await startWorker(
  { engine: { kind: 'mocker', tokenizerDir: defaultTokenizerDir(), noDelay: true } },
  workerRuntime,
  log,
);
const [instance] = await client.discovery.list({
  namespace: 'dynamo',
  component: 'backend',
  endpoint: ENDPOINTS.generate,
});
if (instance === undefined) throw new Error('the worker registered no generate endpoint');

async function run(round: number, via: 'direct' | 'worker'): Promise<number> {
  let tokens = 0;
  const began = performance.now();
  await Promise.all(
    requests(1000 + round * 2 + (via === 'worker' ? 1 : 0), REQUESTS).map(async (r) => {
      const stream =
        via === 'direct'
          ? direct.generate(r, never)
          : client.requestPlane.call(instance as NonNullable<typeof instance>, r, {
              responseSchema: generateResponseSchema,
            });
      for await (const frame of stream) tokens += frame.tokenIds.length;
    }),
  );
  return (tokens / (performance.now() - began)) * 1000;
}

const directRates: number[] = [];
const workerRates: number[] = [];
const ratios: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const d = await run(round, 'direct');
  const w = await run(round, 'worker');
  directRates.push(d);
  workerRates.push(w);
  ratios.push(w / d);
  console.log(`throughput round ${round}: direct ${d.toFixed(0)} tok/s, worker ${w.toFixed(0)} tok/s`);
}
await workerRuntime.shutdown(1000);
await worker.close();
await client.close();
await direct.close();

console.log(
  JSON.stringify({
    bench: 'mocker',
    requests: REQUESTS,
    promptTokens: PROMPT,
    outputTokens: OUTPUT,
    directOutputTokensPerSec: Math.round(median(directRates)),
    workerOutputTokensPerSec: Math.round(median(workerRates)),
    ratios: {
      workerOverDirectThroughput: Number(median(ratios).toFixed(3)),
      wallOverModelledTime: Number(median(fidelity).toFixed(3)),
    },
  }),
);
