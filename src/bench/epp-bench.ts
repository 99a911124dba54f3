// Benchmark of the endpoint picker (`npm run bench:epp`): what a pick costs through `dynamo epp`'s ext_proc
// gRPC server (headers + a BUFFERED 4k-token chat body in, the destination out: JSON, zod, chat template,
// WASM tokenizer, KV router, pool join, protobuf, HTTP/2) against the frontend's router making the same
// decisions in the same process with no gRPC (JSON, zod, chat template, tokenizer, Router.route), on
// mocker workers of an in-memory runtime, approximate mode (the routers index their own decisions).
//
// perDecision: rounds rotate five rows, one decision at a time, each one asked for by a client in its
//   own thread (as Envoy is its own process): a pick through the gRPC server; the EPP's picker called
//   in-process and the frontend's path (both on a worker-thread message, which costs next to nothing);
//   and the transport's floor, trivial ext_proc servers answering the same two messages without
//   picking, one on grpc-js and one of gRPC framing alone on node:http2 (what dropping grpc-js could at
//   best save). Every row is paced the same way — the picker's thread idles between decisions, as it
//   does between gRPC picks — because a decision made right after the previous one, caches warm, costs
//   0.04–0.12 ms less CPU than one made after an idle gap: back-to-back rows would charge that to the
//   EPP (`routerBackToBackCpuMs` shows it). A ratio is the median over rounds of the ratio of the rows'
//   median times. CPU per decision of the picker's thread (the gRPC server's work included, the
//   client's not) is reported too: on a loaded machine the wall-clock round trip mostly measures waiting
//   for a core.
// At rate: --rate picks/s offered open-loop for --seconds over --streams concurrent gRPC streams; p50 /
//   p99 of a pick's latency (request sent → answer read), and the rate achieved.
// Prints progress lines, then one JSON object as the last line.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import {
  isMainThread,
  MessageChannel,
  type MessagePort,
  parentPort,
  Worker,
  workerData,
} from 'node:worker_threads';
import {
  type Client,
  credentials,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type ServerDuplexStream,
} from '@grpc/grpc-js';
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
// No replica sync: the EPP's router and the frontend's here serve the same workers in one process, and
// with sync each would count the other's decisions and do the other's sync work during its rows.
const ROUTER: RouterSettings = {
  ...DEFAULT_ROUTER_SETTINGS,
  useKvEvents: false,
  busyThreshold: null,
  replicaSync: false,
};

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

/**
 * One pick over a fresh ext_proc stream, as Envoy sends it: the headers, and once they are answered
 * (Envoy's default; `send_body_without_waiting_for_header_response` is off) the whole body.
 */
function pickOnce(client: ExtProcClient, body: Buffer): Promise<number> {
  const started = nowMs();
  return new Promise((resolve, reject) => {
    const stream: Stream = client.Process();
    let answers = 0;
    stream.on('data', (r: ProcessingResponse) => {
      answers++;
      if (r.immediate_response !== undefined) reject(new Error(`immediate response ${JSON.stringify(r)}`));
      if (answers === 1) stream.write({ request_body: { body, end_of_stream: true } });
      else {
        const ms = nowMs() - started;
        stream.end();
        resolve(ms);
      }
    });
    stream.on('error', reject);
    stream.write({
      request_headers: { headers: { headers: [{ key: ':method', raw_value: Buffer.from('POST') }] } },
    });
  });
}

/** The gRPC servers the client thread picks from. */
type Target = 'epp' | 'floor' | 'h2floor';

/** Requests to the client thread, and its answers. */
type ClientCommand =
  /** gRPC picks, one at a time, from the EPP or a floor server. */
  | { cmd: 'picks'; target: Target; indices: number[] }
  /** In-process decisions: each index posted on the pacing port, the next once it is answered. */
  | { cmd: 'paced'; indices: number[] }
  | { cmd: 'rate'; rate: number; seconds: number; streams: number }
  | { cmd: 'close' };
type ClientAnswer =
  | { times: number[] }
  | { paced: true }
  | { latencies: number[]; failed: number; elapsedS: number };

interface ClientData {
  ports: Record<Target, number>;
  bodies: Uint8Array[];
  pace: MessagePort;
}

/**
 * The gRPC client runs in a thread of its own (as Envoy is a process of its own), so its HTTP/2 and
 * protobuf work is not on the picker's event loop.
 */
