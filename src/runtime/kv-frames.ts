// Frames of the TCP KV data plane. Every frame starts with the same 16-byte header (little-endian);
// JSON travels only off the hot path (the request, an error), KV bytes travel raw, one frame per block:
//
//   bytes 0-1    magic 'K' 'V'
//   byte  2      version (1)
//   byte  3      type: 1 request, 2 block, 3 end, 4 error, 5 release, 6 released
//   bytes 4-7    u32 JSON length   (request, error: > 0; else 0)
//   bytes 8-11   u32 block index   (block: 0, 1, ... in request order; else 0)
//   bytes 12-15  u32 raw length    (block: numLayers · kvLayerBlockBytes(layout); else 0)
//   then the JSON (UTF-8), then the raw bytes: layer 0's K and V, layer 1's, ...
//
//   puller ── request{handle, model, blockHashes, layout} ──►  server
//          ◄── block 0 … block n-1, end  |  error{code, message}
//          ── release ──► (optional)  ◄── released | error

export const KV_FRAME_HEADER_BYTES = 16;
export const KV_FRAME_VERSION = 1;
const MAGIC_0 = 0x4b; // 'K'
const MAGIC_1 = 0x56; // 'V'
export const KV_FRAME_TYPES = ['request', 'block', 'end', 'error', 'release', 'released'] as const;
export type KvFrameType = (typeof KV_FRAME_TYPES)[number];
const TYPE_CODE: Record<KvFrameType, number> = {
  request: 1,
  block: 2,
  end: 3,
  error: 4,
  release: 5,
  released: 6,
};
const JSON_TYPES: ReadonlySet<KvFrameType> = new Set(['request', 'error']);

export interface KvFrameHeader {
  type: KvFrameType;
  jsonBytes: number;
  block: number;
  rawBytes: number;
}

/** Writes a header into `out` at `offset`. */
export function writeKvFrameHeader(out: Buffer, offset: number, header: KvFrameHeader): void {
  out[offset] = MAGIC_0;
  out[offset + 1] = MAGIC_1;
  out[offset + 2] = KV_FRAME_VERSION;
  out[offset + 3] = TYPE_CODE[header.type];
  out.writeUInt32LE(header.jsonBytes, offset + 4);
  out.writeUInt32LE(header.block, offset + 8);
  out.writeUInt32LE(header.rawBytes, offset + 12);
}

/** The header of a block frame; its raw bytes follow as separate writes. */
export function encodeKvBlockHeader(block: number, rawBytes: number): Buffer {
  const out = Buffer.allocUnsafe(KV_FRAME_HEADER_BYTES);
  writeKvFrameHeader(out, 0, { type: 'block', jsonBytes: 0, block, rawBytes });
  return out;
}

/** A request or error frame: header then JSON. */
export function encodeKvJsonFrame(type: 'request' | 'error', value: unknown): Buffer {
  const json = JSON.stringify(value);
  const jsonBytes = Buffer.byteLength(json);
  const out = Buffer.allocUnsafe(KV_FRAME_HEADER_BYTES + jsonBytes);
  writeKvFrameHeader(out, 0, { type, jsonBytes, block: 0, rawBytes: 0 });
  out.write(json, KV_FRAME_HEADER_BYTES, 'utf8');
  return out;
}

/** An end, release or released frame: a header alone. */
export function encodeKvControlFrame(type: 'end' | 'release' | 'released'): Buffer {
  const out = Buffer.allocUnsafe(KV_FRAME_HEADER_BYTES);
  writeKvFrameHeader(out, 0, { type, jsonBytes: 0, block: 0, rawBytes: 0 });
  return out;
}

/** Validates every field of the header at `offset`; a string says what is wrong. */
export function decodeKvFrameHeader(bytes: Buffer, offset: number): KvFrameHeader | string {
  if (bytes.length - offset < KV_FRAME_HEADER_BYTES) return 'a truncated frame header';
  if (bytes[offset] !== MAGIC_0 || bytes[offset + 1] !== MAGIC_1)
    return 'not a KV data-plane frame (bad magic)';
  if (bytes[offset + 2] !== KV_FRAME_VERSION)
    return `frame version ${bytes[offset + 2]}, this end speaks ${KV_FRAME_VERSION}`;
  const type = KV_FRAME_TYPES[(bytes[offset + 3] ?? 0) - 1];
  if (type === undefined) return `unknown frame type ${bytes[offset + 3]}`;
  const jsonBytes = bytes.readUInt32LE(offset + 4);
  const block = bytes.readUInt32LE(offset + 8);
  const rawBytes = bytes.readUInt32LE(offset + 12);
  if (JSON_TYPES.has(type) !== jsonBytes > 0) return `a ${type} frame with ${jsonBytes} bytes of JSON`;
  if (type !== 'block' && (block !== 0 || rawBytes !== 0))
    return `a ${type} frame with a block index or raw bytes`;
  if (type === 'block' && rawBytes === 0) return 'a block frame without bytes';
  return { type, jsonBytes, block, rawBytes };
}

