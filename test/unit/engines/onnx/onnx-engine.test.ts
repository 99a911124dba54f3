import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { GenerateRequest, GenerateResponse, KvEventData } from '../../../../src/api/index.js';
import {
  createOnnxEngine,
  type OnnxEngine,
  type OnnxEngineOptions,
} from '../../../../src/engines/onnx/index.js';
import { seededRandom } from '../../../../src/llm/seeded-random.js';
import { createLogger } from '../../../../src/runtime/logger.js';
import { tinyModelDir } from '../../../harness/tiny-model.js';

let modelDir: string;
const engines: OnnxEngine[] = [];
const log = createLogger({ level: (process.env.TEST_LOG as 'debug') ?? 'silent' });

beforeAll(async () => {
  modelDir = await tinyModelDir();
}, 120_000);
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

async function engine(options: Partial<OnnxEngineOptions> = {}): Promise<OnnxEngine> {
  const e = await createOnnxEngine({ modelDir, log, threads: 1, ...options });
  engines.push(e);
  return e;
}

function prompt(seed: number, length: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length }, () => Math.floor(random() * 151_000));
}

interface Result {
  tokens: number[];
  frames: GenerateResponse[];
}

async function run(
  e: OnnxEngine,
  tokenIds: number[],
  rest: Partial<Pick<GenerateRequest, 'sampling' | 'stop'>> = {},
  signal = new AbortController().signal,
): Promise<Result> {
  const frames: GenerateResponse[] = [];
  const request: GenerateRequest = {
    requestId: 'r',
    model: 'tiny',
    tokenIds,
    sampling: rest.sampling ?? {},
    stop: rest.stop ?? { maxTokens: 12 },
  };
  for await (const frame of e.generate(request, signal)) frames.push(frame);
  return { tokens: frames.flatMap((f) => f.tokenIds), frames };
}

