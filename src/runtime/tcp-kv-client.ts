// The pulling side of the TCP KV data plane: one connection per pull. The socket reads into one
// reusable buffer (net's `onread`), and each layer's bytes reach the sink as a view of it when they
// arrived in one read, or copied once into a scratch buffer when a read boundary cut them. A pull
// never hangs: connect and idle timeouts end it with `unreachable`, as does a connection that closes
// before the end frame.
import { connect, type Socket } from 'node:net';
import {
  type KvDataPlaneAddress,
  type KvPullRequest,
  KvTransferError,
  kvLayerBlockBytes,
  kvPullRequestSchema,
  kvTransferErrorFrameSchema,
} from '../api/disagg.js';
import type { KvBlockSink, KvPullOptions, KvPullResult } from './kv-data-plane.js';
import { encodeKvControlFrame, encodeKvJsonFrame, type KvFrameHeader, KvFrameParser } from './kv-frames.js';

export interface TcpKvPullOptions extends KvPullOptions {
  connectTimeoutMs: number;
  /** No bytes from the server for this long: `unreachable`. */
  idleTimeoutMs: number;
  maxJsonBytes: number;
  /** The socket's read buffers: larger reads mean fewer calls into JavaScript. */
  readBuffers: ReadBufferPool;
}

/**
 * Read buffers kept between pulls: a fresh megabyte per pull keeps the garbage collector busy. A
 * buffer returns to the pool only once its socket closed (no read can land in it any more).
 */
export class ReadBufferPool {
  readonly #free: Buffer[] = [];

  constructor(
    readonly bufferBytes: number,
    readonly keep: number,
  ) {}

  acquire(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafe(this.bufferBytes);
  }

  release(buffer: Buffer): void {
    if (this.#free.length < this.keep) this.#free.push(buffer);
  }
}

export function pullKvTcp(
  address: Extract<KvDataPlaneAddress, { kind: 'tcp' }>,
  request: KvPullRequest,
  onBlock: KvBlockSink,
  options: TcpKvPullOptions,
): Promise<KvPullResult> {
  return new Promise((resolve, reject) => new TcpKvPull(address, request, onBlock, options, resolve, reject));
}

type PullState = 'blocks' | 'releasing' | 'done';

class TcpKvPull {
  #state: PullState = 'blocks';
  readonly #parser: KvFrameParser;
  readonly #socket: Socket | undefined;
  #blocks = 0;
  #numLayers = 0;
  #layerBytes = 0;
  #scratch: Uint8Array | undefined;
  #block = 0;
  #layer = 0;
  #layerFill = 0;
  #bytes = 0;
  #connectTimer: NodeJS.Timeout | undefined;
  readonly #where: string;
  readonly #onAbort = () => this.#fail(this.options.signal?.reason ?? new Error('aborted'));

