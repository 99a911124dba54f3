// The serving side of the TCP KV data plane: one listener, one connection per pull, any number of
// pulls at once. Block bytes go out as the provider's own views, never copied, corked into one writev
// per ~128 KiB (kv-frame-writer.ts); when the socket's queue passes its high-water mark the pull waits
// for 'drain', so a slow puller holds back its own pull only. Whatever a client sends, the server
// answers a malformed frame with a `protocol` error frame and closes that connection; it never throws.
import { createServer, type Server, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import {
  type KvDataPlaneAddress,
  type KvPullRequest,
  type KvTransferErrorFrame,
  kvLayerBlockBytes,
  kvPullRequestSchema,
} from '../api/disagg.js';
import {
  type KvBlockProvider,
  type KvDataPlaneStats,
  type KvPullSource,
  partsLength,
  type ServedKvDataPlane,
  transferErrorOf,
} from './kv-data-plane.js';
import { KvFrameWriter } from './kv-frame-writer.js';
import { encodeKvControlFrame, encodeKvJsonFrame, type KvFrameHeader, KvFrameParser } from './kv-frames.js';
import type { Logger } from './logger.js';

export interface TcpKvServeOptions {
  /** Interface to listen on. */
  host: string;
  /** 0: any free port. */
  port: number;
  /**
   * The host pullers dial, written into the address. Defaults to `host`, or for a wildcard host
   * (0.0.0.0, ::) to this machine's first external IPv4 address (a pod's IP).
   */
  advertiseHost?: string;
  /** A connection with no traffic either way for this long is dropped. */
  idleTimeoutMs: number;
  /** Largest request JSON accepted (the block list grows with the prompt). */
  maxJsonBytes: number;
  /** Bytes queued on a socket before a pull waits for 'drain'. */
  highWaterMark: number;
  log: Logger;
}

export async function serveKvTcp(
  provider: KvBlockProvider,
  options: TcpKvServeOptions,
): Promise<ServedKvDataPlane> {
  const server = new TcpKvServer(provider, options);
  await server.listen();
  return server;
}

class TcpKvServer implements ServedKvDataPlane {
  readonly #server: Server;
  readonly #connections = new Set<PullConnection>();
  #address: KvDataPlaneAddress | undefined;
  #closed: Promise<void> | undefined;
  readonly counters: KvDataPlaneStats = {
    activePulls: 0,
    completedPulls: 0,
    failedPulls: 0,
    protocolErrors: 0,
    bytesSent: 0,
  };

  constructor(
    readonly provider: KvBlockProvider,
    readonly options: TcpKvServeOptions,
  ) {
    this.#server = createServer({ noDelay: true, highWaterMark: options.highWaterMark }, (socket) => {
      if (this.#closed) {
        socket.destroy();
        return;
      }
      const connection = new PullConnection(socket, this);
      this.#connections.add(connection);
      socket.once('close', () => this.#connections.delete(connection));
    });
    this.#server.on('error', (err) => options.log.warn({ err }, 'KV data-plane listener error'));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.#server.once('error', onError);
      this.#server.listen(this.options.port, this.options.host, () => {
        this.#server.off('error', onError);
        const bound = this.#server.address();
        if (bound === null || typeof bound === 'string') {
          reject(new Error('the KV data-plane listener has no TCP address'));
          return;
        }
        this.#address = { kind: 'tcp', host: advertisedHost(this.options), port: bound.port };
        this.options.log.info({ address: this.#address }, 'KV data plane listening');
        resolve();
      });
    });
  }

  get address(): KvDataPlaneAddress {
    if (!this.#address) throw new Error('the KV data plane is not listening');
    return this.#address;
  }

  stats(): KvDataPlaneStats {
    return { ...this.counters };
  }

  close(): Promise<void> {
    this.#closed ??= new Promise((resolve) => {
      this.#server.close(() => resolve());
      for (const connection of this.#connections) connection.abort();
      this.#connections.clear();
    });
    return this.#closed;
  }
}

type ConnectionState = 'request' | 'sending' | 'sent' | 'releasing' | 'done';

/** One pull: request → blocks → end → (release → released); anything out of order is `protocol`. */
class PullConnection {
  #state: ConnectionState = 'request';
  #request: KvPullRequest | undefined;
  readonly #parser: KvFrameParser;

