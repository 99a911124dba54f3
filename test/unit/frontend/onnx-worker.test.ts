// The frontend in front of an in-process ONNX worker serving the tiny model (random weights, real Qwen3
// tokenizer and chat template), over the in-memory runtime, with the openai SDK as the client.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Frontend, startFrontend } from '../../../src/frontend/index.js';
import { createRuntime, MemoryHub, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { startWorker, type Worker } from '../../../src/worker/index.js';
import { tinyModelDir } from '../../harness/tiny-model.js';

const log = createLogger({ level: 'silent' });
let workerRuntime: Runtime;
let frontendRuntime: Runtime;
let worker: Worker;
let frontend: Frontend;
let client: OpenAI;

beforeAll(async () => {
  const hub = new MemoryHub();
  workerRuntime = await createRuntime({ log, memory: hub });
  worker = await startWorker(
    { modelName: 'tiny', engine: { kind: 'onnx', modelDir: await tinyModelDir(), threads: 1 } },
    workerRuntime,
    log,
  );
  frontendRuntime = await createRuntime({ log, memory: hub });
  frontend = await startFrontend(
    { host: '127.0.0.1', port: 0, migrationLimit: 0, busyStatusCode: 529, bodyLimitBytes: 1 << 20 },
    frontendRuntime,
    log,
  );
  client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await frontend?.close();
  await worker?.close();
  await workerRuntime?.close();
  await frontendRuntime?.close();
});

describe('frontend with the tiny ONNX model', () => {
  const messages = [
    { role: 'system' as const, content: 'You are a test model with random weights.' },
    { role: 'user' as const, content: 'Say something, anything at all, in a few words please.' },
  ];

  it('gives the same greedy text streamed and not, and reports cached prompt tokens', async () => {
    const unary = await client.chat.completions.create({
      model: 'tiny',
      messages,
      max_tokens: 8,
      temperature: 0,
      // @ts-expect-error vLLM's extension, not in the SDK's types
      ignore_eos: true,
    });
    expect(unary.choices[0]?.finish_reason).toBe('length');
    expect(unary.usage?.completion_tokens).toBe(8);
    const stream = await client.chat.completions.create({
      model: 'tiny',
      messages,
      max_tokens: 8,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
      // @ts-expect-error vLLM's extension
      ignore_eos: true,
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(unary.choices[0]?.message.content);
    // The same prompt again: its full 16-token blocks come from the prefix cache.
    expect(usage?.prompt_tokens_details?.cached_tokens).toBeGreaterThanOrEqual(16);
  });

  it('answers completions from token ids', async () => {
    const res = await client.completions.create({ model: 'tiny', prompt: [1, 2, 3, 4, 5], max_tokens: 4 });
    expect(res.usage?.prompt_tokens).toBe(5);
    expect(res.usage?.completion_tokens).toBeLessThanOrEqual(4);
    expect(['stop', 'length']).toContain(res.choices[0]?.finish_reason);
  });
});
