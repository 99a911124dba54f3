// The KV data plane inside one process (`dynamo run`, unit tests): the puller calls the serving
// worker's provider directly and its sink receives the provider's own views (a layer given in several
// parts is joined in a scratch buffer first), so each block is copied once, by the sink, into the
// puller's store. Same contract as TCP: the request is validated as on the wire, errors are typed the
// same way, a served plane closed mid-pull fails it with `unreachable`.
import { randomUUID } from 'node:crypto';
import {
  type KvDataPlaneAddress,
  type KvPullRequest,
  KvTransferError,
  kvLayerBlockBytes,
  kvPullRequestSchema,
} from '../api/disagg.js';
import {
  type KvBlockProvider,
  type KvBlockSink,
  type KvDataPlane,
  type KvDataPlaneStats,
  type KvPullOptions,
  type KvPullResult,
  type KvPullSource,
  partsLength,
  type ServedKvDataPlane,
  transferErrorOf,
} from './kv-data-plane.js';

interface MemoryKvServer {
  readonly provider: KvBlockProvider;
  closed: boolean;
  readonly counters: KvDataPlaneStats;
}

/** The data planes served in this process, by address: one hub per process, as MemoryHub. */
export class MemoryKvHub {
  readonly servers = new Map<string, MemoryKvServer>();
}

export interface MemoryKvDataPlaneOptions {
  /** A pull yields to the event loop after this many bytes, so a large one does not stall the process. */
  yieldEveryBytes?: number;
}

const DEFAULT_YIELD_EVERY_BYTES = 4 * 1024 * 1024;

export class MemoryKvDataPlane implements KvDataPlane {
  readonly #served = new Set<ServedKvDataPlane>();
  readonly #yieldEveryBytes: number;

  constructor(
    private readonly hub: MemoryKvHub,
    options: MemoryKvDataPlaneOptions = {},
  ) {
    this.#yieldEveryBytes = options.yieldEveryBytes ?? DEFAULT_YIELD_EVERY_BYTES;
  }

  async serve(provider: KvBlockProvider): Promise<ServedKvDataPlane> {
    const name = `kv-${randomUUID()}`;
    const server: MemoryKvServer = {
      provider,
      closed: false,
      counters: { activePulls: 0, completedPulls: 0, failedPulls: 0, protocolErrors: 0, bytesSent: 0 },
    };
    this.hub.servers.set(name, server);
    const served: ServedKvDataPlane = {
      address: { kind: 'memory', address: name },
      stats: () => ({ ...server.counters }),
      close: async () => {
        server.closed = true;
        if (this.hub.servers.get(name) === server) this.hub.servers.delete(name);
        this.#served.delete(served);
      },
    };
    this.#served.add(served);
    return served;
  }

  async pull(
    address: KvDataPlaneAddress,
    request: KvPullRequest,
    onBlock: KvBlockSink,
    options: KvPullOptions = {},
  ): Promise<KvPullResult> {
    const signal = options.signal;
    signal?.throwIfAborted();
    if (address.kind !== 'memory')
      throw new KvTransferError('unreachable', `the in-process data plane cannot reach ${address.host}`);
    const parsed = kvPullRequestSchema.safeParse(request);
    if (!parsed.success)
      throw new KvTransferError('protocol', `invalid pull request: ${parsed.error.message.slice(0, 1000)}`);
    const req = parsed.data;
    const server = this.hub.servers.get(address.address);
    if (!server || server.closed)
      throw new KvTransferError('unreachable', `no KV data plane is served at ${address.address}`);

    const layerBytes = kvLayerBlockBytes(req.layout);
    const numLayers = req.layout.numLayers;
    const counters = server.counters;
    counters.activePulls++;
    let source: KvPullSource | undefined;
    let ok = false;
    let bytes = 0;
    try {
      source = await typed(() => server.provider.lookup(req.handle, req));
      let sinceYield = 0;
      let scratch: Uint8Array | undefined;
      for (let block = 0; block < req.blockHashes.length; block++) {
        for (let layer = 0; layer < numLayers; layer++) {
          const from = source;
          const parts = typedSync(() => from.read(block, layer));
          ensureOpen(server, signal);
          const length = partsLength(parts);
          if (length !== layerBytes)
            throw new KvTransferError(
              'layout_mismatch',
              `block ${block} layer ${layer} has ${length} bytes, the layout needs ${layerBytes}`,
            );
          let view: Uint8Array;
          if (parts instanceof Uint8Array) view = parts;
          else if (parts.length === 1) view = parts[0] as Uint8Array;
          else {
            scratch ??= new Uint8Array(layerBytes);
            let at = 0;
            for (const part of parts) {
              scratch.set(part, at);
              at += part.byteLength;
            }
            view = scratch;
          }
          onBlock(block, layer, view);
          bytes += layerBytes;
          counters.bytesSent += layerBytes;
        }
        sinceYield += layerBytes * numLayers;
        if (sinceYield >= this.#yieldEveryBytes) {
          sinceYield = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
        ensureOpen(server, signal);
      }
      ok = true;
    } finally {
      counters.activePulls--;
      if (ok) counters.completedPulls++;
      else counters.failedPulls++;
      source?.close?.();
    }

    if (!options.release) return { blocks: req.blockHashes.length, bytes, released: false };
    ensureOpen(server, signal);
    await typed(() => server.provider.release(req.handle));
    return { blocks: req.blockHashes.length, bytes, released: true };
  }

  async close(): Promise<void> {
    const served = [...this.#served];
    await Promise.all(served.map((s) => s.close()));
  }
}

function ensureOpen(server: MemoryKvServer, signal: AbortSignal | undefined): void {
  signal?.throwIfAborted();
  if (server.closed)
    throw new KvTransferError('unreachable', 'the serving data plane closed during the pull');
}

/** A provider's failure as the puller sees it over TCP: typed codes kept, anything else `unreachable`. */
async function typed<T>(call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const frame = transferErrorOf(err);
    throw new KvTransferError(frame.code, frame.message);
  }
}

function typedSync<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    const frame = transferErrorOf(err);
    throw new KvTransferError(frame.code, frame.message);
  }
}
