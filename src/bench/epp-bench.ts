// Benchmark of the endpoint picker (`npm run bench:epp`): what a pick costs through `dynamo epp`'s ext_proc
// gRPC server (headers + a BUFFERED 4k-token chat body in, the destination out: JSON, zod, chat template,
// WASM tokenizer, KV router, pool join, protobuf, HTTP/2) against the frontend's router making the same
// decisions in the same process with no gRPC (JSON, zod, chat template, tokenizer, Router.route), on
// mocker workers of an in-memory runtime, approximate mode (the routers index their own decisions).
//
// perDecision: rounds rotate three rows, one decision at a time: a pick through the gRPC server from a
//   client in its own thread (as Envoy is its own process), the EPP's picker called in-process, and the
//   frontend's path; a ratio is the median over rounds of the ratio of the rows' median times. CPU per
//   decision of the picker's thread (the gRPC server's work included, the client's not) is reported too:
//   on a loaded machine the wall-clock round trip mostly measures waiting for a core.
// At rate: --rate picks/s offered open-loop for --seconds over --streams concurrent gRPC streams; p50 /
//   p99 of a pick's latency (request sent → answer read), and the rate achieved.
// Prints progress lines, then one JSON object as the last line.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type Client, credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import { DEFAULT_NAMESPACE, DEFAULT_WORKER_COMPONENT, ENDPOINTS } from '../api/index.js';
import { chatCompletionRequestSchema } from '../api/openai.js';
import { EXT_PROC_SERVICE, type ProcessingRequest, type ProcessingResponse } from '../epp/ext-proc-schema.js';
import { startEpp } from '../epp/index.js';
import { EppMetrics } from '../epp/metrics.js';
import type { PoolEndpoint } from '../epp/pool.js';
import { ModelRegistry } from '../frontend/model-registry.js';
import { ModelResourceCache } from '../llm/model-resources.js';
import { preprocessChat } from '../llm/preprocessor.js';
import { DEFAULT_ROUTER_SETTINGS, type RouterSettings } from '../router/index.js';
import { createRuntime, MemoryHub, type Runtime } from '../runtime/index.js';
import { createLogger } from '../runtime/logger.js';
import { defaultTokenizerDir, startWorker } from '../worker/index.js';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '8' },
    'prompt-tokens': { type: 'string', default: '4096' },
    families: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '6' },
    'picks-per-round': { type: 'string', default: '150' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '3' },
    streams: { type: 'string', default: '64' },
  },
});
const WORKERS = Number(values.workers);
const PROMPT_TOKENS = Number(values['prompt-tokens']);
const FAMILIES = Number(values.families);
const ROUNDS = Number(values.rounds);
const PICKS = Number(values['picks-per-round']);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const STREAMS = Number(values.streams);
const MODEL = 'bench';
const ROUTER: RouterSettings = { ...DEFAULT_ROUTER_SETTINGS, useKvEvents: false, busyThreshold: null };

const log = createLogger({ level: 'warn' });
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
const median = (xs: number[]) =>
  pct(
    [...xs].sort((a, b) => a - b),
    50,
  );
const round = (x: number, digits = 3) => Number(x.toFixed(digits));
const nowMs = () => performance.now();

const WORDS = ['the', 'sea', 'is', 'blue', 'and', 'wide', 'under', 'a', 'quiet', 'sky', 'of', 'grey'];

/**
 * Bodies of about PROMPT_TOKENS tokens: a system prompt shared by a family (half the tokens), then a
 * question of its own. Common English words with their space are one token each in Qwen3's tokenizer.
 */
function bodies(count: number): Buffer[] {
  const words = (seed: number, n: number) =>
    Array.from(
      { length: n },
      (_, i) => WORDS[(i * 7 + seed * 13 + Math.floor(i / 5) * seed) % WORDS.length],
    ).join(' ');
  const half = Math.floor(PROMPT_TOKENS / 2) - 16;
  return Array.from({ length: count }, (_, i) =>
    Buffer.from(
      JSON.stringify({
        model: MODEL,
        messages: [
          { role: 'system', content: `Family ${i % FAMILIES}. ${words(i % FAMILIES, half)}` },
          { role: 'user', content: `Question ${i}. ${words(i + FAMILIES, half)}` },
        ],
        max_tokens: 16,
      }),
    ),
  );
}

