// `dynamo run` wiring (startAllInOne, two mocker workers, one registry): the frontend's /metrics carries
// each worker's dynamo_component_kvstats_* and request-slot gauges, told apart by worker_id, with the
// values of that worker's engine (issue 20 item 3).
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AllInOne, startAllInOne } from '../../../src/cli/all-in-one.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { defaultTokenizerDir } from '../../../src/worker/index.js';

/** `name{...worker_id="id"...} value` lines of a scrape, as worker id → value. */
function perWorker(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const id = /worker_id="([0-9a-f]+)"/.exec(line)?.[1];
    if (id !== undefined) out.set(id, Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

describe('engine gauges under dynamo run', () => {
  let d: AllInOne;
  const scrape = async () => (await fetch(`${d.frontend.url}/metrics`)).text();

  beforeAll(async () => {
    d = await startAllInOne(
      {
        workers: 2,
        worker: {
          engine: { kind: 'mocker', tokenizerDir: defaultTokenizerDir(), numGpuBlocks: 1000, maxNumSeqs: 8 },
          loadMetricsIntervalMs: 20,
        },
        frontend: {
          host: '127.0.0.1',
          port: 0,
          migrationLimit: 0,
          busyStatusCode: 529,
          bodyLimitBytes: 1 << 20,
        },
        gracefulShutdownMs: 1000,
      },
      createLogger({ level: 'silent' }),
    );
  }, 60_000);
  afterAll(() => d.stop());

  it('reports capacity, use and prefix-cache hits per worker', async () => {
    const first = await scrape();
    const total = perWorker(first, 'dynamo_component_kvstats_total_blocks');
    expect([...total.values()]).toEqual([1000, 1000]);
    expect([...perWorker(first, 'dynamo_component_request_total_slots').values()]).toEqual([8, 8]);

    const client = new OpenAI({ baseURL: `${d.frontend.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const prompt = 'The same long prompt, twice. '.repeat(40);
    await client.completions.create({ model: d.modelName, prompt, max_tokens: 2 });
    // kv routing sends the repeat to the worker that cached it: a hit there, none on the other.
    const stream = await client.completions.create({
      model: d.modelName,
      prompt,
      max_tokens: 400,
      stream: true,
      // @ts-expect-error Dynamo's extension (nvext), accepted at the top level as vLLM does
      ignore_eos: true,
    });
    const chunks = stream[Symbol.asyncIterator]();
    await chunks.next();
    // While it decodes, its worker reports the blocks it holds.
    let active = new Map<string, number>();
    let usage = new Map<string, number>();
    for (let i = 0; i < 200 && ![...active.values()].some((v) => v > 0); i++) {
      await new Promise((r) => setTimeout(r, 20));
      const text = await scrape();
      active = perWorker(text, 'dynamo_component_kvstats_active_blocks');
      usage = perWorker(text, 'dynamo_component_kvstats_gpu_cache_usage_percent');
    }
    const busy = [...active.entries()].find(([, v]) => v > 0)?.[0];
    expect(busy).toBeDefined();
    expect(usage.get(busy as string)).toBeCloseTo((active.get(busy as string) as number) / 1000);
    for (;;) if ((await chunks.next()).done) break;

    const hits = perWorker(await scrape(), 'dynamo_component_kvstats_gpu_prefix_cache_hit_rate');
    expect(hits.size).toBe(2);
    expect(hits.get(busy as string)).toBeGreaterThan(0.3);
    const other = [...hits.keys()].find((id) => id !== busy) as string;
    expect(hits.get(other)).toBe(0);
  }, 60_000);
});
