// The planner's Prometheus input against a real Prometheus scraping a real frontend (in-process
// `dynamo run` with a mocker worker): the interval's request rate, mean ISL/OSL, TTFT/ITL and KV hit
// rate come back known, and a model without traffic or an unreachable server come back unknown.
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { type AllInOne, startAllInOne } from '../../../src/cli/all-in-one.js';
import { DEFAULT_BODY_LIMIT_BYTES } from '../../../src/frontend/index.js';
import { PrometheusClient } from '../../../src/planner/prometheus.js';
import { PrometheusTraffic } from '../../../src/planner/traffic.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { defaultTokenizerDir } from '../../../src/worker/index.js';
import { waitFor } from '../../harness/dynamo-process.js';
import { freePort } from '../../harness/process.js';
import { PrometheusServer } from '../../harness/prometheus-server.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

const log = createLogger({ level: 'silent' });
let deployment: AllInOne | undefined;
let prometheus: PrometheusServer | undefined;
afterAll(async () => {
  await prometheus?.stop();
  await deployment?.stop();
});

describe('planner Prometheus input', () => {
  it('reads one interval of a frontend’s traffic; unknown where there is none', async () => {
    deployment = await startAllInOne(
      {
        workers: 1,
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
    const d = deployment;
    const client = new OpenAI({ baseURL: `${d.frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    await waitFor(async () => (await fetch(`${d.frontend.url}/health`)).ok, 'the frontend to see the worker');
    const ask = () =>
      client.chat.completions.create({
        model: d.modelName,
        messages: [{ role: 'user', content: 'Tell me about the number seven, briefly please.' }],
        max_tokens: 5,
      });
    // One request first so the series exist before Prometheus's first scrape (increase() needs a change
    // inside the window, and a series' first sample counts as its start).
    await ask();
    prometheus = new PrometheusServer(await harnessTempDir('planner-prometheus'), [
      { job: 'frontend', address: new URL(d.frontend.url).host },
    ]);
    await prometheus.start();
    const prom = prometheus;
    await waitFor(
      async () => (await prom.query('dynamo_frontend_requests_total')).length > 0,
      'a first scrape',
    );
    for (let i = 0; i < 4; i++) await ask();

    const traffic = new PrometheusTraffic(new PrometheusClient({ endpoint: prom.url }), d.modelName);
    let observed = await traffic.observe(60);
    await waitFor(async () => {
      observed = await traffic.observe(60);
      return (
        observed.requestRate.kind === 'known' &&
        observed.requestRate.value > 0 &&
        observed.osl.kind === 'known'
      );
    }, 'Prometheus to see the requests');
    expect(observed.requestRate.kind).toBe('known');
    // Means are ratios of increases over the same scrapes: exact, whatever the extrapolation.
    expect(observed.osl).toEqual({ kind: 'known', value: 5 });
    expect(observed.isl.kind === 'known' && observed.isl.value).toBeGreaterThan(5);
    expect(observed.ttftMs.kind).toBe('known');
    expect(observed.itlMs.kind).toBe('known');
    expect(observed.kvHitRate.kind === 'known' && observed.kvHitRate.value).toBeGreaterThanOrEqual(0);

    const other = await new PrometheusTraffic(
      new PrometheusClient({ endpoint: prom.url }),
      'no-such-model',
    ).observe(60);
    expect(other.requestRate).toMatchObject({ kind: 'unknown', reason: 'no_data' });
    expect(other.isl).toMatchObject({ kind: 'unknown', reason: 'no_data' });

    const down = await new PrometheusTraffic(
      new PrometheusClient({ endpoint: `http://127.0.0.1:${await freePort()}`, timeoutMs: 2000 }),
      d.modelName,
    ).observe(60);
    expect(down.requestRate).toMatchObject({ kind: 'unknown', reason: 'unreachable' });
    // A bad query is an HTTP/API error, not a crash.
    expect(await new PrometheusClient({ endpoint: prom.url }).scalar('sum(')).toMatchObject({
      kind: 'unknown',
      reason: 'http_error',
    });
  });
});
