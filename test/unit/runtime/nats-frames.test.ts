import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodeControlFrame,
  encodeDataFrames,
  encodeErrorFrame,
} from '../../../src/runtime/nats-frames.js';

describe('NATS response frames', () => {
  it('round-trips batches of data frames, including seq past 2^31 and non-ASCII JSON', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0xffffffff }),
        fc.array(fc.jsonValue(), { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        (seq, values, end) => {
          const array = `[${values.map((v) => JSON.stringify(v) ?? 'null').join(',')}]`;
          const frame = decodeFrame(encodeDataFrames(seq, array, Buffer.byteLength(array), end));
          expect(frame).toEqual({ kind: 'data', seq, frames: JSON.parse(array), end });
        },
      ),
    );
  });

  it('round-trips end, heartbeat and error frames', () => {
    expect(decodeFrame(encodeControlFrame('end', 7))).toEqual({ kind: 'end', seq: 7 });
    expect(decodeFrame(encodeControlFrame('heartbeat', 0))).toEqual({ kind: 'heartbeat', seq: 0 });
    expect(decodeFrame(encodeErrorFrame(3, { code: 'handler_error', message: 'boom' }))).toEqual({
      kind: 'error',
      seq: 3,
      error: { code: 'handler_error', message: 'boom' },
    });
  });

  it('rejects malformed frames with a reason instead of throwing', () => {
    const cases: Uint8Array[] = [
      new Uint8Array([]),
      new Uint8Array([1, 0, 0]),
      new Uint8Array([9, 0, 0, 0, 1]),
      Buffer.concat([Buffer.from([1, 0, 0, 0, 0]), Buffer.from('[1]')]),
      Buffer.concat([Buffer.from([1, 0, 0, 0, 1]), Buffer.from('[]')]),
      Buffer.concat([Buffer.from([5, 0, 0, 0, 1]), Buffer.from('{"a":1}')]),
      Buffer.concat([Buffer.from([1, 0, 0, 0, 1]), Buffer.from('[1,')]),
      new Uint8Array([2, 0, 0, 0, 1, 0x7b]),
      new Uint8Array([4, 0, 0, 0, 1, 0x7b]),
      Buffer.concat([Buffer.from([3, 0, 0, 0, 0]), Buffer.from('not json')]),
      Buffer.concat([Buffer.from([3, 0, 0, 0, 0]), Buffer.from('{"code":"nope","message":""}')]),
    ];
    for (const data of cases) expect(decodeFrame(data).kind).toBe('malformed');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        expect(() => decodeFrame(data)).not.toThrow();
      }),
    );
  });
});
