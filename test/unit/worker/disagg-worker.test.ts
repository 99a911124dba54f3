// Disaggregated workers (DESIGN §12) on one in-memory runtime hub, called as the frontend calls them:
// a prefill worker and a decode worker of the tiny ONNX model against an aggregated one; roles in the
// cards, phase refusals, kv_release, pin expiry and the transfer metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ENDPOINTS,
  type GenerateRequest,
  type GenerateResponse,
  generateResponseSchema,
  type Instance,
  type KvTransferDescriptor,
} from '../../../src/api/index.js';
import { seededRandom } from '../../../src/llm/seeded-random.js';
import { createRuntime, MemoryHub, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { startWorker, type Worker, type WorkerConfig } from '../../../src/worker/index.js';
import { tinyModelDir } from '../../harness/tiny-model.js';

const log = createLogger({ level: 'silent' });
const namespace = 'disagg';
const cleanups: (() => Promise<void>)[] = [];
let hub: MemoryHub;
let client: Runtime;
let modelDir: string;

beforeAll(async () => {
  modelDir = await tinyModelDir();
  hub = new MemoryHub();
  client = await createRuntime({ log, memory: hub });
}, 120_000);
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await client.close();
});

async function worker(component: string, extra: Partial<WorkerConfig> = {}) {
  const runtime = await createRuntime({ log, memory: hub });
  const w = await startWorker(
    {
      namespace,
      component,
      modelName: 'tiny',
      engine: { kind: 'onnx', modelDir, totalKvBlocks: 64, threads: 1 },
      ...extra,
    },
    runtime,
    log,
  );
  cleanups.push(async () => {
    await runtime.shutdown(1000);
    await w.close();
  });
  return { worker: w, runtime };
}

async function instanceOf(
  w: Worker,
  component: string,
  endpoint: string = ENDPOINTS.generate,
): Promise<Instance> {
  const found = (await client.discovery.list({ namespace, component, endpoint })).find(
    (i) => i.instanceId === w.instanceId,
  );
  if (!found) throw new Error(`no ${endpoint} instance of ${component}`);
  return found;
}

function prompt(seed: number, length: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length }, () => Math.floor(random() * 151_000));
}

async function call(instance: Instance, request: GenerateRequest): Promise<GenerateResponse[]> {
  const frames: GenerateResponse[] = [];
  for await (const f of client.requestPlane.call(instance, request, {
    responseSchema: generateResponseSchema,
  }))
    frames.push(f);
  return frames;
}

function request(tokenIds: number[], maxTokens: number, disagg?: GenerateRequest['disagg']): GenerateRequest {
  return {
    requestId: `r${Math.random()}`,
    model: 'tiny',
    tokenIds,
    sampling: {},
    stop: { maxTokens },
    ...(disagg === undefined ? {} : { disagg }),
  };
}

const tokensOf = (frames: readonly GenerateResponse[]) => frames.flatMap((f) => f.tokenIds);

