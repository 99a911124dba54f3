// The mocker's disaggregated serving (DESIGN §12) on a virtual clock: no bytes move, the transfer takes
// bytes / bandwidth + latency of simulated time, the data-plane handshake validates and releases the
// pin. And a property: whatever happens to pins (pulls, releases, expiry, a prefill worker killed),
// none is left behind.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type GenerateRequest,
  type GenerateResponse,
  type KvTransferDescriptor,
  kvLayerBlockBytes,
  newInstanceId,
} from '../../../../src/api/index.js';
import type { TransferClock } from '../../../../src/engines/kv-transfer.js';
import type { Clock } from '../../../../src/engines/mocker/clock.js';
import {
  MockerEngine,
  type MockerOptions,
  type TransferReport,
} from '../../../../src/engines/mocker/mocker-engine.js';
import { timingModelSchema, transferMs } from '../../../../src/engines/mocker/timing.js';
import { type KvDataPlane, MemoryKvDataPlane, MemoryKvHub } from '../../../../src/runtime/index.js';

/** Simulated time: a sleep returns on the next turn of the event loop and advances `now`. */
function virtualClock(): Clock {
  let now = 0;
  return {
    now: () => now,
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        now += Math.max(0, ms);
        setImmediate(resolve);
      }),
  };
}

/** A manual wall clock for pin expiry. */
function manualClock(start = 1_700_000_000_000): TransferClock & { advance(ms: number): void } {
  let now = start;
  const timers = new Set<{ at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimer: (ms, fn) => {
      const t = { at: now + ms, fn };
      timers.add(t);
      return () => timers.delete(t);
    },
    advance: (ms) => {
      now += ms;
      for (const t of [...timers]) {
        if (t.at > now) continue;
        timers.delete(t);
        t.fn();
      }
    },
  };
}

const TOKENIZER = { checksum: 'a'.repeat(64), configChecksum: null, vocabSize: 1000, eosTokenIds: [999_999] };
const TTL = 10_000;
const never = new AbortController().signal;

function mocker(options: Partial<MockerOptions> = {}, transfers: TransferReport[] = []) {
  return new MockerEngine(
    { modelName: 'mock', blockSize: 4, numGpuBlocks: 64, tokenizer: TOKENIZER, ...options },
    { clock: virtualClock(), onTransfer: (r) => transfers.push(r) },
  );
}

async function prefillWorker(
  dataPlane: KvDataPlane,
  clock: TransferClock,
  options: Partial<MockerOptions> = {},
) {
  const engine = mocker(options);
  const served = await dataPlane.serve(engine.kvProvider);
  engine.attachDisagg({
    instanceId: newInstanceId(),
    dataPlane,
    address: served.address,
    pinTtlMs: TTL,
    clock,
  });
  return { engine, served };
}

function decodeWorker(
  dataPlane: KvDataPlane,
  clock: TransferClock,
  options: Partial<MockerOptions> = {},
  transfers: TransferReport[] = [],
) {
  const engine = mocker(options, transfers);
  engine.attachDisagg({ instanceId: newInstanceId(), dataPlane, clock });
  return engine;
}

function request(tokenIds: number[], maxTokens: number, disagg?: GenerateRequest['disagg']): GenerateRequest {
  return {
    requestId: `r${Math.random()}`,
    model: 'mock',
    tokenIds,
    sampling: {},
    stop: { maxTokens },
    ...(disagg === undefined ? {} : { disagg }),
  };
}

async function collect(stream: AsyncIterable<GenerateResponse>): Promise<GenerateResponse[]> {
  const frames: GenerateResponse[] = [];
  for await (const frame of stream) frames.push(frame);
  return frames;
}

const tokensOf = (frames: readonly GenerateResponse[]) => frames.flatMap((f) => f.tokenIds);
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

async function prefill(e: MockerEngine, tokenIds: number[]) {
  const frames = await collect(e.generate(request(tokenIds, 50, { phase: 'prefill' }), never));
  return { first: tokensOf(frames)[0] as number, last: frames.at(-1) as GenerateResponse };
}

