// Benchmark of the ONNX engine on the tiny model (`npm run bench:engine`): decode tokens/s at batch 1,
// 8 and 32, and time to first token of a 1k-token prompt with 0% and 90% of it in the prefix cache.
// Peers, measured in the same run on the same model.onnx, greedy: onnxruntime-genai (PyPI, Microsoft's
// C++ generation loop on the same onnxruntime version; ort-genai-peer.ts; skipped with the reason
// printed where its venv cannot be made, or with --device cuda) and Transformers.js
// (`@huggingface/transformers`, on the same onnxruntime-node). Prints progress lines to stderr, then
// one JSON object as the last line of stdout.
//
// Step overhead: a decode step's wall time over a bare session.run on decode-shaped feeds of the same
// batch (the floor any engine on this graph pays; called as the engine calls it: present into arrays we
// own, logits into the arena), as (step − floor) / floor at batch 8 and 32, and the same in CPU time.
// The floor is measured right after our engine's round, as many runs as that round's decode steps, and
// both are means: the ratio is taken per round (paired, so a change in the machine's other load between
// rounds cancels out) and its median reported.
//
// Decode rate, for both: N prompts of PROMPT tokens generating MAX tokens each at once; the N·(MAX − 1)
// tokens after every sequence has its first, over the time after that (prefill is not counted).
// TTFT: one request with max_tokens 1, alone.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { TextStreamer } from '@huggingface/transformers';
import type { GenerateRequest } from '../api/index.js';
import { createOnnxEngine, type OnnxEngine } from '../engines/onnx/index.js';
import { ModelSession } from '../engines/onnx/model-session.js';
import { loadModelDir } from '../llm/model-dir.js';
import { seededRandom } from '../llm/seeded-random.js';
import { ensureTinyModel } from '../llm/tiny-model/tiny-model.js';
import { createLogger } from '../runtime/logger.js';
import { genaiConfig, genaiPython, startGenaiPeer, writeGenaiDir } from './ort-genai-peer.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    device: { type: 'string', default: 'cpu' },
    threads: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '3' },
    'prompt-tokens': { type: 'string', default: '32' },
    'decode-tokens': { type: 'string', default: '32' },
    'ttft-prompt-tokens': { type: 'string', default: '1024' },
    batches: { type: 'string', default: '1,8,32' },
    'no-ort-genai': { type: 'boolean', default: false },
  },
});
if (values.device !== 'cpu' && values.device !== 'cuda') {
  process.stderr.write(`bench:engine: --device "${values.device}": expected cpu or cuda\n`);
  process.exit(2);
}
const DEVICE: 'cpu' | 'cuda' = values.device;
const THREADS = Number(values.threads);
const ROUNDS = Number(values.rounds);
const PROMPT = Number(values['prompt-tokens']);
const MAX = Number(values['decode-tokens']);
const TTFT_PROMPT = Number(values['ttft-prompt-tokens']);
const BATCHES = (values.batches ?? '').split(',').map(Number);

const progress = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};
let promptSeed = 1;
const randomPrompt = (n: number): number[] => {
  const r = seededRandom(promptSeed++);
  return Array.from({ length: n }, () => Math.floor(r() * 150_000));
};
const round1 = (ms: number): number => Math.round(ms * 10) / 10;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/** Wall times of one batch, from the start: every sequence has its first token, and all are done. */
interface Timing {
  /** Tokens of the first prompt (greedy: the peers must agree). */
  tokens?: number[];
  firstMs: number;
  endMs: number;
  /** Process CPU time (all threads) from the first-token mark to the end: robust to other load. */
  decodeCpuMs: number;
  /** Process CPU time of the whole call. */
  cpuMs: number;
}

async function generateAll(engine: OnnxEngine, prompts: number[][], maxTokens: number): Promise<Timing> {
  const started = performance.now();
  const startCpu = process.cpuUsage();
  let waiting = prompts.length;
  let firstMs = 0;
  let cpu = process.cpuUsage();
  const tokens: number[] = [];
  await Promise.all(
    prompts.map(async (tokenIds, i) => {
      const request: GenerateRequest = {
        requestId: `b${i}`,
        model: 'tiny',
        tokenIds,
        sampling: {},
        stop: { maxTokens, ignoreEos: true },
      };
      let first = true;
      for await (const frame of engine.generate(request, new AbortController().signal)) {
        if (i === 0) tokens.push(...frame.tokenIds);
        if (first && frame.tokenIds.length > 0) {
          first = false;
          if (--waiting === 0) {
            firstMs = performance.now() - started;
            cpu = process.cpuUsage();
          }
        }
      }
    }),
  );
  return {
    tokens,
    firstMs,
    endMs: performance.now() - started,
    decodeCpuMs: cpuMs(cpu),
    cpuMs: cpuMs(startCpu),
  };
}