/** Mean of a histogram (all its label sets) in the registry. */
async function meanSeconds(runtime: Runtime, name: string): Promise<number> {
  const values = (await runtime.metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  const total = (suffix: string) =>
    values
      .filter((v) => (v as { metricName?: string }).metricName === `${name}${suffix}`)
      .reduce((n, v) => n + v.value, 0);
  return total('_sum') / Math.max(1, total('_count'));
}

type Stream = ReturnType<ExtProcClient['Process']>;
interface ExtProcClient extends Client {
  Process(): import('@grpc/grpc-js').ClientDuplexStream<ProcessingRequest, ProcessingResponse>;
}

/** One pick over a fresh ext_proc stream, as Envoy sends it: headers, then the whole body. */
function pickOnce(client: ExtProcClient, body: Buffer): Promise<number> {
  const started = nowMs();
  return new Promise((resolve, reject) => {
    const stream: Stream = client.Process();
    let answers = 0;
    stream.on('data', (r: ProcessingResponse) => {
      answers++;
      if (r.immediate_response !== undefined) reject(new Error(`immediate response ${JSON.stringify(r)}`));
      if (answers === 2) {
        const ms = nowMs() - started;
        stream.end();
        resolve(ms);
      }
    });
    stream.on('error', reject);
    stream.write({
      request_headers: { headers: { headers: [{ key: ':method', raw_value: Buffer.from('POST') }] } },
    });
    stream.write({ request_body: { body, end_of_stream: true } });
  });
}

/** Requests to the client thread, and its answers. */
type ClientCommand =
  | { cmd: 'picks'; indices: number[] }
  | { cmd: 'rate'; rate: number; seconds: number; streams: number }
  | { cmd: 'close' };
type ClientAnswer = { times: number[] } | { latencies: number[]; failed: number; elapsedS: number };

/**
 * The gRPC client runs in a thread of its own (as Envoy is a process of its own), so its HTTP/2 and
 * protobuf work is not on the picker's event loop.
 */
async function clientThread(port: number, bodies: Buffer[]): Promise<void> {
  const Ctor = makeGenericClientConstructor(EXT_PROC_SERVICE, 'ExternalProcessor');
  const client = new Ctor(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as ExtProcClient;
  parentPort?.on('message', async (msg: ClientCommand) => {
    if (msg.cmd === 'close') {
      client.close();
      parentPort?.close();
      return;
    }
    if (msg.cmd === 'picks') {
      const times: number[] = [];
      for (const i of msg.indices) times.push(await pickOnce(client, bodies[i] as Buffer));
      parentPort?.postMessage({ times } satisfies ClientAnswer);
      return;
    }
    // Open loop: msg.rate picks/s offered, at most msg.streams in flight.
    const latencies: number[] = [];
    const started = nowMs();
    const deadline = started + msg.seconds * 1000;
    let sent = 0;
    let failed = 0;
    const inflight = new Set<Promise<void>>();
    while (nowMs() < deadline) {
      const due = Math.floor(((nowMs() - started) / 1000) * msg.rate);
      while (sent < due && inflight.size < msg.streams) {
        const p: Promise<void> = pickOnce(client, bodies[sent % bodies.length] as Buffer).then(
          (ms) => void latencies.push(ms),
          () => void failed++,
        );
        sent++;
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(inflight);
    parentPort?.postMessage({
      latencies,
      failed,
      elapsedS: (nowMs() - started) / 1000,
    } satisfies ClientAnswer);
  });
}

async function main(): Promise<void> {
  const hub = new MemoryHub();
  const runtimes: Runtime[] = [];
  for (let i = 0; i < WORKERS; i++) {
    const rt = await createRuntime({ log, memory: hub });
    runtimes.push(rt);
    await startWorker(
      { modelName: MODEL, engine: { kind: 'mocker', tokenizerDir: defaultTokenizerDir(), noDelay: true } },
      rt,
      log,
    );
  }
  // The pool: one endpoint per worker, keyed as the picker joins them (the data plane's name in memory).
  const eppRuntime = await createRuntime({ log, memory: hub });
  const endpoints = new Map<string, PoolEndpoint>();
  for (const rt of runtimes) {
    const card = await eppRuntime.discovery.modelCard(
      { namespace: DEFAULT_NAMESPACE, component: DEFAULT_WORKER_COMPONENT, endpoint: ENDPOINTS.generate },
      rt.instanceId,
    );
    const key = card?.kvDataPlane?.kind === 'memory' ? card.kvDataPlane.address : undefined;
    if (key === undefined) throw new Error('a worker announces no in-memory KV data plane');
    const ip = `10.0.0.${endpoints.size + 1}`;
    endpoints.set(key, { pod: `worker-${endpoints.size}`, ip, port: 8000, address: `${ip}:8000` });
  }
  const epp = await startEpp(
    {
      host: '127.0.0.1',
      port: 0,
      healthPort: null,
      failOpen: false,
      maxBodyBytes: 8 << 20,
      poolEndpoints: 'workers',
      router: ROUTER,
    },
    eppRuntime,
    { endpoints: () => endpoints, isSynced: true },
    log,
  );

  // The peer: the frontend's registry and router on their own runtime, called directly.
  const refRuntime = await createRuntime({ log, memory: hub });
  const registry = new ModelRegistry({
    runtime: refRuntime,
    resources: new ModelResourceCache(),
    router: ROUTER,
    registry: refRuntime.metrics.registry,
    log,
  });
  await registry.start(undefined);
  const served = registry.get(MODEL);
  const set = served?.sets.values().next().value;
  if (served === undefined || set === undefined) throw new Error('the model is not served');
  const resources = await registry.resourcesOf(served);
  const decide = (body: Buffer) => {
    const started = nowMs();
    const req = chatCompletionRequestSchema.parse(JSON.parse(body.toString('utf8')));
    const { tokenIds } = preprocessChat(req, served.card, resources);
    const id = randomUUID();
    void set.router.route({ requestId: id, tokenIds });
    set.router.complete(id);
    return nowMs() - started;
  };

  const all = bodies(PICKS * 4);
  const promptTokens = preprocessChat(
    chatCompletionRequestSchema.parse(JSON.parse((all[0] as Buffer).toString())),
    served.card,
    resources,
  ).tokenIds.length;
  console.log(JSON.stringify({ promptTokens, workers: WORKERS }));
  const thread = new Worker(new URL(import.meta.url), { workerData: { port: epp.port, bodies: all } });
  const ask = (command: ClientCommand) =>
    new Promise<ClientAnswer>((resolve, reject) => {
      thread.once('message', resolve);
      thread.once('error', reject);
      thread.postMessage(command);
    });
  const picks = async (indices: number[]) => {
    const answer = await ask({ cmd: 'picks', indices });
    if (!('times' in answer)) throw new Error('the client thread answered something else');
    return answer.times;
  };
  // Warm-up (the EPP fetches the tokenizer on its first pick).
  await picks(Array.from({ length: 20 }, (_, i) => i));
  for (const b of all.slice(0, 20)) decide(b);
  EppMetrics.for(eppRuntime.metrics.registry).pickDuration.reset();

  // Three rows, rotated per round: the gRPC pick, the EPP's picker called in-process (the same code
  // without ext_proc), and the frontend's path.
  type Row = 'epp' | 'picker' | 'router';
  const ROWS: Row[] = ['epp', 'picker', 'router'];
  const times: Record<Row, number[]> = { epp: [], picker: [], router: [] };
  // CPU of this thread (the picker's; the client has its own) per decision: what a loaded machine's
  // waiting does not inflate.
  const cpuMs: Record<Row, number[]> = { epp: [], picker: [], router: [] };
  const cpuRatios: number[] = [];
  const ratios: number[] = [];
  const pickerRatios: number[] = [];
  const timeOne = async (row: 'picker' | 'router', body: Buffer): Promise<number> => {
    if (row === 'router') return decide(body);
    const t0 = nowMs();
    const outcome = await epp.picker.pick({ requestId: randomUUID(), body, headers: {}, subset: undefined });
    if (outcome.kind === 'routed') outcome.release();
    return nowMs() - t0;
  };
  for (let r = 0; r < ROUNDS; r++) {
    const indices = Array.from({ length: PICKS }, (_, i) => (r % 4) * PICKS + i);
    const got: Partial<Record<Row, number>> = {};
    for (let i = 0; i < ROWS.length; i++) {
      const row = ROWS[(i + r) % ROWS.length] as Row;
      let samples: number[] = [];
      const cpu = process.threadCpuUsage();
      if (row === 'epp') samples = await picks(indices);
      else for (const i of indices) samples.push(await timeOne(row, all[i] as Buffer));
      const used = process.threadCpuUsage(cpu);
      cpuMs[row].push((used.user + used.system) / 1000 / indices.length);
      got[row] = median(samples);
      times[row].push(got[row]);
    }
    cpuRatios.push((cpuMs.epp.at(-1) ?? 0) / (cpuMs.router.at(-1) ?? 1));
    ratios.push((got.epp ?? 0) / (got.router ?? 1));
    pickerRatios.push((got.picker ?? 0) / (got.router ?? 1));
    console.log(
      JSON.stringify({
        round: r,
        eppPickMs: round(got.epp ?? 0),
        pickerMs: round(got.picker ?? 0),
        routerDecisionMs: round(got.router ?? 0),
      }),
    );
  }

  // The server's own view of the gRPC picks, body end to answer: a mean (the histogram has no median).
  const insideMs = (await meanSeconds(eppRuntime, 'dynamo_epp_pick_duration_seconds')) * 1000;

  // Open loop at RATE picks/s over STREAMS concurrent streams.
  const rate = await ask({ cmd: 'rate', rate: RATE, seconds: SECONDS, streams: STREAMS });
  if (!('latencies' in rate)) throw new Error('the client thread answered something else');
  const { failed, elapsedS } = rate;
  const latencies = [...rate.latencies].sort((a, b) => a - b);

  thread.postMessage({ cmd: 'close' } satisfies ClientCommand);
  await once(thread, 'exit');
  await epp.close();
  await registry.close();
  for (const rt of [...runtimes, eppRuntime, refRuntime]) await rt.close();

  console.log(
    JSON.stringify({
      bench: 'epp',
      promptTokens,
      workers: WORKERS,
      perDecision: {
        eppPickMs: round(median(times.epp)),
        eppInsideMeanMs: round(insideMs),
        pickerMs: round(median(times.picker)),
        routerDecisionMs: round(median(times.router)),
        eppCpuMs: round(median(cpuMs.epp)),
        routerCpuMs: round(median(cpuMs.router)),
      },
      atRate: {
        offeredPerS: RATE,
        achievedPerS: round(latencies.length / elapsedS, 1),
        failed,
        pickP50Ms: round(pct(latencies, 50)),
        pickP99Ms: round(pct(latencies, 99)),
      },
      ratios: {
        perDecisionOverRouter: round(median(ratios)),
        pickerOverRouter: round(median(pickerRatios)),
        cpuPerDecisionOverRouter: round(median(cpuRatios)),
        pickP99Ms: round(pct(latencies, 99)),
      },
    }),
  );
}

if (isMainThread) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  const { port, bodies: shared } = workerData as { port: number; bodies: Uint8Array[] };
  void clientThread(
    port,
    shared.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
  );
}