function decode(
  e: MockerEngine,
  tokenIds: number[],
  maxTokens: number,
  first: number,
  d: KvTransferDescriptor,
) {
  return collect(
    e.generate(request(tokenIds, maxTokens, { phase: 'decode', firstTokenId: first, descriptor: d }), never),
  );
}

describe('mocker, disaggregated', () => {
  it('prefill on one mocker, decode on another: the same tokens as aggregated, blocks and pins released', async () => {
    const dataPlane = new MemoryKvDataPlane(new MemoryKvHub());
    const clock = manualClock();
    const a = await prefillWorker(dataPlane, clock);
    const b = decodeWorker(dataPlane, clock);
    const agg = mocker();
    for (const length of [3, 8, 21]) {
      const p = range(length, length);
      const expected = tokensOf(await collect(agg.generate(request(p, 6), never)));
      const pre = await prefill(a.engine, p);
      expect(pre.last).toMatchObject({ finishReason: 'length', tokenIds: [pre.first] });
      const d = pre.last.transfer as KvTransferDescriptor;
      expect(d).toMatchObject({
        model: 'mock',
        blockSize: 4,
        tokenCount: length,
        expiresAt: clock.now() + TTL,
      });
      expect(d.blockHashes).toHaveLength(Math.floor(length / 4));
      expect(a.engine.pinCount).toBe(1);
      const frames = await decode(b, p, 6, pre.first, d);
      expect([pre.first, ...tokensOf(frames)]).toEqual(expected);
      expect(frames[0]?.cachedTokens).toBe(0);
      expect(a.engine.pinCount).toBe(0);
    }
    expect(a.engine.activeBlocks).toBe(0);
    expect(b.activeBlocks).toBe(0);
    expect(b.card.kvLayout).toEqual({ numLayers: 32, numKvHeads: 8, headDim: 128, dtype: 'float16' });
    await Promise.all([a.engine.close(), b.close(), agg.close()]);
  });

  it('the simulated transfer waits bytes / bandwidth + latency for the missing blocks only', async () => {
    const dataPlane = new MemoryKvDataPlane(new MemoryKvHub());
    const clock = manualClock();
    const a = await prefillWorker(dataPlane, clock);
    const transfers: TransferReport[] = [];
    const options = { kvTransferBandwidth: 5, kvTransferLatencyMs: 2, timing: { speedupRatio: 4 } };
    const b = decodeWorker(dataPlane, clock, options, transfers);
    const shared = range(1, 8);
    await collect(b.generate(request([...shared, 99], 1), never)); // b caches 2 blocks
    const blockBytes =
      kvLayerBlockBytes({ numLayers: 32, numKvHeads: 8, headDim: 128, dtype: 'float16', blockSize: 4 }) * 32;
    const timing = timingModelSchema.parse({ speedupRatio: 4 });
    for (const [p, missing] of [
      [[...shared, ...range(50, 16)], 4],
      [[...range(200, 24)], 6],
      [[...shared, 7], 0],
    ] as const) {
      const pre = await prefill(a.engine, [...p]);
      await decode(b, [...p], 3, pre.first, pre.last.transfer as KvTransferDescriptor);
      const report = transfers.at(-1);
      expect(report).toEqual({
        blocks: missing,
        bytes: missing * blockBytes,
        waitMs: transferMs(timing, missing * blockBytes, 5, 2),
      });
    }
    // The wait grows linearly with the missing bytes, the latency on top.
    const [four, six, none] = transfers.slice(-3) as [TransferReport, TransferReport, TransferReport];
    expect(six.waitMs - none.waitMs).toBeCloseTo(1.5 * (four.waitMs - none.waitMs), 9);
    expect(none.waitMs).toBeCloseTo(2 / 4, 9);
    expect(a.engine.pinCount).toBe(0);
    await Promise.all([a.engine.close(), b.close()]);
  });

  it('refusals: another KV layout, a dead prefill worker, an expired pin', async () => {
    const dataPlane = new MemoryKvDataPlane(new MemoryKvHub());
    const clock = manualClock();
    const a = await prefillWorker(dataPlane, clock);
    const p = range(1, 12);
    const code = async (b: MockerEngine, d: KvTransferDescriptor, first: number) => {
      const frames = await decode(b, p, 4, first, d);
      expect(frames).toHaveLength(1);
      expect(frames[0]).toMatchObject({ tokenIds: [], finishReason: 'error' });
      expect(b.activeBlocks).toBe(0);
      return frames[0]?.transferError?.code;
    };
    // The provider refuses a puller of another layout (the descriptor cannot tell).
    const other = decodeWorker(dataPlane, clock, { kvLayout: { numLayers: 16 } });
    let pre = await prefill(a.engine, p);
    expect(await code(other, pre.last.transfer as KvTransferDescriptor, pre.first)).toBe('layout_mismatch');
    const b = decodeWorker(dataPlane, clock);
    // Expired: the timer released the pin; the handle is unknown by then.
    clock.advance(TTL + 1);
    expect(a.engine.pinCount).toBe(0);
    expect(a.engine.activeBlocks).toBe(0);
    const stale = pre.last.transfer as KvTransferDescriptor;
    expect(await code(b, stale, pre.first)).toBe('expired');
    expect(await code(b, { ...stale, expiresAt: clock.now() + 1 }, pre.first)).toBe('unknown_handle');
    // Dead: the prefill worker's data plane is gone.
    pre = await prefill(a.engine, p);
    await a.served.close();
    await a.engine.close();
    expect(await code(b, pre.last.transfer as KvTransferDescriptor, pre.first)).toBe('unreachable');
    expect(a.engine.pinCount).toBe(0);
    expect(a.engine.activeBlocks).toBe(0);
    await Promise.all([b.close(), other.close()]);
  });

  it('a decode cancelled during its transfer frees its blocks and leaves the pin to kv_release', async () => {
    const dataPlane = new MemoryKvDataPlane(new MemoryKvHub());
    const clock = manualClock();
    const a = await prefillWorker(dataPlane, clock);
    // A slow link: the simulated transfer sleeps on a clock that only moves when told.
    let wake: (() => void) | undefined;
    const slowClock: Clock = {
      now: () => 0,
      sleep: (ms) =>
        ms > 0.5
          ? new Promise<void>((r) => {
              wake = r;
            })
          : new Promise((r) => setImmediate(r)),
    };
    const b = new MockerEngine(
      { modelName: 'mock', blockSize: 4, numGpuBlocks: 64, tokenizer: TOKENIZER, noDelay: false },
      { clock: slowClock },
    );
    b.attachDisagg({ instanceId: newInstanceId(), dataPlane, clock });
    const p = range(1, 12);
    const pre = await prefill(a.engine, p);
    const d = pre.last.transfer as KvTransferDescriptor;
    const abort = new AbortController();
    const frames: GenerateResponse[] = [];
    const done = (async () => {
      for await (const f of b.generate(
        request(p, 4, { phase: 'decode', firstTokenId: pre.first, descriptor: d }),
        abort.signal,
      ))
        frames.push(f);
    })();
    while (wake === undefined) await new Promise((r) => setImmediate(r));
    expect(b.activeBlocks).toBe(3);
    abort.abort();
    await done;
    expect(frames.at(-1)?.finishReason).toBe('cancelled');
    expect(b.activeBlocks).toBe(0);
    wake();
    await new Promise((r) => setImmediate(r));
    expect(a.engine.pinCount).toBe(1);
    expect(a.engine.releaseKv(d.handle)).toBe(true);
    expect(a.engine.releaseKv(d.handle)).toBe(false);
    expect(a.engine.activeBlocks).toBe(0);
    await Promise.all([a.engine.close(), b.close()]);
  });
});

