import { describe, expect, it } from 'vitest';
import {
  decodeKvFrameHeader,
  encodeKvBlockHeader,
  encodeKvControlFrame,
  encodeKvJsonFrame,
  KV_FRAME_HEADER_BYTES,
  type KvFrameHeader,
  KvFrameParser,
} from '../../../src/runtime/kv-frames.js';

function stream(): { bytes: Buffer; raw: Buffer } {
  const raw = Buffer.from(Array.from({ length: 50 }, (_, i) => i));
  const bytes = Buffer.concat([
    encodeKvJsonFrame('request', { handle: 'h', ü: 'ß' }),
    encodeKvBlockHeader(0, 30),
    raw.subarray(0, 30),
    encodeKvBlockHeader(1, 20),
    raw.subarray(30),
    encodeKvControlFrame('end'),
  ]);
  return { bytes, raw };
}

function parseAll(chunks: Buffer[]) {
  const events: string[] = [];
  const raw: Buffer[] = [];
  const parser = new KvFrameParser(
    {
      onHeader: (h: KvFrameHeader) => {
        events.push(`header ${h.type} ${h.block}`);
        return undefined;
      },
      onJson: (_h, json) => {
        events.push(`json ${JSON.stringify(JSON.parse(json.toString()))}`);
        return undefined;
      },
      onRaw: (_h, bytes) => {
        raw.push(Buffer.from(bytes));
      },
      onEnd: (h) => {
        events.push(`end ${h.type}`);
      },
    },
    1024,
  );
  for (const c of chunks) expect(parser.push(c)).toBeUndefined();
  expect(parser.atFrameBoundary).toBe(true);
  return { events, raw: Buffer.concat(raw) };
}

describe('KV data-plane frames', () => {
  it('parses the same frames however the stream is cut', () => {
    const { bytes, raw } = stream();
    const whole = parseAll([bytes]);
    expect(whole.events).toEqual([
      'header request 0',
      'json {"handle":"h","ü":"ß"}',
      'end request',
      'header block 0',
      'end block',
      'header block 1',
      'end block',
      'header end 0',
      'end end',
    ]);
    expect(whole.raw.equals(raw)).toBe(true);
    for (const size of [1, 2, 3, 7, 15, 16, 17, 31]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      const cut = parseAll(chunks);
      expect(cut.events).toEqual(whole.events);
      expect(cut.raw.equals(raw)).toBe(true);
    }
  });

  it('names what is wrong with a header', () => {
    const good = encodeKvControlFrame('end');
    expect(decodeKvFrameHeader(good, 0)).toEqual({ type: 'end', jsonBytes: 0, block: 0, rawBytes: 0 });
    const bad = (mutate: (b: Buffer) => void) => {
      const b = Buffer.from(good);
      mutate(b);
      return decodeKvFrameHeader(b, 0);
    };
    expect(bad((b) => (b[0] = 0))).toMatch(/magic/);
    expect(bad((b) => (b[2] = 9))).toMatch(/version 9/);
    expect(bad((b) => (b[3] = 0))).toMatch(/unknown frame type 0/);
    expect(bad((b) => (b[3] = 7))).toMatch(/unknown frame type 7/);
    expect(bad((b) => b.writeUInt32LE(5, 4))).toMatch(/JSON/);
    expect(bad((b) => b.writeUInt32LE(5, 12))).toMatch(/raw/);
    expect(decodeKvFrameHeader(encodeKvBlockHeader(0, 0), 0)).toMatch(/without bytes/);
    expect(decodeKvFrameHeader(good.subarray(0, KV_FRAME_HEADER_BYTES - 1), 0)).toMatch(/truncated/);
  });

  it('refuses a JSON body over the limit before allocating it, and stops', () => {
    const parser = new KvFrameParser(
      { onHeader: () => undefined, onJson: () => undefined, onRaw: () => undefined, onEnd: () => undefined },
      8,
    );
    expect(parser.push(encodeKvJsonFrame('error', { code: 'protocol', message: 'long enough' }))).toMatch(
      /exceeds the limit of 8/,
    );
    expect(parser.stopped).toBe(true);
  });
});
