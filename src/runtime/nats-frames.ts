// Response frames of the NATS request plane (server → caller inbox). A 5-byte binary header instead
// of a JSON envelope, so a token frame costs one JSON encode on the worker and one parse on the caller:
//
//   byte 0     kind: 1 data, 2 end, 3 error, 4 heartbeat
//   bytes 1-4  seq, u32 big-endian: data → this frame's number (1, 2, ...); end / error / heartbeat →
//              the number of data frames sent before it, so a caller detects any lost frame
//   bytes 5-   data → the JSON frame; error → JSON ErrorFrame; end / heartbeat → nothing
import type { ErrorFrame } from '../api/request-plane.js';
import { errorFrameSchema } from '../api/request-plane.js';

export const FRAME_KIND = { data: 1, end: 2, error: 3, heartbeat: 4 } as const;
export const FRAME_HEADER_BYTES = 5;

export type DecodedFrame =
  | { kind: 'data'; seq: number; body: Uint8Array }
  | { kind: 'end'; seq: number }
  | { kind: 'error'; seq: number; error: ErrorFrame }
  | { kind: 'heartbeat'; seq: number }
  | { kind: 'malformed'; reason: string };

/** A data frame: `json` is the frame's JSON text. */
export function encodeDataFrame(seq: number, json: string): Uint8Array {
  const bytes = Buffer.byteLength(json);
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bytes);
  buf[0] = FRAME_KIND.data;
  buf.writeUInt32BE(seq, 1);
  buf.write(json, FRAME_HEADER_BYTES, bytes, 'utf8');
  return buf;
}

export function encodeControlFrame(kind: 'end' | 'heartbeat', seq: number): Uint8Array {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  buf[0] = FRAME_KIND[kind];
  buf.writeUInt32BE(seq, 1);
  return buf;
}

export function encodeErrorFrame(seq: number, error: ErrorFrame): Uint8Array {
  const json = JSON.stringify(error);
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + Buffer.byteLength(json));
  buf[0] = FRAME_KIND.error;
  buf.writeUInt32BE(seq, 1);
  buf.write(json, FRAME_HEADER_BYTES, 'utf8');
  return buf;
}

/** Validates the header (and an error frame's body); a data frame's body is parsed by the consumer. */
export function decodeFrame(data: Uint8Array): DecodedFrame {
  if (data.length < FRAME_HEADER_BYTES) return { kind: 'malformed', reason: `frame of ${data.length} bytes` };
  const seq =
    ((data[1] ?? 0) * 0x1000000 + (((data[2] ?? 0) << 16) | ((data[3] ?? 0) << 8) | (data[4] ?? 0))) >>> 0;
  switch (data[0]) {
    case FRAME_KIND.data:
      return seq === 0
        ? { kind: 'malformed', reason: 'data frame with seq 0' }
        : { kind: 'data', seq, body: data.subarray(FRAME_HEADER_BYTES) };
    case FRAME_KIND.end:
      return data.length === FRAME_HEADER_BYTES
        ? { kind: 'end', seq }
        : { kind: 'malformed', reason: 'end frame with a body' };
    case FRAME_KIND.heartbeat:
      return data.length === FRAME_HEADER_BYTES
        ? { kind: 'heartbeat', seq }
        : { kind: 'malformed', reason: 'heartbeat with a body' };
    case FRAME_KIND.error: {
      let body: unknown;
      try {
        body = JSON.parse(
          Buffer.from(
            data.buffer,
            data.byteOffset + FRAME_HEADER_BYTES,
            data.length - FRAME_HEADER_BYTES,
          ).toString('utf8'),
        );
      } catch {
        return { kind: 'malformed', reason: 'error frame is not JSON' };
      }
      const parsed = errorFrameSchema.safeParse(body);
      return parsed.success
        ? { kind: 'error', seq, error: parsed.data }
        : { kind: 'malformed', reason: `error frame: ${parsed.error.message}` };
    }
    default:
      return { kind: 'malformed', reason: `unknown frame kind ${data[0]}` };
  }
}
