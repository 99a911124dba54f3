// Disaggregated serving on the tiny model (DESIGN §12): prefill on engine A, decode on engine B, over
// the in-memory KV data plane, against aggregated serving on engine C.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type GenerateRequest,
  type GenerateResponse,
  type KvEventData,
  type KvTransferDescriptor,
  type KvTransferErrorCode,
  kvLayerBlockBytes,
  newInstanceId,
} from '../../../../src/api/index.js';
import type { KvTransferObserver, TransferClock } from '../../../../src/engines/kv-transfer.js';
import {
  createOnnxEngine,
  ONNX_BLOCK_SIZE,
  type OnnxEngine,
  type OnnxEngineOptions,
} from '../../../../src/engines/onnx/index.js';
import { seededRandom } from '../../../../src/llm/seeded-random.js';
import {
  type KvDataPlane,
  MemoryKvDataPlane,
  MemoryKvHub,
  type ServedKvDataPlane,
} from '../../../../src/runtime/index.js';
import { createLogger } from '../../../../src/runtime/logger.js';
import { tinyModelDir } from '../../../harness/tiny-model.js';

let modelDir: string;
const engines: OnnxEngine[] = [];
const log = createLogger({ level: (process.env.TEST_LOG as 'debug') ?? 'silent' });
const never = new AbortController().signal;

beforeAll(async () => {
  modelDir = await tinyModelDir();
}, 120_000);
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

let model = '';

async function engine(options: Partial<OnnxEngineOptions> = {}): Promise<OnnxEngine> {
  const e = await createOnnxEngine({ modelDir, log, threads: 1, totalKvBlocks: 128, ...options });
  engines.push(e);
  model = e.card.name;
  return e;
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

interface Counts {
  pulls: number;
  bytes: number;
  failures: KvTransferErrorCode[];
  pins: number;
}

function observer(): KvTransferObserver & { counts: Counts } {
  const counts: Counts = { pulls: 0, bytes: 0, failures: [], pins: 0 };
  return {
    counts,
    pulled: (_blocks, bytes) => {
      counts.pulls++;
      counts.bytes += bytes;
    },
    failed: (code) => counts.failures.push(code),
    pins: (delta) => {
      counts.pins += delta;
    },
  };
}

/** Prefill engine A (serving its pins) and decode engine B on one in-memory data plane. */
async function pair(options: Partial<OnnxEngineOptions> = {}, pinTtlMs = 30_000) {
  const dataPlane = new MemoryKvDataPlane(new MemoryKvHub());
  const clock = manualClock();
  const prefill = await engine(options);
  const decode = await engine(options);
  const served: ServedKvDataPlane = await dataPlane.serve(prefill.kvProvider);
  const prefillObs = observer();
  const decodeObs = observer();
  prefill.attachDisagg({
    instanceId: newInstanceId(),
    dataPlane,
    address: served.address,
    pinTtlMs,
    clock,
    observer: prefillObs,
  });
  decode.attachDisagg({ instanceId: newInstanceId(), dataPlane, clock, observer: decodeObs });
  return { dataPlane, clock, prefill, decode, served, prefillObs, decodeObs };
}

function prompt(seed: number, length: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length }, () => Math.floor(random() * 151_000));
}

