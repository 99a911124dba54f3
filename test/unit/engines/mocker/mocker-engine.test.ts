import { describe, expect, it } from 'vitest';
import type { GenerateRequest, GenerateResponse, KvEventData } from '../../../../src/api/index.js';
import type { Clock } from '../../../../src/engines/mocker/clock.js';
import {
  MockerEngine,
  type MockerOptions,
  type StepReport,
} from '../../../../src/engines/mocker/mocker-engine.js';
import { decodeMs, prefillMs, timingModelSchema } from '../../../../src/engines/mocker/timing.js';
import { isRequestError } from '../../../../src/runtime/errors.js';

/** Simulated time: a sleep returns on the next turn of the event loop and advances `now`. */
function virtualClock(): Clock {
  let now = 0;
  const clock = {
    now: () => now,
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        now += Math.max(0, ms);
        setImmediate(resolve);
      }),
  };
  return clock;
}

const TOKENIZER = {
  checksum: 'a'.repeat(64),
  configChecksum: null,
  vocabSize: 1000,
  eosTokenIds: [999_999],
};

function mocker(options: Partial<MockerOptions> = {}) {
  const steps: StepReport[] = [];
  const events: KvEventData[] = [];
  const clock = virtualClock();
  const engine = new MockerEngine(
    { modelName: 'mock', blockSize: 4, numGpuBlocks: 64, tokenizer: TOKENIZER, ...options },
    { clock, onStep: (s) => steps.push(s) },
  );
  engine.onKvEvent((e) => events.push(e));
  return { engine, steps, events, clock };
}

let nextId = 0;
function request(
  tokenIds: number[],
  stop: GenerateRequest['stop'] = { maxTokens: 4 },
  seed?: number,
): GenerateRequest {
  return {
    requestId: `r${nextId++}`,
    model: 'mock',
    tokenIds,
    sampling: seed === undefined ? {} : { seed },
    stop,
  };
}

