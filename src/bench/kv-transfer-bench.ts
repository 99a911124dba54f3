// Benchmark of the TCP KV data plane (`npm run bench:kv-transfer`): a serving worker PROCESS holds KV
// blocks laid out as the ONNX engine's store holds them (per layer a K and a V array of
// [slots, kvHeads, blockSize, headDim]); this process pulls them over loopback and copies every layer
// into a store of its own, as a decode worker does. Two payloads: a 1k-token prompt of the tiny model's
// shape (4 layers, 2 KV heads, head size 16, float32, 16-token blocks: 1 MiB), pulled many times, and a
// large one (an 8B-class shape: 32 layers, 8 KV heads, head size 128, float16: 2 MiB per block).
// Peer, in the same run and between the same two processes: a bare TCP socket (node:net, one stream,
// no framing) carrying the same bytes, received into the same destination. Prints progress lines, then
// one JSON object as the last line.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BlockHash, hex64, type KvBlockLayout, kvLayerBlockBytes } from '../api/index.js';
import { ensureTinyModel, userCacheDir } from '../llm/tiny-model/tiny-model.js';
import { DEFAULT_TCP_KV_OPTIONS, type KvPullSource, TcpKvDataPlane } from '../runtime/index.js';
import { createLogger } from '../runtime/logger.js';
import { measureDisaggTtft } from './disagg-ttft.js';

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'bench' },
    'tiny-pulls': { type: 'string', default: '300' },
    'large-mib': { type: 'string', default: '256' },
    'large-rounds': { type: 'string', default: '5' },
    'ttft-requests': { type: 'string', default: '20' },
    'ttft-prompt-tokens': { type: 'string', default: '1024' },
  },
});
const TINY_PULLS = Number(values['tiny-pulls']);
const LARGE_MIB = Number(values['large-mib']);
const LARGE_ROUNDS = Number(values['large-rounds']);
const log = createLogger({ level: 'warn' });

interface Payload {
  name: 'tiny' | 'large';
  layout: KvBlockLayout;
  blocks: number;
}

const PAYLOADS: Payload[] = [
  {
    name: 'tiny',
    layout: { numLayers: 4, numKvHeads: 2, headDim: 16, dtype: 'float32', blockSize: 16 },
    blocks: 1024 / 16,
  },
  {
    name: 'large',
    layout: { numLayers: 32, numKvHeads: 8, headDim: 128, dtype: 'float16', blockSize: 16 },
    blocks: 0, // from --large-mib
  },
];
for (const p of PAYLOADS) {
  if (p.name === 'large')
    p.blocks = Math.max(
      1,
      Math.round((LARGE_MIB * 1024 * 1024) / (kvLayerBlockBytes(p.layout) * p.layout.numLayers)),
    );
}

const payloadBytes = (p: Payload) => p.blocks * p.layout.numLayers * kvLayerBlockBytes(p.layout);
const HASHES = new Map(
  PAYLOADS.map((p) => [
    p.name,
    Array.from({ length: p.blocks }, (_, i) => hex64(BigInt(i + 1)) as BlockHash),
  ]),
);
/** The sequence hashes of a payload's blocks (a decode worker has them from the descriptor). */
const hashes = (p: Payload) => HASHES.get(p.name) as BlockHash[];

/** An engine-like store: per layer a K and a V byte array of [slots, kvHeads, blockSize, headDim]. */
interface Store {
  k: Uint8Array[];
  v: Uint8Array[];
  /** Bytes of one block's K (or V) in one layer. */
  half: number;
}

function newStore(p: Payload, fill: boolean): Store {
  const half = kvLayerBlockBytes(p.layout) / 2;
  const make = () => {
    const a = new Uint8Array(half * p.blocks);
    if (fill) for (let i = 0; i < a.length; i += 4) a[i] = (i * 2654435761) >>> 24;
    return a;
  };
  return {
    k: Array.from({ length: p.layout.numLayers }, make),
    v: Array.from({ length: p.layout.numLayers }, make),
    half,
  };
}

function digest(store: Store): string {
  const h = createHash('sha256');
  for (let l = 0; l < store.k.length; l++) {
    h.update(store.k[l] as Uint8Array);
    h.update(store.v[l] as Uint8Array);
  }
  return h.digest('hex');
}

// ---- the serving worker process -------------------------------------------------------------------