function request(tokenIds: number[], maxTokens: number, disagg?: GenerateRequest['disagg']): GenerateRequest {
  return {
    requestId: `r${Math.random()}`,
    model,
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

async function prefillOn(e: OnnxEngine, tokenIds: number[]) {
  const frames = await collect(e.generate(request(tokenIds, 50, { phase: 'prefill' }), never));
  const last = frames.at(-1) as GenerateResponse;
  return { frames, first: tokensOf(frames)[0] as number, last, descriptor: last.transfer };
}

async function decodeOn(
  e: OnnxEngine,
  tokenIds: number[],
  maxTokens: number,
  first: number,
  d: KvTransferDescriptor,
) {
  return collect(
    e.generate(request(tokenIds, maxTokens, { phase: 'decode', firstTokenId: first, descriptor: d }), never),
  );
}

/** Prefill on A, decode on B: the client's token stream (first token, then the decode worker's). */
async function disagg(a: OnnxEngine, b: OnnxEngine, tokenIds: number[], maxTokens: number) {
  const p = await prefillOn(a, tokenIds);
  expect(p.last.finishReason).toBe('length');
  expect(p.frames).toHaveLength(1);
  const descriptor = p.descriptor as KvTransferDescriptor;
  const frames = await decodeOn(b, tokenIds, maxTokens, p.first, descriptor);
  return { tokens: [p.first, ...tokensOf(frames)], frames, prefill: p, descriptor };
}

function impliedCache(events: readonly KvEventData[]): Set<string> {
  const set = new Set<string>();
  for (const e of events) {
    if (e === 'cleared') set.clear();
    else if ('stored' in e) for (const b of e.stored.blocks) set.add(b.blockHash);
    else for (const h of e.removed.blockHashes) set.delete(h);
  }
  return set;
}

function dumpedHashes(e: OnnxEngine): Set<string> {
  return impliedCache(e.dumpKvState());
}

describe('onnx engine, disaggregated', () => {
  test('greedy output is identical to aggregated serving, token for token; pins end released', async () => {
    const agg = await engine();
    const { prefill, decode, prefillObs, decodeObs } = await pair();
    // No full block, exactly one, a tail of 8, several blocks.
    for (const [i, length] of [5, 16, 40, 100].entries()) {
      const p = prompt(100 + i, length);
      const expected = tokensOf(await collect(agg.generate(request(p, 8), never)));
      const got = await disagg(prefill, decode, p, 8);
      expect(got.tokens).toEqual(expected);
      expect(got.tokens).toHaveLength(8);
      expect(got.descriptor.blockHashes).toHaveLength(Math.floor(length / ONNX_BLOCK_SIZE));
      expect(got.descriptor.tokenCount).toBe(length);
      expect(got.frames[0]?.cachedTokens).toBe(0);
      expect(got.frames.at(-1)?.finishReason).toBe('length');
    }
    expect(prefill.pinCount).toBe(0);
    expect(prefillObs.counts.pins).toBe(0);
    expect(prefill.loadMetrics().activeBlocks).toBe(0);
    expect(decode.loadMetrics().activeBlocks).toBe(0);
    expect(decodeObs.counts.pulls).toBe(4);
    expect(decodeObs.counts.failures).toEqual([]);
    expect(prefill.kvAccounting().freeSlots).toBe(prefill.kvAccounting().freeBlocks);
    expect(decode.kvAccounting().freeSlots).toBe(decode.kvAccounting().freeBlocks);
  }, 60_000);

  test('with a cached prefix on the decode worker: only the missing blocks move; output unchanged', async () => {
    const agg = await engine();
    const { prefill, decode, decodeObs } = await pair();
    const shared = prompt(200, 48);
    const p = [...shared, ...prompt(201, 37)];
    const expected = tokensOf(await collect(agg.generate(request(p, 10), never)));
    // The decode worker saw the shared prefix before (aggregated).
    await collect(decode.generate(request([...shared, ...prompt(202, 5)], 2), never));
    const got = await disagg(prefill, decode, p, 10);
    expect(got.tokens).toEqual(expected);
    expect(got.frames[0]?.cachedTokens).toBe(48);
    // 85 tokens: 5 full blocks, 3 of them cached on the decode worker, 2 pulled.
    const card = decode.card.kvLayout;
    const blockBytes =
      kvLayerBlockBytes({ ...(card as NonNullable<typeof card>), blockSize: ONNX_BLOCK_SIZE }) *
      (card?.numLayers ?? 0);
    expect(decodeObs.counts.bytes).toBe(2 * blockBytes);
    // All of it cached now on the decode worker: pulled blocks joined its prefix cache.
    const again = await disagg(prefill, decode, p, 10);
    expect(again.tokens).toEqual(expected);
    expect(again.frames[0]?.cachedTokens).toBe(80);
    expect(decodeObs.counts.bytes).toBe(2 * blockBytes);
    expect(prefill.pinCount).toBe(0);
  }, 60_000);

  test('batched: concurrent disaggregated requests give the same output as aggregated ones alone', async () => {
    const agg = await engine();
    const { prefill, decode } = await pair({ maxNumBatchedTokens: 96 });
    const prompts = [prompt(300, 33), prompt(301, 70), prompt(302, 16), prompt(303, 9), prompt(304, 51)];
    const lengths = [6, 9, 4, 7, 5];
    const expected: number[][] = [];
    for (const [i, p] of prompts.entries()) {
      expected.push(tokensOf(await collect(agg.generate(request(p, lengths[i] as number), never))));
    }
    // A running aggregated request on the decode worker shares its batch with the imports.
    const background = collect(decode.generate(request(prompt(305, 20), 30), never));
    const got = await Promise.all(prompts.map((p, i) => disagg(prefill, decode, p, lengths[i] as number)));
    await background;
    expect(got.map((g) => g.tokens)).toEqual(expected);
    expect(prefill.pinCount).toBe(0);
    expect(prefill.loadMetrics().activeBlocks).toBe(0);
    expect(decode.loadMetrics().activeBlocks).toBe(0);
  }, 60_000);

  test("the decode worker's KV events name exactly the blocks it holds; pulled bytes are the prefill worker's", async () => {
    const { prefill, decode, dataPlane, clock } = await pair();
    const events: KvEventData[] = [];
    decode.onKvEvent((e) => events.push(e));
    const p = prompt(400, 70);
    const got = await disagg(prefill, decode, p, 4);
    expect(impliedCache(events)).toEqual(dumpedHashes(decode));
    for (const h of got.descriptor.blockHashes) expect(impliedCache(events).has(h)).toBe(true);

    // The prefill worker's bytes of the prompt's blocks: pulled from a new pin, kept.
    const pulledFrom = async (e: OnnxEngine) => {
      const pin = await prefillOn(e, p);
      const d = pin.descriptor as KvTransferDescriptor;
      const layout = { ...(e.card.kvLayout as NonNullable<OnnxEngine['card']['kvLayout']>), blockSize: 16 };
      const chunks: number[][] = [];
      await dataPlane.pull(
        d.address,
        { handle: d.handle, model: d.model, blockHashes: d.blockHashes, layout },
        (_block, _layer, bytes) => chunks.push([...bytes]),
        { release: true },
      );
      return chunks;
    };
    const fromPrefill = await pulledFrom(prefill);
    // The decode worker now serves the same blocks from its own store (the imported slots).
    const servedByDecode = await dataPlane.serve(decode.kvProvider);
    decode.attachDisagg({ instanceId: newInstanceId(), dataPlane, address: servedByDecode.address, clock });
    const fromDecode = await pulledFrom(decode);
    expect(fromDecode).toHaveLength(4 * 4); // 4 blocks × 4 layers
    expect(fromDecode).toEqual(fromPrefill);
    expect(fromPrefill.some((c) => c.some((b) => b !== 0))).toBe(true);
    expect(prefill.pinCount).toBe(0);
    expect(decode.pinCount).toBe(0);
  }, 60_000);

  test('every refusal arrives as a typed transferError and frees the blocks', async () => {
    const { prefill, decode, decodeObs, served, clock } = await pair();
    const p = prompt(500, 40);
    const pin = await prefillOn(prefill, p);
    const d = pin.descriptor as KvTransferDescriptor;
    const refused = async (tokenIds: number[], descriptor: KvTransferDescriptor) => {
      const frames = await decodeOn(decode, tokenIds, 5, pin.first, descriptor);
      expect(frames).toHaveLength(1);
      expect(frames[0]?.finishReason).toBe('error');
      expect(frames[0]?.tokenIds).toEqual([]);
      expect(decode.loadMetrics().activeBlocks).toBe(0);
      return frames[0]?.transferError?.code;
    };
    expect(await refused(p, { ...d, handle: 'no-such-handle' })).toBe('unknown_handle');
    expect(await refused(p, { ...d, expiresAt: clock.now() - 1 })).toBe('expired');
    expect(await refused(p, { ...d, model: 'other-model' })).toBe('model_mismatch');
    expect(await refused(p, { ...d, blockHashes: d.blockHashes.slice(1) })).toBe('blocks_mismatch');
    expect(await refused([...p.slice(0, 5), 7, ...p.slice(6)], d)).toBe('blocks_mismatch');
    expect(await refused(p, { ...d, blockSize: 32 })).toBe('layout_mismatch');
    expect(decodeObs.counts.failures).toEqual([
      'unknown_handle',
      'expired',
      'model_mismatch',
      'blocks_mismatch',
      'blocks_mismatch',
      'layout_mismatch',
    ]);
    // Refusals did not touch the pin: it still serves a decode.
    expect(prefill.pinCount).toBe(1);
    const ok = await decodeOn(decode, p, 5, pin.first, d);
    expect(ok.at(-1)?.finishReason).toBe('length');
    expect(prefill.pinCount).toBe(0);
    // Pulled once with release: the handle is gone.
    expect(await refused(p, d)).toBe('unknown_handle');

    // Expired on the prefill worker: its timer released the blocks.
    const late = await prefillOn(prefill, p);
    clock.advance(30_001);
    expect(prefill.pinCount).toBe(0);
    expect(prefill.loadMetrics().activeBlocks).toBe(0);
    expect(
      await refused(p, { ...(late.descriptor as KvTransferDescriptor), expiresAt: clock.now() + 1000 }),
    ).toBe('unknown_handle');

    // A prefill worker gone before the pull: unreachable.
    const orphan = await prefillOn(prefill, p);
    await served.close();
    expect(await refused(p, orphan.descriptor as KvTransferDescriptor)).toBe('unreachable');
    expect(prefill.releaseKv((orphan.descriptor as KvTransferDescriptor).handle)).toBe(true);
    expect(prefill.releaseKv('unknown')).toBe(false);
    expect(prefill.loadMetrics().activeBlocks).toBe(0);
  }, 60_000);

  test('a decode cancelled while its pull waits frees its blocks; the pin stays for kv_release', async () => {
    const { prefill, dataPlane, clock } = await pair();
    let open: (() => void) | undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let pulls = 0;
    const gated: KvDataPlane = {
      serve: (provider) => dataPlane.serve(provider),
      close: () => dataPlane.close(),
      pull: async (address, req, sink, options) => {
        pulls++;
        await gate;
        return dataPlane.pull(address, req, sink, options);
      },
    };
    const decode = await engine();
    decode.attachDisagg({ instanceId: newInstanceId(), dataPlane: gated, clock });
    const p = prompt(700, 50);
    const pin = await prefillOn(prefill, p);
    const d = pin.descriptor as KvTransferDescriptor;
    const abort = new AbortController();
    const stream = collect(
      decode.generate(
        request(p, 5, { phase: 'decode', firstTokenId: pin.first, descriptor: d }),
        abort.signal,
      ),
    );
    while (pulls === 0) await new Promise((r) => setTimeout(r, 1));
    expect(decode.loadMetrics().activeBlocks).toBe(3);
    abort.abort();
    expect((await stream).at(-1)?.finishReason).toBe('cancelled');
    expect(decode.loadMetrics().activeBlocks).toBe(0);
    open?.();
    await new Promise((r) => setTimeout(r, 10));
    expect(decode.kvAccounting().freeSlots).toBe(decode.kvAccounting().freeBlocks);
    expect(prefill.pinCount).toBe(1);
    expect(prefill.releaseKv(d.handle)).toBe(true);
    expect(prefill.loadMetrics().activeBlocks).toBe(0);
  }, 60_000);

  test('a prefill that samples a stop token pins nothing; close releases every pin', async () => {
    const { prefill } = await pair();
    const p = prompt(600, 30);
    const first = (await prefillOn(prefill, p)).first;
    expect(prefill.pinCount).toBe(1); // pulled by nobody: still held
    const stopped = await collect(
      prefill.generate(
        { ...request(p, 5, { phase: 'prefill' }), stop: { maxTokens: 5, stopTokenIds: [first] } },
        never,
      ),
    );
    expect(stopped.at(-1)).toMatchObject({ tokenIds: [first], finishReason: 'stop' });
    expect(stopped.at(-1)?.transfer).toBeUndefined();
    await prefillOn(prefill, p);
    await prefillOn(prefill, prompt(601, 50));
    expect(prefill.pinCount).toBe(3);
    await prefill.close();
    expect(prefill.pinCount).toBe(0);
    expect(prefill.loadMetrics().activeBlocks).toBe(0);
  }, 60_000);
});