async function collect(stream: AsyncIterable<GenerateResponse>) {
  const frames: GenerateResponse[] = [];
  for await (const frame of stream) frames.push(frame);
  const last = frames.at(-1);
  return {
    tokens: frames.flatMap((f) => f.tokenIds),
    cachedTokens: frames.find((f) => f.cachedTokens !== undefined)?.cachedTokens,
    finishReason: last?.finishReason,
  };
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const never = new AbortController().signal;

function impliedCache(events: readonly KvEventData[]): Set<string> {
  const set = new Set<string>();
  for (const e of events) {
    if (e === 'cleared') set.clear();
    else if ('stored' in e) for (const b of e.stored.blocks) set.add(b.blockHash);
    else for (const h of e.removed.blockHashes) set.delete(h);
  }
  return set;
}

describe('timing model', () => {
  it('has the default prefill and decode curves, divided by the speedup ratio', () => {
    const model = timingModelSchema.parse({});
    expect(prefillMs(model, 1000)).toBeCloseTo(4.209989e-7 * 1e6 + 1.518344e-2 * 1000 + 16.50142, 9);
    expect(decodeMs(model, 0.5)).toBeCloseTo(-25.74 * 0.25 + 54.01 * 0.5 + 5.74, 9);
    expect(decodeMs({ ...model, decode: [0, -10, 0] }, 1)).toBe(1); // at least 1 ms
    expect(prefillMs({ ...model, speedupRatio: 10 }, 1000)).toBeCloseTo(prefillMs(model, 1000) / 10, 9);
  });
});

describe('MockerEngine', () => {
  it('prefills only the uncached part of a prompt that shares a prefix with an earlier one', async () => {
    const { engine, steps, clock } = mocker();
    const a = await collect(engine.generate(request(range(1, 16)), never));
    expect(a.cachedTokens).toBe(0);
    expect(steps[0]?.prefillTokens).toBe(16);
    const before = clock.now();
    steps.length = 0;
    const b = await collect(engine.generate(request([...range(1, 12), 50, 51, 52, 53, 54]), never));
    expect(b.cachedTokens).toBe(12);
    expect(steps[0]?.prefillTokens).toBe(5);
    expect(steps[0]?.durationMs).toBeCloseTo(prefillMs(timingModelSchema.parse({}), 5), 9);
    expect(clock.now() - before).toBeCloseTo(
      steps.reduce((sum, s) => sum + s.durationMs, 0),
      9,
    );
    await engine.close();
  });

  it('refuses a request as overloaded when its waiting queue holds maxWaiting requests', async () => {
    const { engine } = mocker({ maxNumSeqs: 1, maxWaiting: 1 });
    const a = engine.generate(request(range(1, 8), { maxTokens: 50 }), never)[Symbol.asyncIterator]();
    expect((await a.next()).done).toBe(false); // running
    const b = collect(engine.generate(request(range(20, 8)), never)); // waits
    await new Promise((r) => setImmediate(r));
    const c = await collect(engine.generate(request(range(40, 8)), never)).catch((e: unknown) => e);
    expect(isRequestError(c, 'overloaded')).toBe(true);
    expect(String(c)).toMatch(/waiting queue holds 1 requests/);
    while (!(await a.next()).done);
    expect((await b).finishReason).toBe('length');
    // Room again: the next one is queued.
    expect((await collect(engine.generate(request(range(60, 8)), never))).finishReason).toBe('length');
    await engine.close();
  });

  it('describes itself in its card; chat only with a tokenizer config (the chat template)', async () => {
    const { engine } = mocker({ maxNumSeqs: 7 });
    expect(engine.card).toMatchObject({
      engine: 'mocker',
      modelTypes: ['completions'],
      kvCacheBlockSize: 4,
      totalKvBlocks: 64,
      maxNumSeqs: 7,
      maxNumBatchedTokens: 8192,
    });
    const withConfig = mocker({ tokenizer: { ...TOKENIZER, configChecksum: 'b'.repeat(64) } });
    expect(withConfig.engine.card.modelTypes).toEqual(['chat', 'completions']);
    await Promise.all([engine.close(), withConfig.engine.close()]);
  });

  it('emits deterministic tokens and honours max_tokens', async () => {
    const { engine } = mocker();
    const one = await collect(engine.generate(request(range(1, 9), { maxTokens: 7 }), never));
    const two = await collect(engine.generate(request(range(1, 9), { maxTokens: 7 }), never));
    const seeded = await collect(engine.generate(request(range(1, 9), { maxTokens: 7 }, 42), never));
    expect(one.tokens).toHaveLength(7);
    expect(one.finishReason).toBe('length');
    expect(two.tokens).toEqual(one.tokens);
    expect(seeded.tokens).not.toEqual(one.tokens);
    for (const t of one.tokens) expect(t).toBeLessThan(TOKENIZER.vocabSize);
    await engine.close();
  });

  it('stops at stop token ids and EOS unless ignore_eos', async () => {
    const { engine } = mocker({ tokenizer: { ...TOKENIZER, vocabSize: 3, eosTokenIds: [2] } });
    const eos = await collect(engine.generate(request([5, 6, 7], { maxTokens: 200 }), never));
    expect(eos.finishReason).toBe('stop');
    expect(eos.tokens.at(-1)).toBe(2);
    expect(eos.tokens.slice(0, -1)).not.toContain(2);
    const ignored = await collect(
      engine.generate(request([5, 6, 7], { maxTokens: 200, ignoreEos: true }), never),
    );
    expect(ignored.finishReason).toBe('length');
    expect(ignored.tokens).toHaveLength(200);
    expect(ignored.tokens).toContain(2);
    const stopId = await collect(
      engine.generate(request([5, 6, 7], { maxTokens: 200, ignoreEos: true, stopTokenIds: [1] }), never),
    );
    expect(stopId.finishReason).toBe('stop');
    expect(stopId.tokens.at(-1)).toBe(1);
    await engine.close();
  });

  it('splits a long prompt into chunks of the token budget', async () => {
    const { engine, steps } = mocker({ maxNumBatchedTokens: 16 });
    const out = await collect(engine.generate(request(range(1, 40), { maxTokens: 2 }), never));
    expect(out.tokens).toHaveLength(2);
    expect(steps.map((s) => [s.prefillTokens, s.decodes])).toEqual([
      [16, 0],
      [16, 0],
      [8, 0],
      [0, 1],
    ]);
    await engine.close();
  });

  it('runs at most max-num-seqs sequences at once', async () => {
    const { engine, steps } = mocker({ maxNumSeqs: 2 });
    const outs = await Promise.all(
      [1, 2, 3].map((k) => collect(engine.generate(request(range(k * 100, 6), { maxTokens: 5 }), never))),
    );
    for (const o of outs) expect(o.tokens).toHaveLength(5);
    expect(Math.max(...steps.map((s) => s.decodes + (s.prefillTokens > 0 ? 1 : 0)))).toBeLessThanOrEqual(2);
    await engine.close();
  });

  it('evicts unreferenced cached blocks under pressure and reports them removed', async () => {
    const { engine, events } = mocker({ numGpuBlocks: 8 });
    for (let k = 0; k < 5; k++) {
      await collect(engine.generate(request(range(k * 100, 12), { maxTokens: 1 }), never));
    }
    const removed = events.filter((e) => e !== 'cleared' && 'removed' in e);
    expect(removed.length).toBeGreaterThan(0);
    const cache = impliedCache(events);
    expect(cache.size).toBeLessThanOrEqual(8);
    expect(impliedCache(engine.dumpKvState())).toEqual(cache);
    expect(engine.loadMetrics()).toMatchObject({ activeBlocks: 0, totalBlocks: 8, runningRequests: 0 });
    await engine.close();
  });

  it('preempts when blocks run out, requeues, and still completes every request with the same tokens', async () => {
    const alone = mocker();
    const expected = await Promise.all(
      [1, 2, 3].map((k) =>
        collect(
          alone.engine.generate(request(range(k * 100, 8), { maxTokens: 20, ignoreEos: true }, k), never),
        ),
      ),
    );
    await alone.engine.close();

    // 3 sequences of 8 + 20 tokens want 21 blocks of 4; only 12 exist.
    const { engine, steps, events } = mocker({ numGpuBlocks: 12 });
    const outs = await Promise.all(
      [1, 2, 3].map((k) =>
        collect(engine.generate(request(range(k * 100, 8), { maxTokens: 20, ignoreEos: true }, k), never)),
      ),
    );
    expect(steps.some((s) => s.preempted > 0)).toBe(true);
    expect(outs.map((o) => o.finishReason)).toEqual(['length', 'length', 'length']);
    expect(outs.map((o) => o.tokens)).toEqual(expected.map((o) => o.tokens));
    expect(impliedCache(engine.dumpKvState())).toEqual(impliedCache(events));
    expect(engine.loadMetrics().activeBlocks).toBe(0);
    await engine.close();
  });

  it('fails a sequence that can never fit instead of hanging', async () => {
    const { engine } = mocker({ numGpuBlocks: 2 });
    const out = await collect(engine.generate(request(range(1, 20)), never));
    expect(out.finishReason).toBe('error');
    expect(engine.loadMetrics().activeBlocks).toBe(0);
    await engine.close();
  });

  it('frees the blocks of a cancelled request and ends its stream with cancelled', async () => {
    const { engine } = mocker();
    const controller = new AbortController();
    const frames: GenerateResponse[] = [];
    for await (const frame of engine.generate(
      request(range(1, 10), { maxTokens: 1000, ignoreEos: true }),
      controller.signal,
    )) {
      frames.push(frame);
      if (frames.length === 3) {
        expect(engine.loadMetrics().activeBlocks).toBeGreaterThan(0);
        controller.abort();
      }
    }
    expect(frames.at(-1)?.finishReason).toBe('cancelled');
    expect(engine.loadMetrics()).toMatchObject({ activeBlocks: 0, runningRequests: 0, waitingRequests: 0 });
    await engine.close();
  });

  it('frees the blocks of a request whose consumer stops reading', async () => {
    const { engine } = mocker();
    for await (const frame of engine.generate(
      request(range(1, 10), { maxTokens: 1000, ignoreEos: true }),
      never,
    )) {
      if (frame.tokenIds.length > 0) break;
    }
    expect(engine.loadMetrics()).toMatchObject({ activeBlocks: 0, runningRequests: 0 });
    await engine.close();
  });

  it('reports load: waiting, running and pending prefill tokens', async () => {
    const { engine } = mocker({ maxNumSeqs: 1 });
    const a = engine
      .generate(request(range(1, 10), { maxTokens: 1000, ignoreEos: true }), never)
      [Symbol.asyncIterator]();
    const b = engine.generate(request(range(50, 7), { maxTokens: 3 }), never)[Symbol.asyncIterator]();
    await a.next();
    const pendingB = b.next(); // starts b's generator: it queues behind a
    await new Promise((r) => setImmediate(r));
    expect(engine.loadMetrics()).toMatchObject({
      runningRequests: 1,
      waitingRequests: 1,
      pendingPrefillTokens: 7,
    });
    await engine.close();
    expect((await pendingB).value?.finishReason).toBe('cancelled');
  });

  it('ends in-flight streams with cancelled on close, and refuses new ones', async () => {
    const { engine } = mocker();
    const stream = engine.generate(request(range(1, 10), { maxTokens: 1000, ignoreEos: true }), never);
    const done = collect(stream);
    await new Promise((r) => setImmediate(r));
    await engine.close();
    expect((await done).finishReason).toBe('cancelled');
    expect((await collect(engine.generate(request([1, 2]), never))).finishReason).toBe('cancelled');
  });

  it('finishes with length a prompt that fills the context', async () => {
    const { engine } = mocker({ contextLength: 8 });
    expect((await collect(engine.generate(request(range(1, 8)), never))).finishReason).toBe('length');
    const out = await collect(
      engine.generate(request(range(1, 6), { maxTokens: 100, ignoreEos: true }), never),
    );
    expect(out.tokens).toHaveLength(2);
    await engine.close();
  });
});
