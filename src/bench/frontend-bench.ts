// Benchmark of the frontend (`npm run bench:frontend`): requests/s and latency of streamed chat
// completions of 64 tokens through the whole frontend (validation, chat template, tokenizer, routing,
// request plane, zero-delay mocker worker, incremental detokenizer, SSE), against a bare fastify
// server in the same process that streams the very same SSE bytes (captured from the frontend),
// yielding to the event loop between chunks as any token stream does. Rounds alternate between the
// two so that machine noise hits both; the ratio is the median of the ratios of adjacent rounds.
// Prints progress lines, then one JSON object as the last line.
//
// Tool-call row: the same request with `tools` (the model's Qwen3 template → the hermes parser on every
// delta, besides the reasoning parser every request of this model runs), in the same rounds; its
// throughput over the plain row is `ratios.toolCallOverPlain`.
//
// Structured-output row: the same request with a `json_schema` response_format (an object with one
// string): the frontend checks the schema, the mocker compiles it once (XGrammar, cached) and draws
// each token under its mask, so all 64 tokens are the JSON (cut by max_tokens inside the string: a
// maxLength bound would end it, but XGrammar compiles maxLength 200 in ~30 s). The warm-up pays the
// compile. `ratios.structuredOverPlain`.
//
// Added latency: p50 / p99 of a request alone (concurrency 1), frontend minus bare server.
// cpuMsPerRequest: CPU time of the whole process (load generator included) per request, a figure the
// machine's other load disturbs less than requests/s.
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { startFrontend } from '../frontend/index.js';
import { createRuntime, MemoryHub } from '../runtime/index.js';
import { createLogger } from '../runtime/logger.js';
import { defaultTokenizerDir, startWorker } from '../worker/index.js';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '1.5' },
    rounds: { type: 'string', default: '6' },
    'latency-requests': { type: 'string', default: '300' },
    tokens: { type: 'string', default: '64' },
  },
});
const CONCURRENCY = Number(values.concurrency);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const LATENCY_REQUESTS = Number(values['latency-requests']);
const TOKENS = Number(values.tokens);
const MODEL = 'bench';

const log = createLogger({ level: 'warn' });
const request0 = {
  model: MODEL,
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'Write a short poem about the sea.' },
  ],
  max_tokens: TOKENS,
  ignore_eos: true,
  stream: true,
};
const body = JSON.stringify(request0);
const toolBody = JSON.stringify({
  ...request0,
  tools: [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    },
  ],
});

const structuredBody = JSON.stringify({
  ...request0,
  response_format: {
    type: 'json_schema',
    json_schema: {
      name: 'poem',
      schema: {
        type: 'object',
        properties: { poem: { type: 'string' } },
        required: ['poem'],
        additionalProperties: false,
      },
    },
  },
});

interface Target {
  name: string;
  port: number;
  body?: string;
}

