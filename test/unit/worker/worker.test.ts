// A mocker worker on the in-memory runtime (as `dynamo run` serves it), called through a second
// runtime on the same hub, as a frontend and a router would.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  ENDPOINTS,
  type GenerateResponse,
  generateResponseSchema,
  type Instance,
  type KvDump,
  type KvEvent,
  type KvEventData,
  kvDumpSchema,
  type LoadMetrics,
  type ModelFile,
  modelFileSchema,
} from '../../../src/api/index.js';
import {
  createRuntime,
  KV_EVENTS,
  LOAD_METRICS,
  MemoryHub,
  type Runtime,
} from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { defaultTokenizerDir, startWorker, type WorkerConfig } from '../../../src/worker/index.js';
import { tinyModelDir } from '../../harness/tiny-model.js';

const log = createLogger({ level: 'silent' });
const scope = { namespace: 'test', component: 'backend' };
const cleanups: (() => Promise<void>)[] = [];
const finalCleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  for (const c of finalCleanups.splice(0).reverse()) await c();
});

async function setup(
  keep: boolean,
  engine: Partial<Extract<WorkerConfig['engine'], { kind: 'mocker' }>> = {},
) {
  const hub = new MemoryHub();
  const workerRuntime = await createRuntime({ log, memory: hub });
  const client = await createRuntime({ log, memory: hub });
  const events: KvEvent[] = [];
  const load: LoadMetrics[] = [];
  await client.eventPlane.subscribe(KV_EVENTS, scope, (e) => events.push(e));
  await client.eventPlane.subscribe(LOAD_METRICS, scope, (m) => load.push(m));
  const worker = await startWorker(
    {
      ...scope,
      loadMetricsIntervalMs: 5,
      engine: {
        kind: 'mocker',
        tokenizerDir: defaultTokenizerDir(),
        numGpuBlocks: 32,
        blockSize: 4,
        noDelay: true,
        ...engine,
      },
    },
    workerRuntime,
    log,
  );
  (keep ? finalCleanups : cleanups).push(async () => {
    await workerRuntime.shutdown(1000);
    await worker.close();
    await client.close();
  });
  return { worker, client, events, load };
}

async function instanceOf(client: Runtime, endpoint: string): Promise<Instance> {
  const [instance] = await client.discovery.list({ ...scope, endpoint });
  if (!instance) throw new Error(`no instance of ${endpoint}`);
  return instance;
}

async function generate(client: Runtime, tokenIds: number[], maxTokens: number, signal?: AbortSignal) {
  const instance = await instanceOf(client, ENDPOINTS.generate);
  const frames: GenerateResponse[] = [];
  const request = {
    requestId: `r-${Math.random()}`,
    model: 'mocker',
    tokenIds,
    sampling: {},
    stop: { maxTokens },
  };
  for await (const frame of client.requestPlane.call(instance, request, {
    responseSchema: generateResponseSchema,
    ...(signal ? { signal } : {}),
  })) {
    frames.push(frame);
  }
  return frames;
}