async function clientThread({ ports, bodies: shared, pace }: ClientData): Promise<void> {
  const bodies = shared.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  const Ctor = makeGenericClientConstructor(EXT_PROC_SERVICE, 'ExternalProcessor');
  const connect = (port: number) =>
    new Ctor(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as ExtProcClient;
  const clients = {
    epp: connect(ports.epp),
    floor: connect(ports.floor),
    h2floor: connect(ports.h2floor),
  };
  const client = clients.epp;
  parentPort?.on('message', async (msg: ClientCommand) => {
    if (msg.cmd === 'close') {
      for (const c of Object.values(clients)) c.close();
      pace.close();
      parentPort?.close();
      return;
    }
    if (msg.cmd === 'picks') {
      const times: number[] = [];
      for (const i of msg.indices) times.push(await pickOnce(clients[msg.target], bodies[i] as Buffer));
      parentPort?.postMessage({ times } satisfies ClientAnswer);
      return;
    }
    if (msg.cmd === 'paced') {
      for (const i of msg.indices) {
        const answered = once(pace, 'message');
        pace.postMessage(i);
        await answered;
      }
      parentPort?.postMessage({ paced: true } satisfies ClientAnswer);
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
  const floor = await startGrpcFloor();
  const h2floor = await startHttp2Floor();
  const pace = new MessageChannel();
  const thread = new Worker(new URL(import.meta.url), {
    workerData: {
      ports: { epp: epp.port, floor: floor.port, h2floor: h2floor.port },
      bodies: all,
      pace: pace.port2,
    } satisfies ClientData,
    transferList: [pace.port2],
  });
  const ask = async (command: ClientCommand) => {
    thread.postMessage(command);
    const [answer] = (await once(thread, 'message')) as [ClientAnswer];
    return answer;
  };
  const picks = async (target: Target, indices: number[]) => {
    const answer = await ask({ cmd: 'picks', target, indices });
    if (!('times' in answer)) throw new Error('the client thread answered something else');
    return answer.times;
  };
  // In-process decisions, each one when the client thread asks (see the header: same pacing as gRPC).
  let pacedRow: 'picker' | 'router' = 'router';
  let pacedSamples: number[] = [];
  pace.port1.on('message', async (i: number) => {
    pacedSamples.push(await timeOne(pacedRow, all[i] as Buffer));
    pace.port1.postMessage(null);
  });
  const paced = async (row: 'picker' | 'router', indices: number[]) => {
    pacedRow = row;
    pacedSamples = [];
    const answer = await ask({ cmd: 'paced', indices });
    if (!('paced' in answer)) throw new Error('the client thread answered something else');
    return pacedSamples;
  };
  const timeOne = async (row: 'picker' | 'router', body: Buffer): Promise<number> => {
    if (row === 'router') return decide(body);
    const t0 = nowMs();
    const outcome = await epp.picker.pick({ requestId: randomUUID(), body, headers: {}, subset: undefined });
    if (outcome.kind === 'routed') outcome.release();
    return nowMs() - t0;
  };
  // Warm-up (the EPP fetches the tokenizer on its first pick).
  const first = Array.from({ length: 20 }, (_, i) => i);
  await picks('epp', first);
  await picks('floor', first);
  await picks('h2floor', first);
  await paced('picker', first);
  await paced('router', first);
  EppMetrics.for(eppRuntime.metrics.registry).pickDuration.reset();

  // Five rows, rotated per round: the gRPC pick, the EPP's picker called in-process (the same code
  // without ext_proc), the frontend's path, and the transport's floor (no pick) on grpc-js and on bare
  // node:http2.
  type Row = Target | 'picker' | 'router';
  const ROWS: Row[] = ['epp', 'picker', 'router', 'floor', 'h2floor'];
  const times: Record<Row, number[]> = { epp: [], picker: [], router: [], floor: [], h2floor: [] };
  // CPU of this thread (the picker's; the client has its own) per decision: what a loaded machine's
  // waiting does not inflate.
  const cpuMs: Record<Row, number[]> = { epp: [], picker: [], router: [], floor: [], h2floor: [] };
  const cpuRatios: number[] = [];
  const ratios: number[] = [];
  const pickerRatios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const indices = Array.from({ length: PICKS }, (_, i) => (r % 4) * PICKS + i);
    const got: Partial<Record<Row, number>> = {};
    for (let i = 0; i < ROWS.length; i++) {
      const row = ROWS[(i + r) % ROWS.length] as Row;
      const cpu = process.threadCpuUsage();
      const samples =
        row === 'picker' || row === 'router' ? await paced(row, indices) : await picks(row, indices);
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
        floorMs: round(got.floor ?? 0),
        h2floorMs: round(got.h2floor ?? 0),
      }),
    );
  }
  // The router's decisions back to back (caches warm), for comparison with the paced rows.
  const backToBack = process.threadCpuUsage();
  for (let i = 0; i < PICKS; i++) decide(all[i] as Buffer);
  const backToBackUsed = process.threadCpuUsage(backToBack);

  // The server's own view of the gRPC picks, body end to answer: a mean (the histogram has no median).
  const insideMs = (await meanSeconds(eppRuntime, 'dynamo_epp_pick_duration_seconds')) * 1000;

  // Open loop at RATE picks/s over STREAMS concurrent streams.
  const rate = await ask({ cmd: 'rate', rate: RATE, seconds: SECONDS, streams: STREAMS });
  if (!('latencies' in rate)) throw new Error('the client thread answered something else');
  const { failed, elapsedS } = rate;
  const latencies = [...rate.latencies].sort((a, b) => a - b);

  thread.postMessage({ cmd: 'close' } satisfies ClientCommand);
  await once(thread, 'exit');
  pace.port1.close();
  floor.close();
  h2floor.close();
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
        floorPickMs: round(median(times.floor)),
        h2floorPickMs: round(median(times.h2floor)),
        eppCpuMs: round(median(cpuMs.epp)),
        pickerCpuMs: round(median(cpuMs.picker)),
        routerCpuMs: round(median(cpuMs.router)),
        floorCpuMs: round(median(cpuMs.floor)),
        h2floorCpuMs: round(median(cpuMs.h2floor)),
        routerBackToBackCpuMs: round((backToBackUsed.user + backToBackUsed.system) / 1000 / PICKS),
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

const FLOOR_ADDRESS = '10.0.0.1:8000';
/** What the floor servers answer to a body: a destination, as the EPP's answer carries. */
const FLOOR_PICK: ProcessingResponse = {
  request_body: {
    response: {
      header_mutation: {
        set_headers: [
          { header: { key: 'x-gateway-destination-endpoint', raw_value: Buffer.from(FLOOR_ADDRESS) } },
        ],
      },
      clear_route_cache: true,
    },
  },
  dynamic_metadata: {
    fields: {
      'envoy.lb': {
        struct_value: { fields: { 'x-gateway-destination-endpoint': { string_value: FLOOR_ADDRESS } } },
      },
    },
  },
};
const floorAnswer = (msg: ProcessingRequest): ProcessingResponse =>
  msg.request_headers !== undefined ? { request_headers: { response: {} } } : FLOOR_PICK;

/**
 * The transport's floor on grpc-js: an ext_proc server that answers the same two messages as the EPP
 * (CONTINUE to the headers, a destination to the body) without picking.
 */
async function startGrpcFloor(): Promise<{ port: number; close(): void }> {
  const server = new Server();
  server.addService(EXT_PROC_SERVICE, {
    Process: (call: ServerDuplexStream<ProcessingRequest, ProcessingResponse>) => {
      call.on('data', (msg: ProcessingRequest) => call.write(floorAnswer(msg)));
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  return { port, close: () => server.forceShutdown() };
}

/**
 * The same floor with no gRPC library: gRPC's framing (a 5-byte prefix per message, grpc-status in the
 * trailers) straight on node:http2, and nothing else (no content-type, compression, size or deadline
 * checks). What a hand-made server could at best save over grpc-js.
 */
async function startHttp2Floor(): Promise<{ port: number; close(): void }> {
  const { requestDeserialize, responseSerialize } = EXT_PROC_SERVICE.Process as {
    requestDeserialize: (b: Buffer) => ProcessingRequest;
    responseSerialize: (v: ProcessingResponse) => Buffer;
  };
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    let pending: Buffer = Buffer.alloc(0);
    stream.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
        const end = 5 + pending.readUInt32BE(1);
        const answer = responseSerialize(floorAnswer(requestDeserialize(pending.subarray(5, end))));
        const frame = Buffer.allocUnsafe(5 + answer.length);
        frame[0] = 0;
        frame.writeUInt32BE(answer.length, 1);
        answer.copy(frame, 5);
        stream.write(frame);
        pending = pending.subarray(end);
      }
    });
    stream.on('end', () => stream.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

if (isMainThread) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  void clientThread(workerData as ClientData);
}