const cpuMs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};

interface Peer {
  /** Generates `maxTokens` greedily for each prompt, all at once. */
  generate(prompts: number[][], maxTokens: number): Promise<Timing>;
  close(): Promise<void>;
}

async function dynamoPeer(modelDir: string): Promise<Peer> {
  const log = createLogger({ level: 'warn', destination: process.stderr });
  const engine = await createOnnxEngine({
    modelDir,
    log,
    device: DEVICE,
    threads: THREADS,
    maxNumSeqs: 64,
    totalKvBlocks: 4096,
  });
  return {
    generate: (prompts, maxTokens) => generateAll(engine, prompts, maxTokens),
    close: () => engine.close(),
  };
}

async function transformersJsPeer(modelDir: string): Promise<Peer> {
  const { AutoModelForCausalLM, BaseStreamer, Tensor, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = `${modelDir}/../`;
  const name = modelDir.split('/').filter(Boolean).pop() as string;
  const model = await AutoModelForCausalLM.from_pretrained(name, {
    subfolder: '',
    dtype: 'fp32',
    device: DEVICE,
    session_options: { intraOpNumThreads: THREADS },
  });
  return {
    async generate(prompts, maxTokens) {
      const n = prompts.length;
      const len = prompts[0]?.length ?? 0;
      const input_ids = new Tensor('int64', BigInt64Array.from(prompts.flat(), BigInt), [n, len]);
      const attention_mask = new Tensor('int64', new BigInt64Array(n * len).fill(1n), [n, len]);
      const started = performance.now();
      const startCpu = process.cpuUsage();
      let firstMs = 0;
      let cpu = process.cpuUsage();
      // generate() puts the prompt first, then each step's tokens: the second put is the first token.
      let puts = 0;
      const streamer = new (class extends BaseStreamer {
        override put(): void {
          if (++puts === 2) {
            firstMs = performance.now() - started;
            cpu = process.cpuUsage();
          }
        }
        override end(): void {}
      })();
      const out = (await model.generate({
        input_ids,
        attention_mask,
        max_new_tokens: maxTokens,
        min_new_tokens: maxTokens,
        do_sample: false,
        // The declared type wants a TextStreamer; generate() only calls put() and end().
        streamer: streamer as unknown as TextStreamer,
      })) as { tolist(): bigint[][] };
      const tokens = (out.tolist()[0] ?? []).slice(len).map(Number);
      return {
        tokens,
        firstMs,
        endMs: performance.now() - started,
        decodeCpuMs: cpuMs(cpu),
        cpuMs: cpuMs(startCpu),
      };
    },
    async close() {
      await model.dispose();
    },
  };
}

const modelDir =
  values.model ?? (await ensureTinyModel(fileURLToPath(new URL('../../.cache', import.meta.url))));
progress(`model: ${modelDir}; device: ${DEVICE}; onnxruntime threads: ${THREADS}; rounds: ${ROUNDS}`);
/** onnxruntime-genai, or why it is not in this run. */
async function ortGenaiPeer(): Promise<Peer | string> {
  if (values['no-ort-genai']) return '--no-ort-genai';
  if (DEVICE !== 'cpu') return 'the PyPI onnxruntime-genai package runs on the CPU only';
  try {
    const python = await genaiPython();
    const model = await loadModelDir(modelDir);
    const session = await ModelSession.create(model, { device: DEVICE, threads: THREADS });
    const positionIds = session.hasPositionIds;
    await session.release();
    const dir = await writeGenaiDir(
      model,
      genaiConfig(model, { positionIds }, THREADS),
      join(fileURLToPath(new URL('../../.cache', import.meta.url)), 'ort-genai-tiny'),
    );
    const g = await startGenaiPeer(python, dir);
    return {
      generate: async (prompts, maxTokens) => {
        const { tokens, ...timing } = await g.generate(prompts, maxTokens);
        return { ...timing, tokens: tokens[0] ?? [] };
      },
      close: () => g.close(),
    };
  } catch (err) {
    return (err as Error).message;
  }
}

const genai = await ortGenaiPeer();
if (typeof genai === 'string') progress(`ort-genai peer skipped: ${genai}`);
const peers: Record<'dynamo' | 'transformersJs' | 'ortGenai', Peer | undefined> = {
  dynamo: await dynamoPeer(modelDir),
  transformersJs: await transformersJsPeer(modelDir),
  ortGenai: typeof genai === 'string' ? undefined : genai,
};
const names = (['dynamo', 'transformersJs', 'ortGenai'] as const).filter((n) => peers[n] !== undefined);
const peer = (name: (typeof names)[number]): Peer => peers[name] as Peer;
// Warm-up, and the greedy output of one prompt, which every peer must agree on.
const probe = randomPrompt(PROMPT);
const probeTokens: Record<string, number[] | undefined> = {};
for (const name of names) probeTokens[name] = (await peer(name).generate([probe], 8)).tokens;
const sameGreedyOutput = Object.fromEntries(
  names.map((n) => [n, JSON.stringify(probeTokens[n]) === JSON.stringify(probeTokens.dynamo)]),
);
progress(`greedy output of a probe prompt equals dynamo's: ${JSON.stringify(sameGreedyOutput)}`);

// The floor of a decode step on this graph: session.run alone on decode-shaped feeds of the batch,
// with nothing around it, measured in every round after the peers (so that the machine's other load
// hits it alike). Every engine on this onnxruntime pays it, so Transformers.js' step time over it is
// the most any engine can beat Transformers.js by (on this model, most of it is the LM head: 151,936 ×
// 64 float weights streamed from memory once per run).
const session = await ModelSession.create(await loadModelDir(modelDir), { device: DEVICE, threads: THREADS });
const kvArrays = (size: number) =>
  Array.from({ length: 2 * session.numLayers }, () =>
    session.kvDtype === 'float16' ? new Uint16Array(size) : new Float32Array(size),
  );
/** As many runs as a round's decode steps. */
const FLOOR_RUNS = MAX - 1;
/** Mean wall ms and process CPU ms of one run, for decode feeds of `rows` (the mean, as a round's step). */
async function runFloor(rows: number): Promise<{ ms: number; cpuMs: number }> {
  const pastLen = PROMPT + MAX / 2;
  const kvSize = rows * session.numKvHeads * pastLen * session.headDim;
  const feeds = {
    rows,
    seqLen: 1,
    pastLen,
    inputIds: BigInt64Array.from(randomPrompt(rows), BigInt),
    attentionMask: new BigInt64Array(rows * (pastLen + 1)).fill(1n),
    positionIds: new BigInt64Array(rows).fill(BigInt(pastLen)),
    past: kvArrays(kvSize),
  };
  // As the engine's decode runs: onnxruntime writes the present into arrays we own.
  const present = kvArrays(rows * session.numKvHeads * (pastLen + 1) * session.headDim);
  for (let i = 0; i < 5; i++) await session.run(feeds, present);
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < FLOOR_RUNS; i++) await session.run(feeds, present);
  return { ms: (performance.now() - started) / FLOOR_RUNS, cpuMs: cpuMs(cpu) / FLOOR_RUNS };
}

