// Structured output and logprobs under disaggregated serving (issue 21 items 3 and 4), on mocker
// workers through `startAllInOne`: the prefill worker samples the first token under the grammar and
// reports its logprobs, the decode worker's grammar starts after that token, so the JSON still
// validates and every output token has its logprobs entry.
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AllInOne, startAllInOne } from '../../../src/cli/all-in-one.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../../../src/frontend/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { defaultTokenizerDir } from '../../../src/worker/index.js';

const log = createLogger({ level: 'silent' });
const LONG = 'Tell me everything about the history of the number seven, in detail. '.repeat(6);
const SCHEMA = {
  type: 'object',
  properties: { digit: { enum: [1, 2, 3] }, ok: { type: 'boolean' } },
  required: ['digit', 'ok'],
  additionalProperties: false,
};

describe('disaggregated structured output and logprobs', () => {
  let d: AllInOne;
  let client: OpenAI;
  beforeAll(async () => {
    d = await startAllInOne(
      {
        workers: 1,
        disagg: { prefillWorkers: 1, decodeWorkers: 1 },
        worker: {
          engine: { kind: 'mocker', tokenizerDir: defaultTokenizerDir(), blockSize: 16, noDelay: true },
        },
        frontend: {
          host: '127.0.0.1',
          port: 0,
          migrationLimit: 0,
          busyStatusCode: 529,
          bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES,
          disagg: { maxLocalPrefillLength: 0 },
        },
        gracefulShutdownMs: 1000,
      },
      log,
    );
    const services = d.frontend.app.services;
    for (let i = 0; i < 500 && (services.registry.get(d.modelName)?.instances.size ?? 0) < 2; i++)
      await new Promise((r) => setTimeout(r, 10));
    client = new OpenAI({ baseURL: `${d.frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  }, 60_000);
  afterAll(() => d?.stop());

  it('keeps the grammar and the logprobs across the prefill and decode workers', async () => {
    const r = await client.chat.completions.create({
      model: d.modelName,
      messages: [{ role: 'user', content: LONG }],
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: SCHEMA } },
      logprobs: true,
      top_logprobs: 1,
      max_tokens: 60,
    });
    const text = r.choices[0]?.message.content ?? '';
    expect(r.choices[0]?.finish_reason, text).toBe('stop');
    expect(new Ajv().validate(SCHEMA, JSON.parse(text)), text).toBe(true);
    expect(r.choices[0]?.logprobs?.content).toHaveLength(r.usage?.completion_tokens ?? -1);
    const metrics = await d.frontend.app.services.metrics.registry.metrics();
    expect(metrics).toMatch(/dynamo_frontend_disagg_remote_prefill_total\{model="[^"]+"\} 1\b/);
  }, 60_000);
});