function applyEvents(set: Set<string>, events: readonly KvEventData[]): void {
  for (const e of events) {
    if (e === 'cleared') set.clear();
    else if ('stored' in e) for (const b of e.stored.blocks) set.add(b.blockHash);
    else for (const h of e.removed.blockHashes) set.delete(h);
  }
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('worker (mocker, in-memory runtime)', () => {
  // One worker for the tests that need no special engine: loading the 11 MB tokenizer takes a while.
  let shared: Promise<Awaited<ReturnType<typeof setup>>> | undefined;
  const sharedSetup = () => {
    shared ??= setup(true);
    return shared;
  };

  it('registers its instance and a model card naming the served tokenizer files', async () => {
    const { client, worker } = await sharedSetup();
    const instance = await instanceOf(client, ENDPOINTS.generate);
    expect(instance.instanceId).toBe(worker.instanceId);
    const card = await client.discovery.modelCard(
      { ...scope, endpoint: ENDPOINTS.generate },
      worker.instanceId,
    );
    const dir = defaultTokenizerDir();
    expect(card).toMatchObject({
      name: 'mocker',
      engine: 'mocker',
      kvCacheBlockSize: 4,
      totalKvBlocks: 32,
      maxNumSeqs: 256,
      maxNumBatchedTokens: 8192,
      eosTokenIds: [151645], // Qwen3's <|im_end|>
      tokenizerChecksum: sha256(await readFile(join(dir, 'tokenizer.json'), 'utf8')),
      tokenizerConfigChecksum: sha256(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')),
    });
    for (const endpoint of [ENDPOINTS.kvDump, ENDPOINTS.modelFiles]) {
      expect((await instanceOf(client, endpoint)).instanceId).toBe(worker.instanceId);
    }
  });

  it('serves model files in slices that rebuild the file and match the checksum', async () => {
    const { client, worker } = await sharedSetup();
    const instance = await instanceOf(client, ENDPOINTS.modelFiles);
    const frames: ModelFile[] = [];
    for await (const f of client.requestPlane.call(
      instance,
      { file: 'tokenizer.json' },
      { responseSchema: modelFileSchema },
    )) {
      frames.push(f);
    }
    expect(frames.length).toBeGreaterThan(1); // 11 MB does not fit one frame
    const content = frames.map((f) => f.content).join('');
    expect(sha256(content)).toBe(worker.card.tokenizerChecksum);
    expect(new Set(frames.map((f) => f.checksum))).toEqual(new Set([worker.card.tokenizerChecksum]));
    expect(JSON.parse(content)).toHaveProperty('model');
  });

  it('streams tokens, publishes numbered KV events and answers kv_dump consistently', async () => {
    const { client, worker, events } = await sharedSetup();
    const frames = await generate(client, range(1, 10), 6);
    expect(frames.flatMap((f) => f.tokenIds)).toHaveLength(6);
    expect(frames.at(-1)?.finishReason).toBe('length');
    await generate(client, [...range(1, 8), 77, 78, 79], 3); // shares two blocks
    expect(events.length).toBeGreaterThan(0);
    expect(events.map((e) => e.eventId)).toEqual(range(0, events.length));
    for (const e of events) expect(e.workerId).toBe(worker.instanceId);
    expect(worker.lastEventId).toBe(events.length - 1);

    const dumpFrames: KvDump[] = [];
    for await (const f of client.requestPlane.call(
      await instanceOf(client, ENDPOINTS.kvDump),
      {},
      { responseSchema: kvDumpSchema },
    )) {
      dumpFrames.push(f);
    }
    expect(dumpFrames).toHaveLength(1);
    expect(dumpFrames[0]?.lastEventId).toBe(events.length - 1);
    const fromEvents = new Set<string>();
    applyEvents(
      fromEvents,
      events.map((e) => e.data),
    );
    const fromDump = new Set<string>();
    applyEvents(fromDump, dumpFrames[0]?.events ?? []);
    expect(fromDump).toEqual(fromEvents);
    // The first computed 10 + 5 tokens (3 full blocks); the second shares 2 and adds [77, 78, 79, t1].
    expect(fromDump.size).toBe(4);
  });

  it('publishes load metrics', async () => {
    const { load, worker } = await sharedSetup();
    await new Promise((r) => setTimeout(r, 30));
    expect(load.length).toBeGreaterThan(0);
    expect(load.at(-1)).toEqual({
      workerId: worker.instanceId,
      activeBlocks: 0,
      totalBlocks: 32,
      waitingRequests: 0,
      runningRequests: 0,
      pendingPrefillTokens: 0,
      prefillTokensTotal: expect.any(Number),
      prefillSeconds: expect.any(Number),
    });
    // The requests of the tests before: prompt tokens computed, in some wall time (the planner's
    // prefill correction reads these).
    expect(load.at(-1)?.prefillTokensTotal).toBeGreaterThan(0);
    expect(load.at(-1)?.prefillSeconds).toBeGreaterThan(0);
  });

  it('refuses a config with an unknown or bad field, naming it', async () => {
    const runtime = await createRuntime({ log });
    cleanups.push(() => runtime.close());
    const engine = { kind: 'mocker', tokenizerDir: defaultTokenizerDir() } as const;
    await expect(startWorker({ engine: { ...engine, speedup: 2 } as never }, runtime, log)).rejects.toThrow(
      /engine.*speedup/,
    );
    await expect(startWorker({ engine: { ...engine, numGpuBlocks: 0 } }, runtime, log)).rejects.toThrow(
      /engine\.numGpuBlocks/,
    );
    await expect(
      startWorker({ engine: { ...engine, tokenizerDir: '/nonexistent' } }, runtime, log),
    ).rejects.toThrow(/nonexistent\/tokenizer\.json/);
  });

  it('frees the blocks of a request its caller cancels', async () => {
    const { client, worker } = await setup(false, { noDelay: false, speedupRatio: 100 });
    const controller = new AbortController();
    const instance = await instanceOf(client, ENDPOINTS.generate);
    const request = {
      requestId: 'c1',
      model: 'mocker',
      tokenIds: range(1, 10),
      sampling: {},
      stop: { maxTokens: 10_000 },
    };
    let got = 0;
    await expect(async () => {
      for await (const frame of client.requestPlane.call(instance, request, { signal: controller.signal })) {
        got += (frame as GenerateResponse).tokenIds.length;
        if (got >= 2) controller.abort();
      }
    }).rejects.toThrow();
    await new Promise((r) => setImmediate(r));
    expect(worker.engine.loadMetrics()).toMatchObject({ activeBlocks: 0, runningRequests: 0 });
  });
});

describe('worker (onnx, in-memory runtime)', () => {
  it('serves the tiny model: card, tokenizer files matching it, tokens, numbered KV events', async () => {
    const hub = new MemoryHub();
    const runtime = await createRuntime({ log, memory: hub });
    const client = await createRuntime({ log, memory: hub });
    const events: KvEvent[] = [];
    await client.eventPlane.subscribe(KV_EVENTS, scope, (e) => events.push(e));
    const worker = await startWorker(
      {
        ...scope,
        modelName: 'tiny',
        engine: { kind: 'onnx', modelDir: await tinyModelDir(), totalKvBlocks: 64 },
      },
      runtime,
      log,
    );
    cleanups.push(async () => {
      await runtime.shutdown(1000);
      await worker.close();
      await client.close();
    });
    expect(worker.card).toMatchObject({ name: 'tiny', engine: 'onnx', totalKvBlocks: 64 });
    const files: ModelFile[] = [];
    for await (const f of client.requestPlane.call(
      await instanceOf(client, ENDPOINTS.modelFiles),
      { file: 'tokenizer.json' },
      { responseSchema: modelFileSchema },
    )) {
      files.push(f);
    }
    expect(sha256(files.map((f) => f.content).join(''))).toBe(worker.card.tokenizerChecksum);
    const frames = await generate(client, range(1, 40), 4);
    expect(frames.flatMap((f) => f.tokenIds)).toHaveLength(4);
    expect(events.length).toBeGreaterThan(0);
    expect(events.map((e) => e.eventId)).toEqual(range(0, events.length));
  });
});