// All peers share this process, so a round would otherwise pay full GCs for the garbage of the round
// before it (Transformers.js' tensors: a mark-compact about every 100 ms through the decode rounds,
// 2.5–7 ms each); every round and floor starts from a collected heap instead.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

// Rounds alternate the two peers so that load from other processes on the machine hits both alike.
// Wall figures are the best round of each peer (the one least disturbed by that load, as timeit
// takes the minimum); CPU figures are medians.
// Decode rate of a round: tokens after each sequence's first, over the time after all had their first.
const decode = {
  dynamo: {} as Record<string, number>,
  transformersJs: {} as Record<string, number>,
  ortGenai: {} as Record<string, number>,
};
// The same per CPU second: with one onnxruntime thread each, this is what the work costs whatever else
// runs on the machine.
const decodeCpu = {
  dynamo: {} as Record<string, number>,
  transformersJs: {} as Record<string, number>,
  ortGenai: {} as Record<string, number>,
};
/**
 * The floor per batch size (the best round's wall ms, the median round's CPU ms per run), and our step's
 * overhead over it: the median over rounds of each round's (step − floor) / floor, wall and CPU.
 */
const floors: Record<number, { ms: number; cpuMs: number; overhead: number; cpuOverhead: number }> = {};
for (const n of BATCHES) {
  const rates = { dynamo: [] as number[], transformersJs: [] as number[], ortGenai: [] as number[] };
  const cpuRates = { dynamo: [] as number[], transformersJs: [] as number[], ortGenai: [] as number[] };
  const floorRounds: { ms: number; cpuMs: number; overhead: number; cpuOverhead: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of names) {
      collectGarbage();
      const t = await peer(name).generate(
        Array.from({ length: n }, () => randomPrompt(PROMPT)),
        MAX,
      );
      rates[name].push((n * (MAX - 1)) / ((t.endMs - t.firstMs) / 1000));
      cpuRates[name].push((n * (MAX - 1)) / (t.decodeCpuMs / 1000));
      if (name !== 'dynamo') continue;
      collectGarbage();
      const floor = await runFloor(n);
      floorRounds.push({
        ...floor,
        overhead: (t.endMs - t.firstMs) / (MAX - 1) / floor.ms - 1,
        cpuOverhead: t.decodeCpuMs / (MAX - 1) / floor.cpuMs - 1,
      });
    }
  }
  floors[n] = {
    ms: Math.min(...floorRounds.map((f) => f.ms)),
    cpuMs: median(floorRounds.map((f) => f.cpuMs)),
    overhead: median(floorRounds.map((f) => f.overhead)),
    cpuOverhead: median(floorRounds.map((f) => f.cpuOverhead)),
  };
  for (const name of names) {
    decode[name][n] = Math.round(Math.max(...rates[name]));
    decodeCpu[name][n] = Math.round(median(cpuRates[name]));
  }
  progress(
    `batch ${n}: decode tokens/s dynamo ${decode.dynamo[n]}, transformers.js ${decode.transformersJs[n]}, ort-genai ${decode.ortGenai[n] ?? '-'}`,
  );
}