describe('disaggregated workers (onnx, in-memory runtime)', () => {
  it('prefill worker + decode worker answer what an aggregated worker answers; pins are released', async () => {
    const agg = await worker('agg');
    const pre = await worker('prefill', { disaggregationMode: 'prefill' });
    const dec = await worker('decode', { disaggregationMode: 'decode' });
    expect(pre.worker.card).toMatchObject({
      disaggregationMode: 'prefill',
      kvDataPlane: { kind: 'memory' },
      kvLayout: { numLayers: 4, dtype: 'float32' },
    });
    expect(dec.worker.card.disaggregationMode).toBe('decode');
    expect(dec.worker.card.kvDataPlane).toBeUndefined();
    expect(agg.worker.card).toMatchObject({ disaggregationMode: 'agg', kvDataPlane: { kind: 'memory' } });
    const registered = await client.discovery.modelCard(
      { namespace, component: 'prefill', endpoint: ENDPOINTS.generate },
      pre.worker.instanceId,
    );
    expect(registered).toMatchObject({
      disaggregationMode: 'prefill',
      kvDataPlane: pre.worker.card.kvDataPlane,
    });

    const prompts = [prompt(1, 45), prompt(2, 12), prompt(3, 64)];
    const results = await Promise.all(
      prompts.map(async (p) => {
        const expected = tokensOf(await call(await instanceOf(agg.worker, 'agg'), request(p, 7)));
        const prefill = await call(
          await instanceOf(pre.worker, 'prefill'),
          request(p, 7, { phase: 'prefill' }),
        );
        const last = prefill.at(-1) as GenerateResponse;
        const descriptor = last.transfer as KvTransferDescriptor;
        expect(descriptor.instanceId).toBe(pre.worker.instanceId);
        expect(descriptor.address).toEqual(pre.worker.card.kvDataPlane);
        const first = last.tokenIds[0] as number;
        const decode = await call(
          await instanceOf(dec.worker, 'decode'),
          request(p, 7, { phase: 'decode', firstTokenId: first, descriptor }),
        );
        return { expected, got: [first, ...tokensOf(decode)] };
      }),
    );
    for (const r of results) expect(r.got).toEqual(r.expected);
    expect(pre.worker.engine.loadMetrics().activeBlocks).toBe(0);
    expect(dec.worker.engine.loadMetrics().activeBlocks).toBe(0);

    const metrics = await dec.runtime.metrics.registry.metrics();
    expect(metrics).toMatch(
      /dynamo_component_kv_transfer_pulls_total\{[^}]*dynamo_component="decode"[^}]*\} 3/,
    );
    const pins = await pre.runtime.metrics.registry.metrics();
    expect(pins).toMatch(/dynamo_component_kv_pinned_transfers\{[^}]*\} 0/);
  }, 60_000);

  it('roles refuse the other phase; kv_release drops a pin (unknown handles are fine); pins expire', async () => {
    const pre = await worker('prefill2', { disaggregationMode: 'prefill', kvPinTtlMs: 200 });
    const dec = await worker('decode2', { disaggregationMode: 'decode' });
    const p = prompt(9, 40);
    await expect(
      call(await instanceOf(dec.worker, 'decode2'), request(p, 3, { phase: 'prefill' })),
    ).rejects.toThrow(/decode worker/);
    const frames = await call(await instanceOf(pre.worker, 'prefill2'), request(p, 3, { phase: 'prefill' }));
    const descriptor = frames.at(-1)?.transfer as KvTransferDescriptor;
    await expect(
      call(
        await instanceOf(pre.worker, 'prefill2'),
        request(p, 3, { phase: 'decode', firstTokenId: 1, descriptor }),
      ),
    ).rejects.toThrow(/prefill worker/);
    expect(pre.worker.engine.loadMetrics().activeBlocks).toBeGreaterThan(0);
    const release = await instanceOf(pre.worker, 'prefill2', ENDPOINTS.kvRelease);
    for (const handle of [descriptor.handle, descriptor.handle, 'never-issued']) {
      const answer: unknown[] = [];
      for await (const f of client.requestPlane.call(release, { handle })) answer.push(f);
      expect(answer).toEqual([]);
    }
    expect(pre.worker.engine.loadMetrics().activeBlocks).toBe(0);
    // Nobody pulls or releases this one: its TTL does.
    await call(await instanceOf(pre.worker, 'prefill2'), request(p, 3, { phase: 'prefill' }));
    expect(pre.worker.engine.loadMetrics().activeBlocks).toBeGreaterThan(0);
    while (pre.worker.engine.loadMetrics().activeBlocks > 0) await new Promise((r) => setTimeout(r, 20));
    expect(
      await client.discovery.list({ namespace, component: 'decode2', endpoint: ENDPOINTS.kvRelease }),
    ).toEqual([]);
  }, 60_000);
});
