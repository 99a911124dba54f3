// Messages of the NATS request plane from worker to caller inbox: a 5-byte binary header instead of a
// JSON envelope, and response frames batched: the frames a handler yields within one event-loop turn
// travel as one JSON array, so a token costs one JSON encode on the worker, a share of one parse on
// the caller, and a share of one NATS message.
//
//   byte 0     kind: 1 data, 5 data then end, 2 end, 3 error, 4 heartbeat
//   bytes 1-4  seq, u32 big-endian: data → the number of its first frame (1, 2, ...); end / error /
//              heartbeat → the number of frames sent before it, so a caller detects any lost frame
//   bytes 5-   data → a JSON array of frames; error → JSON ErrorFrame; end / heartbeat → nothing
import type { ErrorFrame } from '../api/request-plane.js';
import { errorFrameSchema } from '../api/request-plane.js';

export const FRAME_KIND = { data: 1, end: 2, error: 3, heartbeat: 4, dataEnd: 5 } as const;
export const FRAME_HEADER_BYTES = 5;

export type DecodedFrame =
  | { kind: 'data'; seq: number; frames: unknown[]; end: boolean }
  | { kind: 'end'; seq: number }
  | { kind: 'error'; seq: number; error: ErrorFrame }
  | { kind: 'heartbeat'; seq: number }
  | { kind: 'malformed'; reason: string };

/** A batch of data frames: `array` is their JSON array text, `bytes` its UTF-8 length. */
export function encodeDataFrames(firstSeq: number, array: string, bytes: number, end: boolean): Uint8Array {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bytes);
  buf[0] = end ? FRAME_KIND.dataEnd : FRAME_KIND.data;
  buf.writeUInt32BE(firstSeq, 1);
  buf.write(array, FRAME_HEADER_BYTES, bytes, 'utf8');
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

/** Validates the header and parses the body (the caller validates each data frame with its schema). */
export function decodeFrame(data: Uint8Array): DecodedFrame {
  if (data.length < FRAME_HEADER_BYTES) return { kind: 'malformed', reason: `frame of ${data.length} bytes` };
  const seq =
    ((data[1] ?? 0) * 0x1000000 + (((data[2] ?? 0) << 16) | ((data[3] ?? 0) << 8) | (data[4] ?? 0))) >>> 0;
  switch (data[0]) {
    case FRAME_KIND.data:
    case FRAME_KIND.dataEnd: {
      if (seq === 0) return { kind: 'malformed', reason: 'data frame with seq 0' };
      const frames = parseBody(data);
      if (!Array.isArray(frames) || frames.length === 0)
        return { kind: 'malformed', reason: 'data frame is not a non-empty JSON array' };
      return { kind: 'data', seq, frames, end: data[0] === FRAME_KIND.dataEnd };
    }
    case FRAME_KIND.end:
      return data.length === FRAME_HEADER_BYTES
        ? { kind: 'end', seq }
        : { kind: 'malformed', reason: 'end frame with a body' };
    case FRAME_KIND.heartbeat:
      return data.length === FRAME_HEADER_BYTES
        ? { kind: 'heartbeat', seq }
        : { kind: 'malformed', reason: 'heartbeat with a body' };
    case FRAME_KIND.error: {
      const body = parseBody(data);
      if (body === NOT_JSON) return { kind: 'malformed', reason: 'error frame is not JSON' };
      const parsed = errorFrameSchema.safeParse(body);
      return parsed.success
        ? { kind: 'error', seq, error: parsed.data }
        : { kind: 'malformed', reason: `error frame: ${parsed.error.message}` };
    }
    default:
      return { kind: 'malformed', reason: `unknown frame kind ${data[0]}` };
  }
}

const NOT_JSON = Symbol('not JSON');

function parseBody(data: Uint8Array): unknown {
  try {
    return JSON.parse(
      Buffer.from(
        data.buffer,
        data.byteOffset + FRAME_HEADER_BYTES,
        data.length - FRAME_HEADER_BYTES,
      ).toString('utf8'),
    );
  } catch {
    return NOT_JSON;
  }
}