await session.release();
const floorMs = { 8: floors[8]?.ms, 32: floors[32]?.ms };
const ms2 = (ms: number | undefined): number | null => (ms === undefined ? null : Number(ms.toFixed(2)));
/** Wall time of one decode step of `rows`, from the best decode rate (undefined without that batch). */
const stepMs = (tokensPerSec: number | undefined, rows = 8): number | undefined =>
  tokensPerSec === undefined ? undefined : Number(((rows * 1000) / tokensPerSec).toFixed(2));
const transformersJsStepMs = stepMs(decode.transformersJs[8]);
const overhead = (rows: 8 | 32, kind: 'overhead' | 'cpuOverhead'): number | null => {
  const o = floors[rows]?.[kind];
  return o === undefined ? null : Number(o.toFixed(3));
};
const stepOverheadOverFloor = { batch8: overhead(8, 'overhead'), batch32: overhead(32, 'overhead') };
// The same in CPU time: what the machine's other load distorts least.
const stepCpuOverheadOverFloor = { batch8: overhead(8, 'cpuOverhead'), batch32: overhead(32, 'cpuOverhead') };
progress(
  `batch-8 decode step (ms): session.run alone ${ms2(floorMs[8])}, dynamo ${stepMs(decode.dynamo[8])}, transformers.js ${transformersJsStepMs}, ort-genai ${stepMs(decode.ortGenai[8])}`,
);
progress(
  `batch-32 decode step (ms): session.run alone ${ms2(floorMs[32])}, dynamo ${stepMs(decode.dynamo[32], 32)}; step overhead over the floor ${JSON.stringify(stepOverheadOverFloor)}, in CPU time ${JSON.stringify(stepCpuOverheadOverFloor)}`,
);