async function serve(): Promise<void> {
  const stores = new Map(PAYLOADS.map((p) => [p.name, newStore(p, true)] as const));
  const plane = new TcpKvDataPlane({ log, host: '127.0.0.1' });
  const served = await plane.serve({
    lookup: (handle): KvPullSource => {
      const store = stores.get(handle as Payload['name']);
      if (!store) throw new Error(`no payload ${handle}`);
      const half = store.half;
      return {
        // Block i sits in slot i: K and V are two views of the engine's arrays, written without a copy.
        read: (block, layer) => [
          (store.k[layer] as Uint8Array).subarray(block * half, (block + 1) * half),
          (store.v[layer] as Uint8Array).subarray(block * half, (block + 1) * half),
        ],
      };
    },
    release: () => undefined,
  });
  // The peer: the same arrays down one bare socket, whole, with backpressure.
  const raw = createServer({ noDelay: true }, (socket) => {
    socket.once('data', (b: Buffer) => {
      const store = stores.get(b[0] === 0x74 ? 'tiny' : 'large') as Store;
      void (async () => {
        for (let l = 0; l < store.k.length; l++) {
          for (const array of [store.k[l], store.v[l]] as Uint8Array[]) {
            if (!socket.write(array)) await new Promise((r) => socket.once('drain', r));
          }
        }
        socket.end();
      })();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  const rawAddress = raw.address();
  if (served.address.kind !== 'tcp' || rawAddress === null || typeof rawAddress === 'string')
    throw new Error('no TCP addresses');
  const digests = Object.fromEntries([...stores].map(([name, store]) => [name, digest(store)]));
  process.stdout.write(
    `${JSON.stringify({ port: served.address.port, rawPort: rawAddress.port, digests })}\n`,
  );
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

// ---- the pulling process --------------------------------------------------------------------------

function pullDataPlane(plane: TcpKvDataPlane, port: number, p: Payload, into: Store): Promise<unknown> {
  const half = into.half;
  return plane.pull(
    { kind: 'tcp', host: '127.0.0.1', port },
    { handle: p.name, model: 'bench', blockHashes: hashes(p), layout: p.layout },
    (block, layer, bytes) => {
      // The copy a decode worker makes into its paged store.
      (into.k[layer] as Uint8Array).set(bytes.subarray(0, half), block * half);
      (into.v[layer] as Uint8Array).set(bytes.subarray(half), block * half);
    },
  );
}

/**
 * The peer: the same bytes down one bare socket. `onread` reads into one reused buffer of the data
 * plane's read-buffer size (as the data plane does); without it, net's default reads (64 KiB, a fresh
 * buffer each). The stronger of the two is the reference.
 */
function pullRaw(port: number, p: Payload, into: Store, onread: Buffer | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    // Arrays in the order the peer writes them; received bytes are copied straight into them.
    const arrays = into.k.flatMap((k, l) => [k, into.v[l] as Uint8Array]);
    let index = 0;
    let offset = 0;
    const receive = (chunk: Uint8Array) => {
      let pos = 0;
      while (pos < chunk.length) {
        const target = arrays[index];
        if (!target) {
          reject(new Error('the peer sent too many bytes'));
          return;
        }
        const n = Math.min(target.length - offset, chunk.length - pos);
        target.set(chunk.subarray(pos, pos + n), offset);
        pos += n;
        offset += n;
        if (offset === target.length) {
          index++;
          offset = 0;
        }
      }
    };
    const socket: Socket = connect(
      {
        host: '127.0.0.1',
        port,
        noDelay: true,
        ...(onread
          ? {
              onread: {
                buffer: onread,
                callback: (n: number, buf: Uint8Array) => {
                  receive(buf.subarray(0, n));
                  return true;
                },
              },
            }
          : {}),
      },
      () => socket.write(p.name === 'tiny' ? 't' : 'l'),
    );
    if (!onread) socket.on('data', receive);
    socket.on('end', () =>
      index === arrays.length ? resolve() : reject(new Error('the peer sent too few bytes')),
    );
    socket.on('error', reject);
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const mibs = (bytesPerSec: number) => `${round(bytesPerSec / 2 ** 20)} MiB/s`;

async function time(run: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function bench(): Promise<void> {
  const script = fileURLToPath(import.meta.url);
  const child: ChildProcess = spawn(
    process.execPath,
    [script, '--role', 'server', '--large-mib', String(LARGE_MIB)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  try {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`the serving process exited (${code})`)));
    });
    const ready = JSON.parse(first) as { port: number; rawPort: number; digests: Record<string, string> };
    const plane = new TcpKvDataPlane({ log });
    const [tiny, large] = PAYLOADS as [Payload, Payload];
    console.log(
      `serving process pid ${child.pid}; tiny: ${tiny.blocks} blocks, ${payloadBytes(tiny)} bytes; ` +
        `large: ${large.blocks} blocks, ${round(payloadBytes(large) / 2 ** 20)} MiB`,
    );

    const readBuffer = Buffer.allocUnsafe(DEFAULT_TCP_KV_OPTIONS.readBufferBytes);
    const WAYS = ['dataPlane', 'rawTcp', 'rawTcpOnread'] as const;
    type Way = (typeof WAYS)[number];
    const pullBy = (way: Way, p: Payload, into: Store): Promise<unknown> =>
      way === 'dataPlane'
        ? pullDataPlane(plane, ready.port, p, into)
        : pullRaw(ready.rawPort, p, into, way === 'rawTcpOnread' ? readBuffer : undefined);

    // Every way must deliver exactly the served bytes.
    for (const p of PAYLOADS) {
      for (const way of WAYS) {
        const store = newStore(p, false);
        await pullBy(way, p, store);
        if (digest(store) !== ready.digests[p.name])
          throw new Error(`${way} delivered other bytes (${p.name})`);
      }
    }
    console.log('checked: every way delivers the served bytes');

    // Tiny: many 1k-token pulls, each on a fresh connection (as a decode worker's pull), the ways
    // taking turns in rounds.
    const tinyInto = newStore(tiny, false);
    const tinyMs: Record<Way, number[]> = { dataPlane: [], rawTcp: [], rawTcpOnread: [] };
    for (let i = 0; i < 20; i++) for (const way of WAYS) await pullBy(way, tiny, tinyInto);
    const per = Math.max(1, Math.floor(TINY_PULLS / 5));
    for (let r = 0; r < 5; r++)
      for (const way of WAYS)
        for (let i = 0; i < per; i++) tinyMs[way].push(await time(() => pullBy(way, tiny, tinyInto)));
    const tinyResult = (ms: number[]) => ({
      p50Ms: round(median(ms), 3),
      bytesPerSec: Math.round((payloadBytes(tiny) * ms.length) / (ms.reduce((a, b) => a + b, 0) / 1000)),
    });
    const tinyBy = Object.fromEntries(WAYS.map((w) => [w, tinyResult(tinyMs[w])])) as Record<
      Way,
      ReturnType<typeof tinyResult>
    >;
    for (const way of WAYS)
      console.log(`tiny 1k-token KV, ${way}: p50 ${tinyBy[way].p50Ms} ms, ${mibs(tinyBy[way].bytesPerSec)}`);

    // Large: the ways take turns; the median of the rounds.
    const largeInto = newStore(large, false);
    const largeMs: Record<Way, number[]> = { dataPlane: [], rawTcp: [], rawTcpOnread: [] };
    for (let r = 0; r < LARGE_ROUNDS; r++) {
      for (const way of WAYS) largeMs[way].push(await time(() => pullBy(way, large, largeInto)));
      console.log(
        `large round ${r + 1}/${LARGE_ROUNDS}: ${WAYS.map((w) => `${w} ${round(largeMs[w].at(-1) ?? 0)} ms`).join(', ')}`,
      );
    }
    const largeResult = (ms: number[]) => ({
      medianMs: round(median(ms)),
      bytesPerSec: Math.round(payloadBytes(large) / (median(ms) / 1000)),
    });
    const largeBy = Object.fromEntries(WAYS.map((w) => [w, largeResult(largeMs[w])])) as Record<
      Way,
      ReturnType<typeof largeResult>
    >;
    for (const way of WAYS)
      console.log(
        `large ${round(payloadBytes(large) / 2 ** 20)} MiB, ${way}: ${mibs(largeBy[way].bytesPerSec)}`,
      );

    const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
    const best = <T extends { bytesPerSec: number }>(by: Record<Way, T>) =>
      by.rawTcp.bytesPerSec >= by.rawTcpOnread.bytesPerSec ? by.rawTcp : by.rawTcpOnread;
    const result = {
      benchmark: 'kv-transfer',
      transport: 'loopback TCP between two processes; the receiver copies every layer into its own store',
      payloads: {
        tiny: { ...tiny, bytes: payloadBytes(tiny), tokens: tiny.blocks * tiny.layout.blockSize },
        large: { ...large, bytes: payloadBytes(large), tokens: large.blocks * large.layout.blockSize },
      },
      dataPlane: { tiny: tinyBy.dataPlane, large: largeBy.dataPlane },
      rawTcp: { tiny: tinyBy.rawTcp, large: largeBy.rawTcp },
      rawTcpOnread: { tiny: tinyBy.rawTcpOnread, large: largeBy.rawTcpOnread },
      ratios: {
        /** Large payload over the faster bare socket: the figure the goal (≥ 0.5) is about. */
        bytesPerSecOverRawTcp: ratio(largeBy.dataPlane.bytesPerSec, best(largeBy).bytesPerSec),
        tinyBytesPerSecOverRawTcp: ratio(tinyBy.dataPlane.bytesPerSec, best(tinyBy).bytesPerSec),
        tinyP50OverRawTcp: ratio(
          tinyBy.dataPlane.p50Ms,
          Math.min(tinyBy.rawTcp.p50Ms, tinyBy.rawTcpOnread.p50Ms),
        ),
      },
    };
    await plane.close();

    // What disaggregation adds to a 1k-token request, end to end through the frontend.
    const ttft = await measureDisaggTtft({
      modelDir: await ensureTinyModel(userCacheDir()),
      promptTokens: Number(values['ttft-prompt-tokens']),
      requests: Number(values['ttft-requests']),
      log,
    });
    for (const way of ['agg', 'disagg'] as const)
      console.log(
        `${ttft.promptTokens}-token request, ${way}: first token p50 ${ttft[way].firstTokenMs.p50} ms, second p50 ${ttft[way].secondTokenMs.p50} ms`,
      );
    console.log(JSON.stringify({ ...result, disaggregatedRequest: ttft }));
  } finally {
    // Closing its stdin ends the serving process (cleanly: a --cpu-prof run then writes its profile).
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin?.end();
    const timer = setTimeout(() => child.kill(), 5000);
    await exited;
    clearTimeout(timer);
  }
}

if (values.role === 'server') await serve();
else await bench();
