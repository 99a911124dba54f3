// Structured output through the frontend (issue 21 item 3), with the openai SDK as the client (its
// zodResponseFormat + chat.completions.parse helpers included): the tiny ONNX model and the mocker,
// both writing noise when left alone, answer JSON that parses and validates (Ajv) against the schema,
// unary and streamed; bad schemas are a 400 naming the field before any worker is asked; a structured
// stream whose worker dies is failed, not migrated (with migration on, a plain one is migrated).
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Frontend, startFrontend } from '../../../src/frontend/index.js';
import { createRuntime, MemoryHub, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { defaultTokenizerDir, startWorker, type Worker } from '../../../src/worker/index.js';
import { tinyModelDir } from '../../harness/tiny-model.js';
import { serveTestWorker } from './test-worker.js';

const log = createLogger({ level: 'silent' });
const SCHEMAS: Record<string, unknown>[] = [
  {
    type: 'object',
    properties: { city: { type: 'string', maxLength: 8 }, sunny: { type: 'boolean' } },
    required: ['city', 'sunny'],
    additionalProperties: false,
  },
  {
    type: 'object',
    properties: {
      level: { enum: ['low', 'mid', 'high'] },
      score: { type: 'integer', minimum: 0, maximum: 10 },
    },
    required: ['level', 'score'],
    additionalProperties: false,
  },
];

describe('structured output', () => {
  let runtimes: Runtime[];
  let workers: Worker[];
  let frontend: Frontend;
  let client: OpenAI;

  beforeAll(async () => {
    const hub = new MemoryHub();
    runtimes = await Promise.all([0, 1, 2].map(() => createRuntime({ log, memory: hub })));
    const [onnxRt, mockerRt, frontendRt] = runtimes as [Runtime, Runtime, Runtime];
    workers = [
      await startWorker(
        { modelName: 'tiny', engine: { kind: 'onnx', modelDir: await tinyModelDir(), threads: 1 } },
        onnxRt,
        log,
      ),
      await startWorker(
        { modelName: 'mock', engine: { kind: 'mocker', tokenizerDir: defaultTokenizerDir(), noDelay: true } },
        mockerRt,
        log,
      ),
    ];
    frontend = await startFrontend(
      { host: '127.0.0.1', port: 0, migrationLimit: 0, busyStatusCode: 529, bodyLimitBytes: 1 << 20 },
      frontendRt,
      log,
    );
    for (let i = 0; i < 1000; i++) {
      const r = frontend.app.services.registry;
      if (r.get('tiny')?.routable && r.get('mock')?.routable) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  }, 120_000);

  afterAll(async () => {
    await frontend?.close();
    for (const w of workers ?? []) await w.close();
    for (const r of runtimes ?? []) await r.close();
  });

  const messages = [{ role: 'user' as const, content: 'Describe the weather as JSON.' }];

  it('answers JSON valid against each schema, from both engines, unary and streamed', async () => {
    const ajv = new Ajv();
    for (const model of ['tiny', 'mock']) {
      for (const schema of SCHEMAS) {
        const validate = ajv.compile(schema);
        const response_format = {
          type: 'json_schema' as const,
          json_schema: { name: 'answer', schema, strict: true },
        };
        for (const seed of [1, 2]) {
          const unary = await client.chat.completions.create({
            model,
            messages,
            response_format,
            seed,
            temperature: 1,
            max_tokens: 100,
          });
          const text = unary.choices[0]?.message.content ?? '';
          expect(unary.choices[0]?.finish_reason, `${model}: ${text}`).toBe('stop');
          expect(validate(JSON.parse(text)), `${model}: ${text}`).toBe(true);
        }
        const stream = await client.chat.completions.create({
          model,
          messages,
          response_format,
          seed: 3,
          temperature: 1,
          max_tokens: 100,
          stream: true,
        });
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        expect(validate(JSON.parse(text)), `${model} streamed: ${text}`).toBe(true);
      }
    }
  }, 120_000);

  it("works with the SDK's zodResponseFormat and chat.completions.parse", async () => {
    const Answer = z.object({ mood: z.enum(['calm', 'busy']), count: z.number().int().min(0).max(9) });
    const parsed = await client.chat.completions.parse({
      model: 'tiny',
      messages,
      response_format: zodResponseFormat(Answer, 'answer'),
      max_tokens: 60,
    });
    const value = parsed.choices[0]?.message.parsed;
    expect(Answer.parse(value)).toEqual(value);
  }, 60_000);

  it('json_object answers a JSON object', async () => {
    const r = await client.chat.completions.create({
      model: 'tiny',
      messages,
      response_format: { type: 'json_object' },
      max_tokens: 120,
      seed: 4,
      temperature: 1,
    });
    const text = r.choices[0]?.message.content ?? '';
    expect(text.startsWith('{'), text).toBe(true);
    if (r.choices[0]?.finish_reason === 'stop') expect(typeof JSON.parse(text)).toBe('object');
  }, 60_000);

  it('refuses an invalid schema and one the grammar engine cannot compile, naming the field', async () => {
    const param = 'response_format.json_schema.schema';
    for (const schema of [
      { type: 'nonsense' },
      { type: 'object', properties: { a: { type: 'string', pattern: '(?<=a)b' } } },
      { type: 'object', required: 'a' },
    ]) {
      await expect(
        client.chat.completions.create({
          model: 'tiny',
          messages,
          response_format: { type: 'json_schema', json_schema: { name: 'x', schema } },
        }),
      ).rejects.toMatchObject({ status: 400, param });
    }
  }, 60_000);
});

describe('structured output and migration', () => {
  it('fails a structured stream whose worker dies mid-stream instead of migrating it', async () => {
    const hub = new MemoryHub();
    const frontendRt = await createRuntime({ log, memory: hub });
    const frontend = await startFrontend(
      { host: '127.0.0.1', port: 0, migrationLimit: 2, busyStatusCode: 529, bodyLimitBytes: 1 << 20 },
      frontendRt,
      log,
    );
    const seen: string[] = [];
    const workers: Runtime[] = [];
    const addWorker = async (stallAfter?: number) => {
      const rt = await createRuntime({ log, memory: hub });
      await serveTestWorker(rt, {
        reply: '{"a": 1, "b": 2, "c": 3}',
        onRequest: (r) => seen.push(r.grammar?.type ?? 'none'),
        ...(stallAfter === undefined ? {} : { stallAfter }),
      });
      workers.push(rt);
      return rt;
    };
    const instances = () => frontend.app.services.registry.get('test-model')?.instances.size ?? 0;
    const until = async (n: number) => {
      for (let i = 0; i < 500 && instances() !== n; i++) await new Promise((r) => setTimeout(r, 10));
    };
    try {
      const client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const first = await addWorker(3);
      await until(1);
      const stream = await client.chat.completions.create({
        model: 'test-model',
        messages: [{ role: 'user', content: 'Hi' }],
        response_format: { type: 'json_object' },
        stream: true,
      });
      const read = (async () => {
        for await (const _chunk of stream) {
          if (workers.length === 1) {
            await addWorker();
            await until(2);
            await first.close();
          }
        }
      })();
      await expect(read).rejects.toThrow(/worker/);
      expect(seen).toEqual(['json_object']);
    } finally {
      await frontend.close();
      for (const w of workers) await w.close();
      await frontendRt.close();
    }
  }, 30_000);
});