type Op =
  | { kind: 'prefill'; prompt: number }
  | { kind: 'decode'; which: number }
  | { kind: 'pull'; which: number; release: boolean }
  | { kind: 'release'; which: number }
  | { kind: 'expire' }
  | { kind: 'kill' };

describe('mocker, disaggregated: properties', () => {
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('prefill' as const), prompt: fc.nat(4) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('decode' as const), which: fc.nat() }) },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('pull' as const), which: fc.nat(), release: fc.boolean() }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), which: fc.nat() }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'expire' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'kill' as const }) },
  );
  const promptsArb = fc.array(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 14 }), {
    minLength: 5,
    maxLength: 5,
  });

  it('no pinned block is left behind after any sequence of prefills, pulls, releases, expiries and kills', async () => {
    await fc.assert(
      fc.asyncProperty(promptsArb, fc.array(opArb, { maxLength: 25 }), async (prompts, ops) => {
        const dataPlane = new MemoryKvDataPlane(new MemoryKvHub());
        const clock = manualClock();
        const small = { numGpuBlocks: 24, noDelay: true };
        let a = await prefillWorker(dataPlane, clock, small);
        const dead: MockerEngine[] = [];
        const b = decodeWorker(dataPlane, clock, small);
        /** Descriptors the frontend holds, with the engine that made them. */
        const held: { d: KvTransferDescriptor; engine: MockerEngine; prompt: number[]; first: number }[] = [];
        const layout = {
          numLayers: 32,
          numKvHeads: 8,
          headDim: 128,
          dtype: 'float16' as const,
          blockSize: 4,
        };
        for (const op of ops) {
          const pick = (which: number) => (held.length === 0 ? undefined : held[which % held.length]);
          if (op.kind === 'prefill') {
            const p = prompts[op.prompt] as number[];
            // Pins are never evicted: a prefill that does not fit beside them would wait (for a release).
            if (a.engine.activeBlocks > 24 - 5) continue;
            const pre = await prefill(a.engine, p);
            if (pre.last.transfer)
              held.push({ d: pre.last.transfer, engine: a.engine, prompt: p, first: pre.first });
          } else if (op.kind === 'decode') {
            const h = pick(op.which);
            if (h === undefined) continue;
            const frames = await decode(b, h.prompt, 3, h.first, h.d);
            expect(['length', 'stop', 'error']).toContain(frames.at(-1)?.finishReason);
          } else if (op.kind === 'pull') {
            const h = pick(op.which);
            if (h === undefined) continue;
            const missing = h.d.blockHashes.slice(0, 1);
            await dataPlane
              .pull(
                h.d.address,
                { handle: h.d.handle, model: 'mock', blockHashes: missing, layout },
                () => {},
                {
                  release: op.release,
                },
              )
              .catch(() => {});
          } else if (op.kind === 'release') {
            const h = pick(op.which);
            if (h !== undefined) h.engine.releaseKv(h.d.handle);
          } else if (op.kind === 'expire') {
            clock.advance(TTL + 1);
            expect(a.engine.pinCount).toBe(0);
            expect(a.engine.activeBlocks).toBe(0);
          } else {
            await a.served.close();
            await a.engine.close();
            expect(a.engine.pinCount).toBe(0);
            expect(a.engine.activeBlocks).toBe(0);
            dead.push(a.engine);
            a = await prefillWorker(dataPlane, clock, small);
          }
          expect(b.activeBlocks).toBe(0);
          expect(b.pinCount).toBe(0);
        }
        // Whatever the frontend did not pull or release expires.
        clock.advance(TTL + 1);
        for (const e of [a.engine, ...dead]) {
          expect(e.pinCount).toBe(0);
          expect(e.activeBlocks).toBe(0);
        }
        await Promise.all([a.engine.close(), b.close()]);
      }),
      { numRuns: 200 },
    );
  }, 60_000);
});
