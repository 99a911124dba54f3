// Micro-benchmark of the request plane (`npm run bench:runtime`): round-trip latency (one request,
// one response frame, end of stream) and streamed frames/s (one call, many token-sized frames: yielded
// back to back, and paced — one event-loop turn per frame, as an engine's decode steps), over NATS and
// in-process. Peer, measured in the same run on the same NATS server: a raw `nats`
// request/reply with the same payloads. Starts a private nats-server (Debian's) unless NATS_SERVER
// names one. Prints progress lines, then one JSON object as the last line.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { connect } from 'nats';
import { z } from 'zod';
import type { EndpointId } from '../api/index.js';
import { createRuntime, MemoryHub, type Runtime } from '../runtime/index.js';
import { createLogger } from '../runtime/logger.js';
import { freePort } from './free-port.js';

const { values } = parseArgs({
  options: {
    'round-trips': { type: 'string', default: '3000' },
    frames: { type: 'string', default: '200000' },
    warmup: { type: 'string', default: '300' },
  },
});
const ROUND_TRIPS = Number(values['round-trips']);
const FRAMES = Number(values.frames);
const WARMUP = Number(values.warmup);
const log = createLogger({ level: 'warn' });
const ep: EndpointId = { namespace: 'bench', component: 'backend', endpoint: 'generate' };
const request = z.object({
  tokenIds: z.array(z.number()),
  frames: z.number().int().positive(),
  /** Yield to the event loop between frames, as an engine emitting one token per step does. */
  paced: z.boolean().optional(),
});
const REQUEST = { tokenIds: Array.from({ length: 32 }, (_, i) => 1000 + i), frames: 1 };
const FRAME = { tokenIds: [4242] };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

function summary(samples: number[]): { p50Us: number; p99Us: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50Us: round(percentile(sorted, 0.5) * 1000), p99Us: round(percentile(sorted, 0.99) * 1000) };
}

const round = (x: number) => Math.round(x * 10) / 10;
const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;

async function startNats(): Promise<{ url: string; child?: ChildProcess }> {
  if (process.env.NATS_SERVER) return { url: process.env.NATS_SERVER };
  const binary = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
  const port = await freePort();
  const child = spawn(binary, ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const url = `nats://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const nc = await connect({ servers: url }).catch(() => undefined);
    if (nc) {
      await nc.close();
      return { url, child };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  throw new Error(`nats-server (${binary}) did not start`);
}

async function serveBench(worker: Runtime) {
  return worker.serveEndpoint(
    ep,
    async function* (req: z.infer<typeof request>) {
      for (let i = 0; i < req.frames; i++) {
        yield FRAME;
        if (req.paced) await new Promise((r) => setImmediate(r));
      }
    },
    { requestSchema: request },
  );
}

async function planeRoundTrips(
  caller: Runtime,
  instance: Awaited<ReturnType<typeof serveBench>>['instance'],
) {
  const samples: number[] = [];
  for (let i = 0; i < WARMUP + ROUND_TRIPS; i++) {
    const start = performance.now();
    for await (const _ of caller.requestPlane.call(instance, REQUEST)) {
      // drain
    }
    if (i >= WARMUP) samples.push(performance.now() - start);
  }
  return samples;
}

async function planeStream(
  caller: Runtime,
  instance: Awaited<ReturnType<typeof serveBench>>['instance'],
  frames: number,
  paced: boolean,
) {
  const start = performance.now();
  let n = 0;
  for await (const _ of caller.requestPlane.call(instance, { ...REQUEST, frames, paced })) n++;
  const seconds = (performance.now() - start) / 1000;
  if (n !== frames) throw new Error(`stream delivered ${n} of ${frames} frames`);
  return Math.round(frames / seconds);
}

async function rawRoundTrips(url: string): Promise<number[]> {
  const server = await connect({ servers: url });
  const client = await connect({ servers: url });
  const enc = new TextEncoder();
  const frame = enc.encode(JSON.stringify(FRAME));
  server.subscribe('bench.raw', {
    callback: (_err, msg) => {
      // As fair as the plane: parse the request, answer one frame.
      JSON.parse(new TextDecoder().decode(msg.data));
      msg.respond(frame);
    },
  });
  await server.flush();
  const body = enc.encode(JSON.stringify(REQUEST));
  const samples: number[] = [];
  for (let i = 0; i < WARMUP + ROUND_TRIPS; i++) {
    const start = performance.now();
    const reply = await client.request('bench.raw', body, { timeout: 5_000 });
    JSON.parse(new TextDecoder().decode(reply.data));
    if (i >= WARMUP) samples.push(performance.now() - start);
  }
  await client.close();
  await server.close();
  return samples;
}

async function main(): Promise<void> {
  const nats = await startNats();
  try {
    console.log(`nats: ${nats.url}; ${ROUND_TRIPS} round trips, ${FRAMES} streamed frames`);

    const hub = new MemoryHub();
    const memWorker = await createRuntime({ log, memory: hub });
    const memCaller = await createRuntime({ log, memory: hub });
    const memServed = await serveBench(memWorker);

    const natsWorker = await createRuntime({ log, natsServer: nats.url });
    const natsCaller = await createRuntime({ log, natsServer: nats.url });
    const natsServed = await serveBench(natsWorker);

    // Interleave the peers so that machine noise hits them alike.
    const raw: number[] = [];
    const overNats: number[] = [];
    const inProcess: number[] = [];
    for (let round = 0; round < 3; round++) {
      raw.push(...(await rawRoundTrips(nats.url)));
      overNats.push(...(await planeRoundTrips(natsCaller, natsServed.instance)));
      inProcess.push(...(await planeRoundTrips(memCaller, memServed.instance)));
      console.log(`round ${round + 1}/3 done`);
    }
    const natsFrames = await planeStream(natsCaller, natsServed.instance, FRAMES, false);
    const memFrames = await planeStream(memCaller, memServed.instance, FRAMES, false);
    const paced = Math.max(1, Math.floor(FRAMES / 10));
    const natsPaced = await planeStream(natsCaller, natsServed.instance, paced, true);
    const memPaced = await planeStream(memCaller, memServed.instance, paced, true);

    await Promise.all([memWorker.close(), memCaller.close(), natsWorker.close(), natsCaller.close()]);

    const rawRt = summary(raw);
    const natsRt = summary(overNats);
    const memRt = summary(inProcess);
    const result = {
      bench: 'runtime',
      roundTrips: ROUND_TRIPS * 3,
      frames: FRAMES,
      rawNats: { roundTrip: rawRt },
      nats: { roundTrip: natsRt, streamFramesPerSec: natsFrames, pacedStreamFramesPerSec: natsPaced },
      inProcess: { roundTrip: memRt, streamFramesPerSec: memFrames, pacedStreamFramesPerSec: memPaced },
      ratios: {
        natsRoundTripOverRaw: ratio(natsRt.p50Us, rawRt.p50Us),
        natsRoundTripP99OverRaw: ratio(natsRt.p99Us, rawRt.p99Us),
      },
    };
    console.log(JSON.stringify(result));
  } finally {
    nats.child?.kill();
  }
}

await main();
