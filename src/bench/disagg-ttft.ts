// What disaggregation adds to one request's latency (part of `npm run bench:kv-transfer`): the same
// frontend in front of one aggregated ONNX worker, then of a prefill and a decode worker whose KV moves
// over the TCP data plane (sockets on loopback, as between two pods), the tiny model either way. Each
// request is a fresh prompt of `promptTokens` random token ids (no prefix-cache hit anywhere), alone,
// streamed; measured: the time to the first token (the prefill worker answers it) and to the second
// (the decode worker's first, after it pulled the prompt's KV and recomputed the tail).
import { startFrontend } from '../frontend/index.js';
import { createRuntime, type Logger, MemoryHub, type Runtime } from '../runtime/index.js';
import { startWorker, type Worker, type WorkerConfig } from '../worker/index.js';
import { type Stats, stats } from './load-generator.js';

export interface DisaggTtftOptions {
  modelDir: string;
  promptTokens: number;
  requests: number;
  log: Logger;
}

export interface TokenTimes {
  firstTokenMs: Stats;
  secondTokenMs: Stats;
}

export interface DisaggTtftReport {
  promptTokens: number;
  requests: number;
  agg: TokenTimes;
  disagg: TokenTimes;
  /** Medians, disaggregated minus aggregated. */
  addedFirstTokenMs: number;
  addedSecondTokenMs: number;
}

/** Token ids in an ordinary range of the Qwen3 vocabulary, distinct per seed. */
function randomPrompt(seed: number, length: number): number[] {
  let s = seed * 2654435761;
  return Array.from({ length }, () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0;
    return 1000 + ((s >>> 0) % 90_000);
  });
}

/** One streamed completion; the times (from sending) at which its first and second tokens arrived. */
async function timeTokens(url: string, prompt: number[]): Promise<[number, number]> {
  const start = performance.now();
  const response = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tiny', prompt, max_tokens: 3, ignore_eos: true, stream: true }),
  });
  if (!response.ok || response.body === null)
    throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  const times: number[] = [];
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of response.body) {
    buffered += decoder.decode(chunk as Uint8Array, { stream: true });
    let end = buffered.indexOf('\n\n');
    while (end >= 0) {
      const event = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      if (event.startsWith('data: {') && times.length < 2) times.push(performance.now() - start);
      end = buffered.indexOf('\n\n');
    }
  }
  if (times.length < 2) throw new Error('fewer than two token events in the stream');
  return [times[0] as number, times[1] as number];
}

async function measure(
  roles: { mode: 'agg' | 'prefill' | 'decode'; component: string }[],
  o: DisaggTtftOptions,
  seedBase: number,
): Promise<TokenTimes> {
  const hub = new MemoryHub();
  const runtimes: Runtime[] = [];
  const workers: Worker[] = [];
  const runtime = async () => {
    const r = await createRuntime({ log: o.log, memory: hub, kvDataPlane: { tcp: true } });
    runtimes.push(r);
    return r;
  };
  try {
    for (const role of roles) {
      const config: WorkerConfig = {
        modelName: 'tiny',
        component: role.component,
        disaggregationMode: role.mode,
        engine: { kind: 'onnx', modelDir: o.modelDir, threads: 1 },
      };
      workers.push(await startWorker(config, await runtime(), o.log));
    }
    const frontend = await startFrontend(
      {
        host: '127.0.0.1',
        port: 0,
        migrationLimit: 0,
        busyStatusCode: 529,
        bodyLimitBytes: 1 << 24,
        disagg: { maxLocalPrefillLength: 0 },
      },
      await runtime(),
      o.log,
    );
    try {
      for (
        let i = 0;
        i < 200 && (frontend.app.services.registry.get('tiny')?.instances.size ?? 0) < roles.length;
        i++
      )
        await new Promise((r) => setTimeout(r, 10));
      await timeTokens(frontend.url, randomPrompt(seedBase - 1, o.promptTokens)); // warm-up
      const first: number[] = [];
      const second: number[] = [];
      for (let i = 0; i < o.requests; i++) {
        const [a, b] = await timeTokens(frontend.url, randomPrompt(seedBase + i, o.promptTokens));
        first.push(a);
        second.push(b);
      }
      return { firstTokenMs: stats(first), secondTokenMs: stats(second) };
    } finally {
      await frontend.close();
    }
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all(runtimes.map((r) => r.close()));
  }
}

export async function measureDisaggTtft(o: DisaggTtftOptions): Promise<DisaggTtftReport> {
  const agg = await measure([{ mode: 'agg', component: 'backend' }], o, 1_000);
  const disagg = await measure(
    [
      { mode: 'prefill', component: 'prefill' },
      { mode: 'decode', component: 'backend' },
    ],
    o,
    2_000,
  );
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    promptTokens: o.promptTokens,
    requests: o.requests,
    agg,
    disagg,
    addedFirstTokenMs: round(disagg.firstTokenMs.p50 - agg.firstTokenMs.p50),
    addedSecondTokenMs: round(disagg.secondTokenMs.p50 - agg.secondTokenMs.p50),
  };
}
