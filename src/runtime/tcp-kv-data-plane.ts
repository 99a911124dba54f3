// The KV data plane over TCP (DESIGN §12): what a worker of a distributed deployment serves its KV
// blocks on, with the listener's address in its model card. Wire format: kv-frames.ts.
import type { KvDataPlaneAddress, KvPullRequest } from '../api/disagg.js';
import { KvTransferError } from '../api/disagg.js';
import type {
  KvBlockProvider,
  KvBlockSink,
  KvDataPlane,
  KvPullOptions,
  KvPullResult,
  ServedKvDataPlane,
} from './kv-data-plane.js';
import type { Logger } from './logger.js';
import { pullKvTcp, ReadBufferPool } from './tcp-kv-client.js';
import { serveKvTcp } from './tcp-kv-server.js';

export interface TcpKvDataPlaneOptions {
  log: Logger;
  /** Interface the listener binds; 0.0.0.0 in a pod. */
  host?: string;
  /** 0: any free port. */
  port?: number;
  /** The host pullers dial (a pod's IP); see TcpKvServeOptions. */
  advertiseHost?: string;
  connectTimeoutMs?: number;
  /** Either end drops a connection with no traffic for this long (the puller: `unreachable`). */
  idleTimeoutMs?: number;
  /** Largest request or error JSON: a request lists its block hashes (≈ 19 bytes each). */
  maxJsonBytes?: number;
  /** Bytes a pull queues on its socket before waiting for 'drain'. */
  highWaterMark?: number;
  /** The puller's socket read buffer. */
  readBufferBytes?: number;
}

export const DEFAULT_TCP_KV_OPTIONS = {
  host: '127.0.0.1',
  port: 0,
  connectTimeoutMs: 5_000,
  idleTimeoutMs: 10_000,
  maxJsonBytes: 24 * 1024 * 1024,
  highWaterMark: 1024 * 1024,
  readBufferBytes: 1024 * 1024,
} as const;

export class TcpKvDataPlane implements KvDataPlane {
  readonly #options: Required<Omit<TcpKvDataPlaneOptions, 'advertiseHost'>> & { advertiseHost?: string };
  readonly #served = new Set<ServedKvDataPlane>();
  readonly #readBuffers: ReadBufferPool;

  constructor(options: TcpKvDataPlaneOptions) {
    this.#options = { ...DEFAULT_TCP_KV_OPTIONS, ...options };
    this.#readBuffers = new ReadBufferPool(this.#options.readBufferBytes, 8);
  }

  async serve(provider: KvBlockProvider): Promise<ServedKvDataPlane> {
    const o = this.#options;
    const served = await serveKvTcp(provider, {
      host: o.host,
      port: o.port,
      ...(o.advertiseHost ? { advertiseHost: o.advertiseHost } : {}),
      idleTimeoutMs: o.idleTimeoutMs,
      maxJsonBytes: o.maxJsonBytes,
      highWaterMark: o.highWaterMark,
      log: o.log,
    });
    this.#served.add(served);
    return {
      address: served.address,
      stats: () => served.stats(),
      close: () => {
        this.#served.delete(served);
        return served.close();
      },
    };
  }

  pull(
    address: KvDataPlaneAddress,
    request: KvPullRequest,
    onBlock: KvBlockSink,
    options: KvPullOptions = {},
  ): Promise<KvPullResult> {
    if (address.kind !== 'tcp')
      return Promise.reject(
        new KvTransferError('unreachable', `a TCP data plane cannot reach the in-process ${address.address}`),
      );
    const o = this.#options;
    return pullKvTcp(address, request, onBlock, {
      ...options,
      connectTimeoutMs: o.connectTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      maxJsonBytes: o.maxJsonBytes,
      readBuffers: this.#readBuffers,
    });
  }

  async close(): Promise<void> {
    const served = [...this.#served];
    this.#served.clear();
    await Promise.all(served.map((s) => s.close()));
  }
}