/** One streamed request, read to the end; resolves to its latency in ms and its bytes. */
function once(agent: Agent, port: number, payload = body): Promise<{ ms: number; text: string }> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}: ${text.slice(0, 300)}`));
          else resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, text });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** CPU ms (user + system, the whole process: client, server, worker) per request, per target. */
const cpuPerRequest: Record<string, number[]> = {
  bareFastify: [],
  frontend: [],
  toolCall: [],
  structured: [],
};

async function throughput(target: Target): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const deadline = Date.now() + SECONDS * 1000;
  let done = 0;
  const startNs = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < deadline) {
        await once(agent, target.port, target.body);
        done++;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - startNs) / 1e9;
  const used = process.cpuUsage(cpu);
  cpuPerRequest[target.name]?.push((used.user + used.system) / 1000 / done);
  agent.destroy();
  return done / seconds;
}

async function latencies(target: Target): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const out: number[] = [];
  for (let i = 0; i < LATENCY_REQUESTS; i++) out.push((await once(agent, target.port, target.body)).ms);
  agent.destroy();
  return out.sort((a, b) => a - b);
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const round = (x: number, digits = 3) => Number(x.toFixed(digits));

async function main(): Promise<void> {
  const hub = new MemoryHub();
  const workerRuntime = await createRuntime({ log, memory: hub });
  const worker = await startWorker(
    {
      modelName: MODEL,
      engine: { kind: 'mocker', tokenizerDir: defaultTokenizerDir(), noDelay: true },
    },
    workerRuntime,
    log,
  );
  const frontendRuntime = await createRuntime({ log, memory: hub });
  const frontend = await startFrontend(
    { host: '127.0.0.1', port: 0, migrationLimit: 0, busyStatusCode: 529, bodyLimitBytes: 8 * 1024 * 1024 },
    frontendRuntime,
    log,
  );
  for (let i = 0; i < 50 && frontend.app.services.registry.get(MODEL)?.instances.size !== 1; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }

  // The bare server replays what the frontend streams for this request, chunk by chunk.
  const warm = new Agent({ keepAlive: true });
  const sample = (await once(warm, frontend.port)).text;
  warm.destroy();
  const events = sample.split(/(?<=\n\n)/);
  const tokenChunks = events.filter((e) => e.includes('"content":"') && !e.includes('"role"')).length;
  if (tokenChunks < TOKENS * 0.9)
    throw new Error(`expected about ${TOKENS} token chunks, got ${tokenChunks}`);
  const bare = Fastify();
  bare.post('/v1/chat/completions', async (req, reply) => {
    if ((req.body as { stream?: boolean }).stream !== true) throw new Error('bench sends stream: true');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    for (const event of events) {
      res.write(event);
      await new Promise((r) => setImmediate(r));
    }
    res.end();
  });
  await bare.listen({ host: '127.0.0.1', port: 0 });
  const barePort = (bare.server.address() as { port: number }).port;

  const targets: Target[] = [
    { name: 'bareFastify', port: barePort },
    { name: 'frontend', port: frontend.port },
    { name: 'toolCall', port: frontend.port, body: toolBody },
    { name: 'structured', port: frontend.port, body: structuredBody },
  ];
  const rps: Record<string, number[]> = { bareFastify: [], frontend: [], toolCall: [], structured: [] };
  const ratios: number[] = [];
  const toolRatios: number[] = [];
  const structuredRatios: number[] = [];
  for (const t of targets) await throughput(t); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const got: Record<string, number> = {};
    for (const t of r % 2 === 0 ? targets : [...targets].reverse()) {
      got[t.name] = await throughput(t);
      rps[t.name]?.push(got[t.name] as number);
    }
    ratios.push((got.frontend ?? 0) / (got.bareFastify ?? 1));
    toolRatios.push((got.toolCall ?? 0) / (got.frontend ?? 1));
    structuredRatios.push((got.structured ?? 0) / (got.frontend ?? 1));
    const line = {
      round: r,
      frontend: round(got.frontend ?? 0, 1),
      toolCall: round(got.toolCall ?? 0, 1),
      structured: round(got.structured ?? 0, 1),
      bareFastify: round(got.bareFastify ?? 0, 1),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
  const lat: Record<string, number[]> = {};
  for (const t of targets) lat[t.name] = await latencies(t);

  await bare.close();
  await frontend.close();
  await worker.close();
  await workerRuntime.close();
  await frontendRuntime.close();

  const summary = (name: string) => ({
    requestsPerSecond: round(median(rps[name] ?? []), 1),
    cpuMsPerRequest: round(median(cpuPerRequest[name] ?? [])),
    p50Ms: round(pct(lat[name] ?? [], 50)),
    p99Ms: round(pct(lat[name] ?? [], 99)),
  });
  const f = summary('frontend');
  const b = summary('bareFastify');
  process.stdout.write(
    `${JSON.stringify({
      bench: 'frontend',
      tokensPerRequest: TOKENS,
      concurrency: CONCURRENCY,
      secondsPerRound: SECONDS,
      rounds: ROUNDS,
      frontend: f,
      toolCall: summary('toolCall'),
      structured: summary('structured'),
      bareFastify: b,
      addedLatencyMs: { p50: round(f.p50Ms - b.p50Ms), p99: round(f.p99Ms - b.p99Ms) },
      ratios: {
        throughputOverBareFastify: round(median(ratios)),
        toolCallOverPlain: round(median(toolRatios)),
        structuredOverPlain: round(median(structuredRatios)),
      },
    })}\n`,
  );
}

await main();
