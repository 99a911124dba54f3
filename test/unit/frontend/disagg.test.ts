// Disaggregated serving through the frontend (DESIGN §12), in one process over the in-memory runtime and
// KV data plane, with the openai SDK as the client: the model's prefill and decode sets, remote prefill
// with the KV moved, local prefill counted by reason (and refused under --disagg-strict), the ONNX
// engine's greedy output identical aggregated and disaggregated, and a prefill worker that dies between
// its prefill and the decode worker's pull.
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { type AllInOne, type AllInOneConfig, startAllInOne } from '../../../src/cli/all-in-one.js';
import { DEFAULT_BODY_LIMIT_BYTES, type DisaggOptions, startFrontend } from '../../../src/frontend/index.js';
import { createRuntime, MemoryHub } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { defaultTokenizerDir, startWorker, type WorkerConfig } from '../../../src/worker/index.js';
import { tinyModelDir } from '../../harness/tiny-model.js';

const log = createLogger({ level: 'silent' });
const LONG = 'Tell me everything about the history of the number seven, in detail. '.repeat(6);

const deployments: AllInOne[] = [];
afterEach(async () => {
  await Promise.all(deployments.splice(0).map((d) => d.stop()));
});

async function deploy(
  worker: WorkerConfig,
  shape: { workers?: number; prefill?: number; decode?: number },
  disagg: Partial<DisaggOptions> = {},
  migrationLimit = 0,
): Promise<{ d: AllInOne; client: OpenAI; metrics: () => Promise<string> }> {
  const config: AllInOneConfig = {
    workers: shape.workers ?? 1,
    ...(shape.decode === undefined
      ? {}
      : { disagg: { prefillWorkers: shape.prefill ?? 0, decodeWorkers: shape.decode } }),
    worker,
    frontend: {
      host: '127.0.0.1',
      port: 0,
      migrationLimit,
      busyStatusCode: 529,
      bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES,
      disagg: { maxLocalPrefillLength: 0, ...disagg },
    },
    gracefulShutdownMs: 1000,
  };
  const d = await startAllInOne(config, log);
  deployments.push(d);
  const services = d.frontend.app.services;
  const expected = (shape.prefill ?? 0) + (shape.decode ?? shape.workers ?? 1);
  for (let i = 0; i < 500 && (services.registry.get(d.modelName)?.instances.size ?? 0) < expected; i++)
    await new Promise((r) => setTimeout(r, 10));
  const client = new OpenAI({ baseURL: `${d.frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  return { d, client, metrics: () => services.metrics.registry.metrics() };
}

const mocker = (extra: Partial<Extract<WorkerConfig['engine'], { kind: 'mocker' }>> = {}): WorkerConfig => ({
  engine: { kind: 'mocker', tokenizerDir: defaultTokenizerDir(), blockSize: 16, noDelay: true, ...extra },
});

function counter(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labels))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

const ask = (client: OpenAI, model: string, content: string, max_tokens = 12) =>
  client.chat.completions.create({
    model,
    messages: [{ role: 'user', content }],
    max_tokens,
    temperature: 0,
  });

describe('disaggregated serving on the mocker', () => {
  it('groups the prefill and decode sets of one model and prefills on the prefill worker', async () => {
    const { d, client, metrics } = await deploy(mocker(), { prefill: 1, decode: 1 });
    const health = (await (await fetch(`${d.frontend.url}/health`)).json()) as {
      instances: { disaggregation_mode: string; component: string }[];
      disaggregation: { model: string; prefill_workers: number; decode_workers: number }[];
    };
    expect(health.instances.map((i) => `${i.component}:${i.disaggregation_mode}`).sort()).toEqual([
      'backend:decode',
      'prefill:prefill',
    ]);
    expect(health.disaggregation).toEqual([
      expect.objectContaining({ model: d.modelName, prefill_workers: 1, decode_workers: 1 }),
    ]);

    const unary = await ask(client, d.modelName, LONG, 12);
    expect(unary.choices[0]?.finish_reason).toBe('length');
    expect(unary.usage?.completion_tokens).toBe(12);
    const stream = await client.chat.completions.create({
      model: d.modelName,
      messages: [{ role: 'user', content: LONG }],
      max_tokens: 9,
      stream: true,
      stream_options: { include_usage: true },
    });
    let completion = 0;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) completion = chunk.usage.completion_tokens;
    }
    expect({ finish, completion }).toEqual({ finish: 'length', completion: 9 });
    const text = await metrics();
    expect(counter(text, 'dynamo_frontend_disagg_remote_prefill_total')).toBe(2);
    expect(counter(text, 'dynamo_frontend_disagg_local_prefill_total')).toBe(0);
  });

  it('prefills locally, counted, without a prefill worker; --disagg-strict answers 503 instead', async () => {
    const lenient = await deploy(mocker(), { prefill: 0, decode: 1 });
    expect((await ask(lenient.client, lenient.d.modelName, LONG)).choices[0]?.finish_reason).toBe('length');
    expect(
      counter(
        await lenient.metrics(),
        'dynamo_frontend_disagg_local_prefill_total',
        'reason="no_prefill_worker"',
      ),
    ).toBe(1);
    const health = (await (await fetch(`${lenient.d.frontend.url}/health`)).json()) as {
      disaggregation: { local_prefills: Record<string, number> }[];
    };
    expect(health.disaggregation[0]?.local_prefills).toMatchObject({ no_prefill_worker: 1 });

    const strict = await deploy(mocker(), { prefill: 0, decode: 1 }, { strict: true });
    const err = await ask(strict.client, strict.d.modelName, LONG).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err).toMatchObject({ status: 503, code: 'disagg_unavailable' });
  });

  it('prefills a prompt on the decode worker when its uncached part is short', async () => {
    const { d, client, metrics } = await deploy(
      mocker(),
      { prefill: 1, decode: 1 },
      { maxLocalPrefillLength: 100_000 },
    );
    await ask(client, d.modelName, LONG);
    const text = await metrics();
    expect(counter(text, 'dynamo_frontend_disagg_local_prefill_total', 'reason="short_prompt"')).toBe(1);
    expect(counter(text, 'dynamo_frontend_disagg_remote_prefill_total')).toBe(0);
  });

  it('completes a request whose prefill worker dies before the decode worker pulls (prefills again)', async () => {
    // A slow simulated transfer holds the decode worker in its pull long enough to kill the prefill worker.
    const slow = mocker({ noDelay: false, speedupRatio: 1000, kvTransferBandwidth: 0.00002 });
    const { d, client, metrics } = await deploy(slow, { prefill: 1, decode: 1 }, {}, 2);
    const answer = ask(client, d.modelName, LONG, 8);
    for (
      let i = 0;
      i < 1000 && counter(await metrics(), 'dynamo_frontend_disagg_remote_prefill_total') === 0;
      i++
    )
      await new Promise((r) => setTimeout(r, 5));
    const prefillWorker = d.workers.find((w) => w.card.disaggregationMode === 'prefill');
    await prefillWorker?.close();
    const response = await answer;
    expect(response.choices[0]?.finish_reason).toBe('length');
    expect(response.usage?.completion_tokens).toBe(8);
    const text = await metrics();
    expect(counter(text, 'dynamo_frontend_model_migration_total', 'migration_type="kv_transfer"')).toBe(1);
  });
  it('migrates a stream whose decode worker dies to another decode worker, prefilled again', async () => {
    const paced = mocker({ noDelay: false, speedupRatio: 20 });
    const { d, client, metrics } = await deploy(paced, { prefill: 1, decode: 2 }, {}, 2);
    const stream = await client.chat.completions.create({
      model: d.modelName,
      messages: [{ role: 'user', content: LONG }],
      max_tokens: 40,
      stream: true,
      stream_options: { include_usage: true },
    });
    let chunks = 0;
    let completion = 0;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content !== undefined && ++chunks === 5) {
        // Kill the decode worker that is streaming it.
        const busy = d.workers.find(
          (w) => w.card.disaggregationMode === 'decode' && w.engine.loadMetrics().runningRequests > 0,
        );
        expect(busy).toBeDefined();
        await busy?.close();
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) completion = chunk.usage.completion_tokens;
    }
    expect({ finish, completion }).toEqual({ finish: 'length', completion: 40 });
    const text = await metrics();
    expect(counter(text, 'dynamo_frontend_model_migration_total', 'migration_type="ongoing_request"')).toBe(
      1,
    );
    expect(counter(text, 'dynamo_frontend_disagg_remote_prefill_total')).toBe(2);
  });

  it('releases the prefill pin when the client goes away before the decode worker pulled', async () => {
    const slow = mocker({ noDelay: false, speedupRatio: 1000, kvTransferBandwidth: 0.00002 });
    const { d, client } = await deploy(slow, { prefill: 1, decode: 1 });
    const prefill = d.workers.find((w) => w.card.disaggregationMode === 'prefill')?.engine as unknown as {
      pinCount: number;
    };
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: d.modelName, messages: [{ role: 'user', content: LONG }], max_tokens: 8, stream: true },
      { signal: controller.signal },
    );
    // The first token comes from the prefill worker; the decode worker is still in its (slow) pull.
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content !== undefined) break;
    }
    expect(prefill.pinCount).toBe(1);
    controller.abort();
    for (let i = 0; i < 500 && prefill.pinCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(prefill.pinCount).toBe(0);
  });
});

describe('instance sets', () => {
  it('routes to every component that serves a model, not only the first that registered', async () => {
    const hub = new MemoryHub();
    const stops: (() => Promise<void>)[] = [];
    try {
      const workerRuntimes = [];
      for (const component of ['backend', 'backend2']) {
        const runtime = await createRuntime({ log, memory: hub });
        const worker = await startWorker({ component, ...mocker() }, runtime, log);
        stops.push(
          () => worker.close(),
          () => runtime.close(),
        );
        workerRuntimes.push(runtime);
      }
      const runtime = await createRuntime({ log, memory: hub });
      const frontend = await startFrontend(
        { host: '127.0.0.1', port: 0, migrationLimit: 0, busyStatusCode: 529, bodyLimitBytes: 1 << 20 },
        runtime,
        log,
      );
      stops.unshift(
        () => frontend.close(),
        () => runtime.close(),
      );
      const model = () => frontend.app.services.registry.get('mocker');
      for (let i = 0; i < 500 && (model()?.instances.size ?? 0) < 2; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(model()?.sets.size).toBe(2);
      const client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      // Distinct prompts: nothing cached pulls them to one worker.
      await Promise.all(
        Array.from({ length: 24 }, (_, i) => ask(client, 'mocker', `question ${i}: ${'why '.repeat(i)}`, 2)),
      );
      // Each worker's own count of the generate requests it served.
      const served = await Promise.all(
        workerRuntimes.map(async (r) =>
          counter(
            await r.metrics.registry.metrics(),
            'dynamo_component_requests_total',
            'dynamo_endpoint="generate"',
          ),
        ),
      );
      expect(served.reduce((a, b) => a + b, 0)).toBe(24);
      expect(Math.min(...served)).toBeGreaterThanOrEqual(3);
    } finally {
      for (const stop of stops) await stop();
    }
  });
});

describe('disaggregated serving on the ONNX engine', () => {
  it('gives the same greedy output as aggregated serving, alone and batched, streamed and not', async () => {
    const onnx: WorkerConfig = {
      modelName: 'tiny',
      engine: { kind: 'onnx', modelDir: await tinyModelDir(), threads: 1 },
    };
    const prompts = [LONG, `${LONG} And then?`, 'Hi!', `${LONG.slice(0, 150)} Why?`];
    const run = async (shape: { workers?: number; prefill?: number; decode?: number }) => {
      const { client, metrics } = await deploy(onnx, shape);
      const alone = (await ask(client, 'tiny', prompts[0] as string, 20)).choices[0]?.message.content;
      const batched = await Promise.all(
        prompts.map(async (p) => (await ask(client, 'tiny', p, 20)).choices[0]?.message.content),
      );
      const stream = await client.chat.completions.create({
        model: 'tiny',
        messages: [{ role: 'user', content: prompts[1] as string }],
        max_tokens: 20,
        temperature: 0,
        stream: true,
      });
      let streamed = '';
      for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? '';
      // Again: now the decode worker caches a prefix of it, and pulls only the rest.
      const cached = (await ask(client, 'tiny', prompts[1] as string, 20)).choices[0]?.message.content;
      const text = await metrics();
      const remote = counter(text, 'dynamo_frontend_disagg_remote_prefill_total');
      const local = counter(text, 'dynamo_frontend_disagg_local_prefill_total', 'reason="short_prompt"');
      return { texts: { alone, batched, streamed, cached }, remote, local };
    };
    const aggregated = await run({ workers: 1 });
    const disaggregated = await run({ prefill: 1, decode: 1 });
    expect(disaggregated.texts).toEqual(aggregated.texts);
    // Each of the 7 requests was prefilled on the prefill worker, but for a prompt the decode worker
    // already held whole (block-aligned: nothing left to move, --max-local-prefill-length 0).
    expect(aggregated.remote).toBe(0);
    expect(disaggregated.remote + disaggregated.local).toBe(7);
    expect(disaggregated.remote).toBeGreaterThanOrEqual(4);
    expect(aggregated.texts.streamed).toBe(aggregated.texts.batched[1]);
  }, 120_000);
});

describe('dynamo run metrics', () => {
  it("serves the workers' dynamo_component_* series on the frontend's /metrics", async () => {
    const { d, client } = await deploy(mocker(), { workers: 2 });
    await ask(client, d.modelName, 'hello');
    await ask(client, d.modelName, 'again');
    const text = await (await fetch(`${d.frontend.url}/metrics`)).text();
    // Both workers serve the same endpoint, so their series add up (one process, one registry).
    expect(counter(text, 'dynamo_component_requests_total', 'endpoint="generate"')).toBeGreaterThanOrEqual(2);
    expect(text).toContain('dynamo_frontend_requests_total');
  });
});