  constructor(
    private readonly socket: Socket,
    private readonly server: TcpKvServer,
  ) {
    this.#parser = new KvFrameParser(
      {
        onHeader: (h) => this.#onHeader(h),
        onJson: (_h, json) => this.#onRequest(json),
        onRaw: () => undefined,
        onEnd: (h) => this.#onFrame(h),
      },
      server.options.maxJsonBytes,
    );
    socket.setTimeout(server.options.idleTimeoutMs, () => {
      server.options.log.debug({ remote: socket.remoteAddress }, 'KV data-plane connection idle: dropped');
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.#parser.stopped) return;
      const malformed = this.#parser.push(chunk);
      if (malformed !== undefined) this.#protocolError(malformed);
    });
    socket.on('error', (err) => server.options.log.debug({ err }, 'KV data-plane connection error'));
    socket.on('close', () => {
      this.#state = 'done';
      this.#parser.stop();
    });
  }

  /** The server closes: drop the connection now (the puller sees `unreachable`). */
  abort(): void {
    this.#state = 'done';
    this.#parser.stop();
    this.socket.destroy();
  }

  #onHeader(header: KvFrameHeader): string | undefined {
    if (header.type === 'request' && this.#state === 'request') return undefined;
    if (header.type === 'release' && this.#state === 'sent') return undefined;
    return `unexpected ${header.type} frame while ${this.#state === 'request' ? 'waiting for a request' : this.#state}`;
  }

  #onRequest(json: Buffer): string | undefined {
    let value: unknown;
    try {
      value = JSON.parse(json.toString('utf8'));
    } catch {
      return 'the request is not JSON';
    }
    const parsed = kvPullRequestSchema.safeParse(value);
    if (!parsed.success) return `invalid request: ${parsed.error.message.slice(0, 1000)}`;
    this.#request = parsed.data;
    return undefined;
  }

  #onFrame(header: KvFrameHeader): void {
    if (header.type === 'request') {
      this.#state = 'sending';
      void this.#send(this.#request as KvPullRequest);
    } else if (header.type === 'release') {
      this.#state = 'releasing';
      void this.#release((this.#request as KvPullRequest).handle);
    }
  }

  async #send(request: KvPullRequest): Promise<void> {
    const counters = this.server.counters;
    counters.activePulls++;
    let source: KvPullSource | undefined;
    let ok = false;
    let writer: KvFrameWriter | undefined;
    try {
      source = await this.server.provider.lookup(request.handle, request);
      if (this.#state !== 'sending') return;
      const layerBytes = kvLayerBlockBytes(request.layout);
      const numLayers = request.layout.numLayers;
      const rawBytes = layerBytes * numLayers;
      if (rawBytes > 0xffffffff) {
        this.#fail({ code: 'layout_mismatch', message: `a block of ${rawBytes} bytes is too large to send` });
        return;
      }
      const socket = this.socket;
      writer = new KvFrameWriter(socket);
      const parts: Uint8Array[] = [];
      for (let block = 0; block < request.blockHashes.length; block++) {
        parts.length = 0;
        for (let layer = 0; layer < numLayers; layer++) {
          const got = source.read(block, layer);
          const length = partsLength(got);
          if (length !== layerBytes) {
            this.#fail({
              code: 'layout_mismatch',
              message: `block ${block} layer ${layer} has ${length} bytes, the layout needs ${layerBytes}`,
            });
            return;
          }
          if (got instanceof Uint8Array) parts.push(got);
          else parts.push(...got);
        }
        // read() may have closed the server or the puller may have gone meanwhile.
        if (this.#state !== 'sending') return;
        writer.blockHeader(block, rawBytes);
        for (const part of parts) writer.bytes(part);
        counters.bytesSent += rawBytes;
        if (writer.batchFull) {
          writer.flush();
          if (socket.writableNeedDrain) await drainOrClose(socket);
          if (this.#state !== 'sending') return;
        }
      }
      writer.bytes(END_FRAME);
      writer.flush();
      this.#state = 'sent';
      ok = true;
    } catch (err) {
      if (this.#state === 'sending') this.#fail(transferErrorOf(err));
    } finally {
      // Leave nothing corked: an error frame may follow.
      writer?.flush();
      counters.activePulls--;
      if (ok) counters.completedPulls++;
      else counters.failedPulls++;
      try {
        source?.close?.();
      } catch (err) {
        this.server.options.log.warn({ err }, 'KV pull source close failed');
      }
    }
  }

  async #release(handle: string): Promise<void> {
    try {
      await this.server.provider.release(handle);
      if (this.#state === 'releasing') this.socket.end(encodeKvControlFrame('released'));
    } catch (err) {
      if (this.#state === 'releasing') this.socket.end(encodeKvJsonFrame('error', transferErrorOf(err)));
    }
    this.#state = 'done';
  }

  #protocolError(reason: string): void {
    this.server.counters.protocolErrors++;
    this.server.options.log.warn(
      { remote: this.socket.remoteAddress, reason },
      'malformed KV data-plane frame: connection closed',
    );
    this.#fail({ code: 'protocol', message: reason });
  }

  /** Sends the error frame (between frames: block writes are whole) and ends the connection. */
  #fail(error: KvTransferErrorFrame): void {
    this.#state = 'done';
    this.#parser.stop();
    if (!this.socket.destroyed) this.socket.end(encodeKvJsonFrame('error', error));
  }
}

const END_FRAME = encodeKvControlFrame('end');

function drainOrClose(socket: Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

function advertisedHost(options: TcpKvServeOptions): string {
  if (options.advertiseHost) return options.advertiseHost;
  if (options.host !== '0.0.0.0' && options.host !== '::' && options.host !== '') return options.host;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