describe('onnx engine on the tiny model', () => {
  test('greedy output is the same whether the prefix came from the cache or was computed', async () => {
    const e = await engine();
    const shared = prompt(1, 80);
    const a = [...shared, ...prompt(2, 7)];
    const b = [...shared, ...prompt(3, 11)];
    const fresh = await run(await engine(), b);
    await run(e, a);
    const cached = await run(e, b);
    expect(cached.frames[0]?.cachedTokens).toBe(80);
    expect(fresh.frames[0]?.cachedTokens).toBe(0);
    expect(cached.tokens).toEqual(fresh.tokens);
    expect(cached.tokens).toHaveLength(12);
    // The same prompt again: everything but the last block is served from the cache.
    const again = await run(e, b);
    expect(again.frames[0]?.cachedTokens).toBe(80);
    expect(again.tokens).toEqual(fresh.tokens);
  }, 60_000);

  test('greedy output is the same alone and batched with prompts of other lengths, and on two workers', async () => {
    const prompts = [prompt(10, 5), prompt(11, 40), prompt(12, 17), prompt(13, 100), prompt(14, 1)];
    const lengths = [12, 5, 16, 9, 3];
    const stop = (i: number) => ({ stop: { maxTokens: lengths[i] as number } });
    const alone: number[][] = [];
    const e1 = await engine();
    for (const [i, p] of prompts.entries()) alone.push((await run(e1, p, stop(i))).tokens);
    // Sequences join and leave the running batch at different steps: two start at once, the others
    // once the first has streamed a token; each stops after its own number of tokens.
    const e2 = await engine({ maxNumBatchedTokens: 128 });
    const early = [0, 1].map((i) => run(e2, prompts[i] as number[], stop(i)));
    const firstFrame = e2.generate(
      { requestId: 'w', model: 'tiny', tokenIds: prompt(15, 9), sampling: {}, stop: { maxTokens: 2 } },
      new AbortController().signal,
    );
    for await (const _ of firstFrame) break;
    const late = [2, 3, 4].map((i) => run(e2, prompts[i] as number[], stop(i)));
    const batched = await Promise.all([...early, ...late]);
    expect(batched.map((r) => r.tokens)).toEqual(alone);
    expect(alone.map((t) => t.length)).toEqual(lengths);
    expect(new Set(alone.map((t) => t.join(','))).size).toBe(prompts.length);
  }, 60_000);

  test('greedy output is what Transformers.js generates from the same model directory', async () => {
    const { AutoModelForCausalLM, Tensor, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = `${modelDir}/../`;
    const model = await AutoModelForCausalLM.from_pretrained(modelDir.split('/').pop() as string, {
      subfolder: '',
      dtype: 'fp32',
      device: 'cpu',
    });
    const p = prompt(15, 37);
    const input_ids = new Tensor('int64', BigInt64Array.from(p, BigInt), [1, p.length]);
    const attention_mask = new Tensor('int64', new BigInt64Array(p.length).fill(1n), [1, p.length]);
    const out = (await model.generate({
      input_ids,
      attention_mask,
      max_new_tokens: 12,
      do_sample: false,
    })) as {
      tolist(): bigint[][];
    };
    await model.dispose();
    const expected = (out.tolist()[0] ?? []).slice(p.length).map(Number);
    expect((await run(await engine(), p)).tokens).toEqual(expected);
  }, 60_000);

  test('a long prompt prefilled in chunks gives the same output as in one run', async () => {
    const p = prompt(20, 300);
    const whole = await run(await engine({ maxNumBatchedTokens: 512 }), p);
    const chunked = await run(await engine({ maxNumBatchedTokens: 48 }), p);
    expect(chunked.tokens).toEqual(whole.tokens);
  }, 60_000);

  test('a long prompt arriving mid-decode is prefilled in chunks between decode steps', async () => {
    const e = await engine({ maxNumBatchedTokens: 32 });
    let decoded = 0;
    let decodedBeforeLongStarts = -1;
    const signal = new AbortController().signal;
    const running = (async () => {
      const request: GenerateRequest = {
        requestId: 'a',
        model: 'tiny',
        tokenIds: prompt(80, 8),
        sampling: {},
        stop: { maxTokens: 40 },
      };
      for await (const frame of e.generate(request, signal)) decoded += frame.tokenIds.length;
    })();
    while (decoded === 0) await new Promise((r) => setTimeout(r, 5));
    // 320 tokens in chunks of 32: ten prefill runs, each after a decode run of the running sequence.
    const long: GenerateRequest = {
      requestId: 'b',
      model: 'tiny',
      tokenIds: prompt(81, 320),
      sampling: {},
      stop: { maxTokens: 1 },
    };
    for await (const frame of e.generate(long, signal)) {
      if (decodedBeforeLongStarts < 0 && frame.tokenIds.length > 0) decodedBeforeLongStarts = decoded;
    }
    await running;
    expect(decodedBeforeLongStarts).toBeGreaterThanOrEqual(8);
  }, 60_000);

  test('sequences preempted for lack of KV blocks recompute and give the same output', async () => {
    const prompts = [prompt(30, 40), prompt(31, 40), prompt(32, 40), prompt(33, 40)];
    const roomy = await engine();
    const expected = await Promise.all(prompts.map((p) => run(roomy, p, { stop: { maxTokens: 30 } })));
    // 4 sequences of 70 tokens need 20 blocks; 12 forces preemptions.
    const tight = await engine({ totalKvBlocks: 12 });
    const got = await Promise.all(prompts.map((p) => run(tight, p, { stop: { maxTokens: 30 } })));
    expect(got.map((r) => r.tokens)).toEqual(expected.map((r) => r.tokens));
    expect(tight.kvAccounting().freeSlots).toBe(tight.kvAccounting().freeBlocks);
  }, 60_000);

  test('sampling: a seed reproduces, temperature varies, top_k 1 is greedy, penalties change the output', async () => {
    const e = await engine();
    const p = prompt(40, 20);
    const greedy = (await run(e, p)).tokens;
    const seeded = { temperature: 1.5, topP: 0.95, seed: 42 };
    const s1 = (await run(e, p, { sampling: seeded })).tokens;
    const [s2, s3] = await Promise.all([
      run(e, p, { sampling: seeded }),
      run(e, prompt(41, 33), { sampling: seeded }),
    ]);
    expect(s2.tokens).toEqual(s1);
    expect(s3.tokens).not.toEqual(s1);
    const other = (await run(e, p, { sampling: { ...seeded, seed: 43 } })).tokens;
    expect(other).not.toEqual(s1);
    expect((await run(e, p, { sampling: { temperature: 5, topK: 1, seed: 1 } })).tokens).toEqual(greedy);
    // A huge repetition penalty forbids any token of the prompt or the output so far.
    const rep = (await run(e, p, { sampling: { repetitionPenalty: 100 }, stop: { maxTokens: 40 } })).tokens;
    expect(new Set(rep).size).toBe(rep.length);
    expect(rep.some((t) => p.includes(t))).toBe(false);
  }, 60_000);

  test('stop conditions: max_tokens, stop token ids, eos unless ignore_eos', async () => {
    const e = await engine();
    const p = prompt(50, 9);
    const free = await run(e, p, { stop: { maxTokens: 6 } });
    expect(free.tokens).toHaveLength(6);
    expect(free.frames.at(-1)?.finishReason).toBe('length');
    const stopAt = free.tokens[3] as number;
    const stopped = await run(e, p, { stop: { maxTokens: 6, stopTokenIds: [stopAt] } });
    expect(stopped.tokens).toEqual(free.tokens.slice(0, 4));
    expect(stopped.frames.at(-1)?.finishReason).toBe('stop');
    // The card's eos ids stop a sequence too (a worker whose eos list holds a token the model emits),
    // unless ignore_eos.
    const eosEngine = await engine();
    (eosEngine.card.eosTokenIds as number[]).push(stopAt);
    expect((await run(eosEngine, p, { stop: { maxTokens: 6 } })).tokens).toEqual(free.tokens.slice(0, 4));
    expect((await run(eosEngine, p, { stop: { maxTokens: 6, ignoreEos: true } })).tokens).toEqual(
      free.tokens,
    );
  }, 60_000);

  test('cancelling ends the stream with cancelled and frees the blocks', async () => {
    const e = await engine();
    const controller = new AbortController();
    const frames: GenerateResponse[] = [];
    const request: GenerateRequest = {
      requestId: 'c',
      model: 'tiny',
      tokenIds: prompt(60, 30),
      sampling: {},
      stop: { maxTokens: 1000 },
    };
    for await (const frame of e.generate(request, controller.signal)) {
      frames.push(frame);
      if (frames.length === 3) controller.abort();
    }
    expect(frames.at(-1)?.finishReason).toBe('cancelled');
    expect(e.loadMetrics()).toMatchObject({ activeBlocks: 0, runningRequests: 0, waitingRequests: 0 });
  }, 60_000);

  test('KV events and the dump describe the cache; load metrics count it', async () => {
    const e = await engine({ totalKvBlocks: 64 });
    const events: KvEventData[] = [];
    e.onKvEvent((d) => events.push(d));
    const p = prompt(70, 50);
    await run(e, p, { stop: { maxTokens: 20 } });
    // 50 prompt + 19 fed generated tokens = 69 tokens: 4 full blocks.
    const stored = events.flatMap((d) => (typeof d === 'object' && 'stored' in d ? d.stored.blocks : []));
    expect(stored).toHaveLength(4);
    const dump = e
      .dumpKvState()
      .flatMap((d) => (typeof d === 'object' && 'stored' in d ? d.stored.blocks : []));
    expect(new Set(dump.map((b) => b.blockHash))).toEqual(new Set(stored.map((b) => b.blockHash)));
    expect(e.loadMetrics()).toEqual({
      activeBlocks: 0,
      totalBlocks: 64,
      waitingRequests: 0,
      runningRequests: 0,
      pendingPrefillTokens: 0,
      prefillTokensTotal: expect.any(Number),
      prefillSeconds: expect.any(Number),
    });
    expect(e.loadMetrics().prefillTokensTotal).toBeGreaterThan(0);
    expect(e.loadMetrics().prefillSeconds).toBeGreaterThan(0);
    expect(e.kvAccounting().freeSlots).toBe(e.kvAccounting().freeBlocks);
    expect(e.card).toMatchObject({
      engine: 'onnx',
      kvCacheBlockSize: 16,
      totalKvBlocks: 64,
      modelTypes: ['chat', 'completions'],
    });
  }, 60_000);

  test('refuses token ids outside the vocabulary and prompts longer than the context', async () => {
    const e = await engine();
    await expect(run(e, [1, 999_999])).rejects.toThrow(/tokenIds: 999999 is outside the vocabulary/);
    await expect(run(e, new Array(5000).fill(1))).rejects.toThrow(/leave no room in the context of 4096/);
  });
});
