// Benchmark of admission control (`npm run bench:overload`): a frontend and mocker workers of a known
// capacity (`--workers` × `--max-num-seqs` sequences, default admission settings) in a child process
// (so that its RSS is the server's own), driven from this process over HTTP:
//
//   normal (--normal-s at --normal-load × capacity)   → normal p99 of admitted requests
//   burst  (--burst-s at --overload × capacity)       → admitted p99, time to answer a rejected request
//                                                       (429/503/529), other errors, RSS growth
//   recovery (normal load, 1 s windows)               → seconds until a window's p99 is back within
//                                                       1.5× the normal p99
//   slow clients (--slow-s at normal load, without and with --slow-clients connections that read
//   nothing: half send half a request and stall, half send a streamed request and never read)
//                                                     → p99 with them over p99 without
//
// Capacity in requests/s is measured, not assumed: a closed loop of exactly `workers × maxNumSeqs`
// clients for a few seconds. Open-loop arrivals at a constant rate. Prints progress lines, then one
// JSON object as the last line, with `ratios` (goals: admittedP99OverNormal ≤ 3, rejectP99Ms ≤ 50,
// rssGrowthMiB ≤ 200, otherErrors 0, recoverSeconds ≤ 10, slowClientsP99Ratio ≤ 2).
import { fork } from 'node:child_process';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startFrontend } from '../frontend/index.js';
import { createRuntime, MemoryHub } from '../runtime/index.js';
import { createLogger } from '../runtime/logger.js';
import { defaultTokenizerDir, startWorker } from '../worker/index.js';

const { values } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    workers: { type: 'string', default: '2' },
    'max-num-seqs': { type: 'string', default: '4' },
    'max-tokens': { type: 'string', default: '32' },
    'prompt-tokens': { type: 'string', default: '128' },
    'normal-load': { type: 'string', default: '0.5' },
    overload: { type: 'string', default: '3' },
    'normal-s': { type: 'string', default: '10' },
    'burst-s': { type: 'string', default: '60' },
    'recovery-s': { type: 'string', default: '20' },
    'slow-s': { type: 'string', default: '10' },
    'slow-clients': { type: 'string', default: '500' },
  },
});
const WORKERS = Number(values.workers);
const MAX_NUM_SEQS = Number(values['max-num-seqs']);
const MAX_TOKENS = Number(values['max-tokens']);
const PROMPT_TOKENS = Number(values['prompt-tokens']);
const MODEL = 'bench';

/** Child: the server under test. Tells the parent its port, answers RSS requests. */
async function serve(): Promise<void> {
  const log = createLogger({ level: 'warn' });
  const hub = new MemoryHub();
  const runtimes = [];
  for (let i = 0; i < WORKERS; i++) {
    const runtime = await createRuntime({ log, memory: hub });
    runtimes.push(runtime);
    await startWorker(
      {
        modelName: MODEL,
        engine: { kind: 'mocker', tokenizerDir: defaultTokenizerDir(), maxNumSeqs: MAX_NUM_SEQS },
      },
      runtime,
      log,
    );
  }
  const frontendRuntime = await createRuntime({ log, memory: hub });
  const frontend = await startFrontend(
    { host: '127.0.0.1', port: 0, migrationLimit: 0, busyStatusCode: 529, bodyLimitBytes: 8 * 1024 * 1024 },
    frontendRuntime,
    log,
  );
  for (let i = 0; i < 100 && frontend.app.services.registry.get(MODEL)?.instances.size !== WORKERS; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  process.on('message', (m) => {
    if (m === 'rss') process.send?.({ rss: process.memoryUsage().rss });
    if (m === 'stop') process.exit(0);
  });
  process.send?.({ port: frontend.port });
}

interface Outcome {
  /** Send time, ms since the bench started. */
  at: number;
  ms: number;
  status: number;
}

let seq = 0;
function body(stream: boolean): string {
  // Distinct prompts: no prefix-cache hits make some requests cheaper than others.
  const base = (seq++ * 7919) % 100_000;
  const prompt = Array.from({ length: PROMPT_TOKENS }, (_, i) => (base + i * 31) % 100_000);
  return JSON.stringify({ model: MODEL, prompt, max_tokens: MAX_TOKENS, ignore_eos: true, stream });
}

const T0 = performance.now();
const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

function send(port: number): Promise<Outcome> {
  const at = performance.now() - T0;
  const data = body(false);
  return new Promise((resolve) => {
    const req = request(
      {
        agent,
        port,
        host: '127.0.0.1',
        method: 'POST',
        path: '/v1/completions',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ at, ms: performance.now() - T0 - at, status: res.statusCode ?? 0 }));
        res.on('error', () => resolve({ at, ms: performance.now() - T0 - at, status: -1 }));
      },
    );
    req.on('error', () => resolve({ at, ms: performance.now() - T0 - at, status: -1 }));
    req.end(data);
  });
}

/** Open loop: `rate` requests/s for `seconds`, at constant spacing. */
async function openLoop(port: number, rate: number, seconds: number): Promise<Outcome[]> {
  const total = Math.round(rate * seconds);
  const start = performance.now();
  const pending: Promise<Outcome>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(send(port));
  }
  return Promise.all(pending);
}

/** Closed loop of `clients` for `seconds`: completed requests per second. */
async function capacity(port: number, clients: number, seconds: number): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) if ((await send(port)).status === 200) done++;
    }),
  );
  return done / seconds;
}