export interface KvFrameHandlers {
  /** A valid header arrived; return a reason to refuse it (unexpected here): parsing then stops. */
  onHeader(header: KvFrameHeader): string | undefined;
  /** The frame's whole JSON; return a reason to refuse it. */
  onJson(header: KvFrameHeader, json: Buffer): string | undefined;
  /** A piece of the frame's raw bytes: a view into the pushed chunk, valid during the call. */
  onRaw(header: KvFrameHeader, bytes: Buffer): void;
  /** The frame is complete. */
  onEnd(header: KvFrameHeader): void;
}

const HEADER = 0;
const JSON_BODY = 1;
const RAW = 2;

/**
 * Cuts a byte stream into frames, whatever the chunking. Never allocates more than `maxJsonBytes` for
 * a JSON body and nothing for raw bytes (they are handed on as views). A handler may call stop().
 */
export class KvFrameParser {
  #state = HEADER;
  #stopped = false;
  readonly #headerBuf = Buffer.alloc(KV_FRAME_HEADER_BYTES);
  #headerFill = 0;
  #json: Buffer = Buffer.alloc(0);
  #jsonFill = 0;
  #rawLeft = 0;
  #header: KvFrameHeader | undefined;

  constructor(
    private readonly handlers: KvFrameHandlers,
    private readonly maxJsonBytes: number,
  ) {}

  get stopped(): boolean {
    return this.#stopped;
  }

  /** True between frames: a stream may end here. */
  get atFrameBoundary(): boolean {
    return this.#state === HEADER && this.#headerFill === 0;
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Feeds bytes; returns why the stream is malformed (parsing has then stopped), or undefined. */
  push(chunk: Buffer): string | undefined {
    let pos = 0;
    const len = chunk.length;
    while (pos < len && !this.#stopped) {
      if (this.#state === HEADER) {
        let src: Buffer;
        let at: number;
        if (this.#headerFill === 0 && len - pos >= KV_FRAME_HEADER_BYTES) {
          src = chunk;
          at = pos;
          pos += KV_FRAME_HEADER_BYTES;
        } else {
          const n = Math.min(KV_FRAME_HEADER_BYTES - this.#headerFill, len - pos);
          chunk.copy(this.#headerBuf, this.#headerFill, pos, pos + n);
          this.#headerFill += n;
          pos += n;
          if (this.#headerFill < KV_FRAME_HEADER_BYTES) return undefined;
          this.#headerFill = 0;
          src = this.#headerBuf;
          at = 0;
        }
        const header = decodeKvFrameHeader(src, at);
        if (typeof header === 'string') return this.#fail(header);
        if (header.jsonBytes > this.maxJsonBytes)
          return this.#fail(`a ${header.jsonBytes}-byte JSON body exceeds the limit of ${this.maxJsonBytes}`);
        const refused = this.handlers.onHeader(header);
        if (refused !== undefined) return this.#fail(refused);
        this.#header = header;
        if (header.jsonBytes > 0) {
          this.#state = JSON_BODY;
          this.#json = Buffer.allocUnsafe(header.jsonBytes);
          this.#jsonFill = 0;
        } else this.#afterJson(header);
      } else if (this.#state === JSON_BODY) {
        const header = this.#header as KvFrameHeader;
        const n = Math.min(this.#json.length - this.#jsonFill, len - pos);
        chunk.copy(this.#json, this.#jsonFill, pos, pos + n);
        this.#jsonFill += n;
        pos += n;
        if (this.#jsonFill < this.#json.length) return undefined;
        const json = this.#json;
        this.#json = Buffer.alloc(0);
        const refused = this.handlers.onJson(header, json);
        if (refused !== undefined) return this.#fail(refused);
        if (!this.#stopped) this.#afterJson(header);
      } else {
        const header = this.#header as KvFrameHeader;
        const n = Math.min(this.#rawLeft, len - pos);
        this.#rawLeft -= n;
        const piece = chunk.subarray(pos, pos + n);
        pos += n;
        if (this.#rawLeft === 0) this.#state = HEADER;
        this.handlers.onRaw(header, piece);
        if (this.#rawLeft === 0 && !this.#stopped) this.handlers.onEnd(header);
      }
    }
    return undefined;
  }

  #afterJson(header: KvFrameHeader): void {
    if (header.rawBytes > 0) {
      this.#state = RAW;
      this.#rawLeft = header.rawBytes;
    } else {
      this.#state = HEADER;
      this.handlers.onEnd(header);
    }
  }

  #fail(reason: string): string {
    this.#stopped = true;
    return reason;
  }
}
