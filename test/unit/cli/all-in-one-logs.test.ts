// `dynamo run` in one process (startAllInOne, mocker workers): it resolves once the frontend routes to
// the workers, and every JSON log line of a session — startup, requests, stop — has each key once
// (pino repeats a key that a child logger binds again: `component` did, issue 21 item 6).
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AllInOne, startAllInOne } from '../../../src/cli/all-in-one.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { defaultTokenizerDir } from '../../../src/worker/index.js';
import { Lines, topLevelKeys } from '../frontend/log-lines.js';

describe('dynamo run logs', () => {
  const out = new Lines();
  let d: AllInOne;
  let routableAtStart = false;

  beforeAll(async () => {
    d = await startAllInOne(
      {
        workers: 2,
        worker: { engine: { kind: 'mocker', tokenizerDir: defaultTokenizerDir(), speedupRatio: 100 } },
        frontend: {
          host: '127.0.0.1',
          port: 0,
          migrationLimit: 0,
          busyStatusCode: 529,
          bodyLimitBytes: 1 << 20,
        },
        gracefulShutdownMs: 1000,
      },
      createLogger({ level: 'debug', destination: out, pretty: false }),
    );
    routableAtStart = d.frontend.app.services.registry.get(d.modelName)?.routable === true;
  });
  afterAll(() => d.stop());

  it('is ready when it resolves', () => {
    expect(routableAtStart).toBe(true);
  });

  it('writes no line with a repeated key', async () => {
    const client = new OpenAI({ baseURL: `${d.frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    await client.chat.completions.create({
      model: d.modelName,
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 4,
    });
    const stream = await client.completions.create({
      model: d.modelName,
      prompt: 'Hi',
      max_tokens: 4,
      stream: true,
    });
    for await (const _ of stream);
    await d.stop();
    expect(out.lines.length).toBeGreaterThan(10);
    expect(out.records().some((r) => r.msg === 'request completed' && r.service === 'frontend')).toBe(true);
    const repeated = out.lines.filter((l) => {
      const keys = topLevelKeys(l);
      return new Set(keys).size !== keys.length;
    });
    expect(repeated).toEqual([]);
  });
});
