// The frontend over the distributed runtime (etcd discovery, NATS request plane) in front of real
// `dynamo worker --engine mocker` processes, with the openai SDK as the client; and migration: a
// worker killed (SIGKILL) mid-stream, the stream completes on another worker.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Frontend, startFrontend } from '../../../src/frontend/index.js';
import { createRuntime, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { tinyModelDir } from '../../harness/tiny-model.js';
import { spawnWorker, type WorkerProcess } from '../../harness/worker-process.js';

const log = createLogger({ level: 'silent' });
const namespace = `ftest${process.pid}`;
const MODEL = 'mocker';

let runtime: Runtime;
let frontend: Frontend;
let client: OpenAI;
const workers: WorkerProcess[] = [];

const instances = () => frontend.app.services.registry.get(MODEL)?.instances.size ?? 0;
async function until(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(check()).toBe(true);
}

beforeAll(async () => {
  runtime = await createRuntime({
    log,
    etcdEndpoints: [inject('etcdEndpoint')],
    natsServer: inject('natsUrl'),
  });
  frontend = await startFrontend(
    {
      host: '127.0.0.1',
      port: 0,
      namespace,
      migrationLimit: 3,
      busyStatusCode: 529,
      bodyLimitBytes: 1 << 20,
    },
    runtime,
    log,
  );
  client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  // About 6 ms a token: a long stream lasts long enough to kill its worker in the middle.
  workers.push(await spawnWorker(namespace, ['--engine', 'mocker', '--speedup-ratio', '1']));
  await until(() => instances() === 1);
}, 120_000);

afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  await frontend?.close();
  await runtime?.close();
});

describe('frontend over etcd + NATS with mocker workers', () => {
  it('answers chat and completions, streamed and not, with usage', async () => {
    const chat = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Tell me about the sea.' }],
      max_tokens: 20,
      // @ts-expect-error vLLM's extension, not in the SDK's types
      ignore_eos: true,
    });
    expect(chat.choices[0]?.finish_reason).toBe('length');
    expect(chat.usage?.completion_tokens).toBe(20);
    expect(chat.usage?.prompt_tokens).toBeGreaterThan(5);
    expect(chat.choices[0]?.message.content?.length).toBeGreaterThan(0);

    const stream = await client.completions.create({
      model: MODEL,
      prompt: 'Once upon a time',
      max_tokens: 16,
      stream: true,
      stream_options: { include_usage: true },
      // @ts-expect-error vLLM's extension
      ignore_eos: true,
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(finish).toBe('length');
    expect(usage?.completion_tokens).toBe(16);
  });

  it('reports cached prompt tokens when a prompt repeats', async () => {
    const messages = [{ role: 'user' as const, content: 'word '.repeat(400) }];
    await client.chat.completions.create({ model: MODEL, messages, max_tokens: 2 });
    const again = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 2 });
    expect(again.usage?.prompt_tokens_details?.cached_tokens).toBeGreaterThan(0);
  });

  it('moves a stream whose worker is killed to another worker: the client sees one stream', async () => {
    const MAX = 2000;
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'A long story, please.' }],
      max_tokens: MAX,
      stream: true,
      stream_options: { include_usage: true },
      // @ts-expect-error vLLM's extension
      ignore_eos: true,
    });
    let chunks = 0;
    let killed = false;
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      chunks++;
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
      if (chunks === 20 && !killed) {
        killed = true;
        // A second worker joins; then the one serving the stream (the only one until now) dies.
        workers.push(await spawnWorker(namespace, ['--engine', 'mocker', '--speedup-ratio', '20']));
        await until(() => instances() === 2);
        workers[0]?.child.kill('SIGKILL');
      }
    }
    expect(killed).toBe(true);
    expect(finish).toBe('length');
    expect(usage?.completion_tokens).toBe(MAX);
    const metrics = await frontend.app.services.metrics.registry.metrics();
    expect(metrics).toMatch(
      /dynamo_frontend_model_migration_total\{model="mocker",migration_type="ongoing_request"\} 1/,
    );
  }, 120_000);
});

describe('frontend over etcd + NATS with a tiny-ONNX worker', () => {
  it('serves the tiny model next to the mocker: the same greedy text streamed and not', async () => {
    const modelDir = await tinyModelDir();
    workers.push(
      await spawnWorker(namespace, [
        '--engine',
        'onnx',
        '--model-dir',
        modelDir,
        '--model-name',
        'tiny',
        '--component',
        'onnx',
        '--threads',
        '1',
      ]),
    );
    await until(() => (frontend.app.services.registry.get('tiny')?.instances.size ?? 0) === 1);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id).sort()).toEqual(['mocker', 'tiny']);
    const request = {
      model: 'tiny',
      messages: [{ role: 'user' as const, content: 'Hello there, tiny model.' }],
      max_tokens: 6,
      temperature: 0,
    };
    const unary = await client.chat.completions.create(request);
    expect(unary.usage?.completion_tokens).toBeGreaterThan(0);
    const stream = await client.chat.completions.create({ ...request, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(unary.choices[0]?.message.content);
  }, 120_000);
});