// TTFT of one request alone (max_tokens 1): a fresh prompt, and one sharing its first 90% with a
// prompt served just before.
const shared = Math.round(TTFT_PROMPT * 0.9);
const ttft = { uncached: [] as Timing[], cached90: [] as Timing[], transformersJs: [] as Timing[] };
for (let round = 0; round < ROUNDS; round++) {
  ttft.uncached.push(await peer('dynamo').generate([randomPrompt(TTFT_PROMPT)], 1));
  const prefix = randomPrompt(shared);
  await peer('dynamo').generate([[...prefix, ...randomPrompt(TTFT_PROMPT - shared)]], 1);
  ttft.cached90.push(await peer('dynamo').generate([[...prefix, ...randomPrompt(TTFT_PROMPT - shared)]], 1));
  ttft.transformersJs.push(await peer('transformersJs').generate([randomPrompt(TTFT_PROMPT)], 1));
}
const ttftMs = {
  dynamoUncached: round1(Math.min(...ttft.uncached.map((t) => t.firstMs))),
  dynamoCached90: round1(Math.min(...ttft.cached90.map((t) => t.firstMs))),
  transformersJsUncached: round1(Math.min(...ttft.transformersJs.map((t) => t.firstMs))),
};
// The CPU the request costs (max_tokens 1: its TTFT's work), immune to the machine's other load.
const ttftCpuMs = {
  dynamoUncached: round1(median(ttft.uncached.map((t) => t.cpuMs))),
  dynamoCached90: round1(median(ttft.cached90.map((t) => t.cpuMs))),
  transformersJsUncached: round1(median(ttft.transformersJs.map((t) => t.cpuMs))),
};
progress(`TTFT ${TTFT_PROMPT} tokens (ms): ${JSON.stringify(ttftMs)}; CPU ms ${JSON.stringify(ttftCpuMs)}`);
for (const name of names) await peer(name).close();

const ratio = (a: number | undefined, b: number | undefined): number | null =>
  a === undefined || b === undefined ? null : Number((a / b).toFixed(3));
process.stdout.write(
  `${JSON.stringify({
    benchmark: 'engine',
    model: 'tiny (dynamo model tiny, seed 1)',
    promptTokens: PROMPT,
    decodeTokens: MAX,
    ttftPromptTokens: TTFT_PROMPT,
    device: DEVICE,
    threads: THREADS,
    rounds: ROUNDS,
    decodeTokensPerSec: decode,
    decodeTokensPerCpuSec: decodeCpu,
    ttftMs,
    ttftCpuMs,
    ortGenai:
      typeof genai === 'string' ? { skipped: genai } : { sameGreedyOutput: sameGreedyOutput.ortGenai },
    sameGreedyOutput,
    batch8StepMs: {
      dynamo: stepMs(decode.dynamo[8]),
      transformersJs: transformersJsStepMs,
      ortGenai: stepMs(decode.ortGenai[8]) ?? null,
      sessionRunFloor: ms2(floorMs[8]),
    },
    batch32StepMs: {
      dynamo: stepMs(decode.dynamo[32], 32) ?? null,
      ortGenai: stepMs(decode.ortGenai[32], 32) ?? null,
      sessionRunFloor: ms2(floorMs[32]),
    },
    stepOverheadOverFloor,
    stepCpuOverheadOverFloor,
    ratios: {
      tokensPerSecOverOrtGenaiBatch8: ratio(decode.dynamo[8], decode.ortGenai[8]),
      tokensPerSecOverOrtGenaiBatch32: ratio(decode.dynamo[32], decode.ortGenai[32]),
      tokensPerCpuSecOverOrtGenaiBatch8: ratio(decodeCpu.dynamo[8], decodeCpu.ortGenai[8]),
      tokensPerCpuSecOverOrtGenaiBatch32: ratio(decodeCpu.dynamo[32], decodeCpu.ortGenai[32]),
      tokensPerSecOverTransformersJsBatch8: ratio(decode.dynamo[8], decode.transformersJs[8]),
      tokensPerCpuSecOverTransformersJsBatch8: ratio(decodeCpu.dynamo[8], decodeCpu.transformersJs[8]),
      // The ceiling of the ratio above: Transformers.js' step over the bare session.run.
      tokensPerSecCeilingOverTransformersJsBatch8: ratio(transformersJsStepMs, floorMs[8]),
      tokensPerSecOverTransformersJsBatch32: ratio(decode.dynamo[32], decode.transformersJs[32]),
      ttftCached90OverUncached: ratio(ttftMs.dynamoCached90, ttftMs.dynamoUncached),
      ttftCpuCached90OverUncached: ratio(ttftCpuMs.dynamoCached90, ttftCpuMs.dynamoUncached),
      ttftUncachedOverTransformersJs: ratio(ttftMs.dynamoUncached, ttftMs.transformersJsUncached),
    },
  })}\n`,
);