  constructor(
    address: Extract<KvDataPlaneAddress, { kind: 'tcp' }>,
    request: KvPullRequest,
    private readonly onBlock: KvBlockSink,
    private readonly options: TcpKvPullOptions,
    private readonly resolve: (result: KvPullResult) => void,
    private readonly reject: (err: unknown) => void,
  ) {
    this.#where = `${address.host}:${address.port}`;
    this.#parser = new KvFrameParser(
      {
        onHeader: (h) => this.#onHeader(h),
        onJson: (_h, json) => this.#onError(json),
        onRaw: (_h, bytes) => this.#onRaw(bytes),
        onEnd: (h) => this.#onEnd(h),
      },
      options.maxJsonBytes,
    );
    const parsed = kvPullRequestSchema.safeParse(request);
    if (!parsed.success) {
      this.#fail(
        new KvTransferError('protocol', `invalid pull request: ${parsed.error.message.slice(0, 1000)}`),
      );
      return;
    }
    this.#blocks = parsed.data.blockHashes.length;
    this.#numLayers = parsed.data.layout.numLayers;
    this.#layerBytes = kvLayerBlockBytes(parsed.data.layout);
    const signal = options.signal;
    if (signal?.aborted) {
      this.#fail(signal.reason);
      return;
    }
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    const readBuffer = options.readBuffers.acquire();
    const socket = connect({
      host: address.host,
      port: address.port,
      noDelay: true,
      onread: {
        buffer: readBuffer,
        callback: (n, buf) => {
          this.#onData(Buffer.from(buf.buffer, buf.byteOffset, n));
          return true;
        },
      },
    });
    this.#socket = socket;
    this.#connectTimer = setTimeout(
      () => this.#unreachable(`connecting timed out after ${options.connectTimeoutMs} ms`),
      options.connectTimeoutMs,
    );
    socket.once('connect', () => {
      clearTimeout(this.#connectTimer);
      socket.setTimeout(options.idleTimeoutMs, () =>
        this.#unreachable(`no data for ${options.idleTimeoutMs} ms`),
      );
      socket.write(encodeKvJsonFrame('request', request));
    });
    socket.on('error', (err) => this.#unreachable(err.message));
    socket.on('close', () => {
      options.readBuffers.release(readBuffer);
      this.#unreachable('the connection closed before the transfer ended');
    });
  }

  #onData(chunk: Buffer): void {
    if (this.#state === 'done') return;
    const malformed = this.#parser.push(chunk);
    if (malformed !== undefined)
      this.#fail(new KvTransferError('protocol', `from ${this.#where}: ${malformed}`));
  }

  #onHeader(h: KvFrameHeader): string | undefined {
    if (h.type === 'error') return undefined;
    if (this.#state === 'blocks') {
      if (h.type === 'block') {
        if (h.block !== this.#block) return `block ${h.block} where block ${this.#block} was due`;
        if (this.#block >= this.#blocks) return `more than the ${this.#blocks} blocks asked for`;
        const expected = this.#numLayers * this.#layerBytes;
        if (h.rawBytes !== expected) return `a block of ${h.rawBytes} bytes, the layout gives ${expected}`;
        return undefined;
      }
      if (h.type === 'end') {
        if (this.#block !== this.#blocks) return `end after ${this.#block} of ${this.#blocks} blocks`;
        return undefined;
      }
    }
    if (this.#state === 'releasing' && h.type === 'released') return undefined;
    return `unexpected ${h.type} frame`;
  }

  #onError(json: Buffer): string | undefined {
    let value: unknown;
    try {
      value = JSON.parse(json.toString('utf8'));
    } catch {
      return 'an error frame that is not JSON';
    }
    const parsed = kvTransferErrorFrameSchema.safeParse(value);
    if (!parsed.success) return 'an invalid error frame';
    this.#fail(new KvTransferError(parsed.data.code, parsed.data.message));
    return undefined;
  }

  /**
   * Cuts a block's raw bytes into layers; a layer split across reads is joined in the scratch buffer.
   * The sink gets plain Uint8Arrays, not Buffers: a Buffer's slice() would not copy.
   */
  #onRaw(bytes: Buffer): void {
    const layerBytes = this.#layerBytes;
    let pos = 0;
    while (pos < bytes.length && this.#state !== 'done') {
      if (this.#layerFill === 0 && bytes.length - pos >= layerBytes) {
        this.#deliver(new Uint8Array(bytes.buffer, bytes.byteOffset + pos, layerBytes));
        pos += layerBytes;
        continue;
      }
      this.#scratch ??= new Uint8Array(layerBytes);
      const n = Math.min(layerBytes - this.#layerFill, bytes.length - pos);
      this.#scratch.set(bytes.subarray(pos, pos + n), this.#layerFill);
      this.#layerFill += n;
      pos += n;
      if (this.#layerFill === layerBytes) {
        this.#layerFill = 0;
        this.#deliver(this.#scratch);
      }
    }
  }

  #deliver(bytes: Uint8Array): void {
    try {
      this.onBlock(this.#block, this.#layer, bytes);
    } catch (err) {
      this.#fail(err);
      return;
    }
    this.#bytes += bytes.byteLength;
    this.#layer++;
  }

  #onEnd(h: KvFrameHeader): void {
    if (this.#state === 'done') return;
    if (h.type === 'block') {
      this.#block++;
      this.#layer = 0;
    } else if (h.type === 'end') {
      if (this.options.release) {
        this.#state = 'releasing';
        this.#socket?.write(encodeKvControlFrame('release'));
      } else this.#finish(false);
    } else if (h.type === 'released') this.#finish(true);
  }

  #finish(released: boolean): void {
    this.#state = 'done';
    this.#cleanup();
    this.#socket?.end();
    this.resolve({ blocks: this.#blocks, bytes: this.#bytes, released });
  }

  #unreachable(reason: string): void {
    // 'close' follows every pull: build no error (a stack trace is not free) once the pull is over.
    if (this.#state === 'done') return;
    this.#fail(new KvTransferError('unreachable', `${this.#where}: ${reason}`));
  }

  #fail(err: unknown): void {
    if (this.#state === 'done') return;
    this.#state = 'done';
    this.#parser.stop();
    this.#cleanup();
    this.#socket?.destroy();
    this.reject(err);
  }

  #cleanup(): void {
    clearTimeout(this.#connectTimer);
    this.#socket?.setTimeout(0);
    this.options.signal?.removeEventListener('abort', this.#onAbort);
  }
}