function p99(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] as number;
}

const REJECT = new Set([429, 503, 529]);
const admitted = (o: Outcome[]) => o.filter((x) => x.status === 200).map((x) => x.ms);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Connections that read nothing: half a request that never ends, or a stream never read. */
function slowClients(port: number, n: number): Socket[] {
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    if (i % 2 === 0) {
      s.write('POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n');
    } else {
      const data = body(true);
      s.write(
        `POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(data)}\r\n\r\n${data}`,
      );
    }
    s.pause();
    sockets.push(s);
  }
  return sockets;
}

async function main(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), [...process.argv.slice(2), '--serve'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`the server exited (${code})`)));
  });
  const rss = () =>
    new Promise<number>((resolve) => {
      child.once('message', (m) => resolve((m as { rss: number }).rss));
      child.send('rss');
    });
  const say = (line: string) => console.log(`[${((performance.now() - T0) / 1000).toFixed(1)} s] ${line}`);
  try {
    const seqs = WORKERS * MAX_NUM_SEQS;
    await capacity(port, seqs, 2); // warm-up
    const cap = await capacity(port, seqs, 5);
    say(`capacity ${cap.toFixed(1)} requests/s (${WORKERS} workers × ${MAX_NUM_SEQS} sequences)`);
    const normalRate = cap * Number(values['normal-load']);
    const burstRate = cap * Number(values.overload);

    const normal = await openLoop(port, normalRate, Number(values['normal-s']));
    const normalP99 = p99(admitted(normal));
    say(`normal load ${normalRate.toFixed(1)}/s: p99 ${normalP99.toFixed(1)} ms, ${normal.length} requests`);

    const rssBefore = await rss();
    let rssMax = rssBefore;
    const sampler = setInterval(() => {
      void rss().then((r) => {
        rssMax = Math.max(rssMax, r);
      });
    }, 500);
    const burst = await openLoop(port, burstRate, Number(values['burst-s']));
    const burstEnd = performance.now() - T0;
    clearInterval(sampler);
    rssMax = Math.max(rssMax, await rss());
    const burstAdmitted = admitted(burst);
    const rejected = burst.filter((x) => REJECT.has(x.status)).map((x) => x.ms);
    const other = [...normal, ...burst].filter((x) => x.status !== 200 && !REJECT.has(x.status));
    say(
      `burst ${burstRate.toFixed(1)}/s: ${burstAdmitted.length} admitted (p99 ${p99(burstAdmitted).toFixed(1)} ms), ${rejected.length} rejected (p99 ${p99(rejected).toFixed(1)} ms), ${other.length} other errors`,
    );

    const recovery = await openLoop(port, normalRate, Number(values['recovery-s']));
    other.push(...recovery.filter((x) => x.status !== 200 && !REJECT.has(x.status)));
    let recoverSeconds = Number.NaN;
    for (let w = 0; w * 1000 < Number(values['recovery-s']) * 1000; w++) {
      const window = recovery.filter((x) => x.at >= burstEnd + w * 1000 && x.at < burstEnd + (w + 1) * 1000);
      const ok = admitted(window);
      if (ok.length > 0 && ok.length === window.length && p99(ok) <= normalP99 * 1.5) {
        recoverSeconds = w;
        break;
      }
    }
    say(`recovered in ${recoverSeconds} s`);

    const slowS = Number(values['slow-s']);
    const without = await openLoop(port, normalRate, slowS);
    const sockets = slowClients(port, Number(values['slow-clients']));
    await new Promise((r) => setTimeout(r, 2000));
    const withSlow = await openLoop(port, normalRate, slowS);
    for (const s of sockets) s.destroy();
    const slowRatio = p99(admitted(withSlow)) / p99(admitted(without));
    say(
      `slow clients: p99 ${p99(admitted(without)).toFixed(1)} ms without, ${p99(admitted(withSlow)).toFixed(1)} ms with ${sockets.length}`,
    );
    other.push(...[...without, ...withSlow].filter((x) => x.status !== 200 && !REJECT.has(x.status)));

    const result = {
      bench: 'overload',
      workers: WORKERS,
      maxNumSeqs: MAX_NUM_SEQS,
      capacityPerS: round(cap, 1),
      normalRatePerS: round(normalRate, 1),
      burstRatePerS: round(burstRate, 1),
      burstS: Number(values['burst-s']),
      normalP99Ms: round(normalP99, 1),
      burstAdmitted: burstAdmitted.length,
      burstRejected: rejected.length,
      burstAdmittedP99Ms: round(p99(burstAdmitted), 1),
      otherErrorStatuses: [...new Set(other.map((x) => x.status))],
      rssBeforeMiB: round(rssBefore / 2 ** 20, 1),
      rssMaxMiB: round(rssMax / 2 ** 20, 1),
      ratios: {
        admittedP99OverNormal: round(p99(burstAdmitted) / normalP99),
        rejectP99Ms: round(p99(rejected), 1),
        rssGrowthMiB: round((rssMax - rssBefore) / 2 ** 20, 1),
        otherErrors: other.length,
        recoverSeconds,
        slowClientsP99Ratio: round(slowRatio),
      },
    };
    console.log(JSON.stringify(result));
  } finally {
    agent.destroy();
    child.send('stop');
  }
}

if (values.serve) await serve();
else await main();
