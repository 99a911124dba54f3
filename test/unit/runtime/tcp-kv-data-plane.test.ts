import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { kvLayerBlockBytes, kvTransferErrorFrameSchema } from '../../../src/api/index.js';
import { TcpKvDataPlane } from '../../../src/runtime/index.js';
import {
  decodeKvFrameHeader,
  encodeKvBlockHeader,
  encodeKvControlFrame,
  encodeKvJsonFrame,
  KV_FRAME_HEADER_BYTES,
  writeKvFrameHeader,
} from '../../../src/runtime/kv-frames.js';
import { createLogger } from '../../../src/runtime/logger.js';
import {
  collector,
  describeKvDataPlaneContract,
  expectCode,
  expectDelivered,
  LAYOUT,
  makePin,
  pullRequest,
  rejection,
  TestProvider,
} from './kv-data-plane-contract.js';

const log = createLogger({ level: 'silent' });

describeKvDataPlaneContract('TCP', () => ({
  server: new TcpKvDataPlane({ log }),
  // A small read buffer: layers then often straddle reads and are joined.
  client: new TcpKvDataPlane({ log, readBufferBytes: 3000 }),
}));

const END = encodeKvControlFrame('end');

/**
 * Sends bytes on a raw socket; resolves with everything the server sent until it closed the
 * connection or sent an end frame.
 */
function rawExchange(port: number, ...writes: Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port }, () => {
      for (const w of writes) socket.write(w);
    });
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const all = Buffer.concat(chunks);
      if (all.length >= END.length && all.subarray(all.length - END.length).equals(END)) socket.destroy();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

function errorFrameOf(reply: Buffer): { code: string; message: string } {
  const header = decodeKvFrameHeader(reply, 0);
  if (typeof header === 'string') throw new Error(header);
  expect(header.type).toBe('error');
  const json = reply.subarray(KV_FRAME_HEADER_BYTES, KV_FRAME_HEADER_BYTES + header.jsonBytes).toString();
  return kvTransferErrorFrameSchema.parse(JSON.parse(json));
}

describe('TCP KV data plane', () => {
  const planes: TcpKvDataPlane[] = [];
  const fakes: Server[] = [];
  afterEach(async () => {
    await Promise.all(planes.splice(0).map((p) => p.close()));
    await Promise.all(fakes.splice(0).map((s) => new Promise((r) => s.close(r))));
  });
  function plane(options: Partial<ConstructorParameters<typeof TcpKvDataPlane>[0]> = {}): TcpKvDataPlane {
    const p = new TcpKvDataPlane({ log, ...options });
    planes.push(p);
    return p;
  }
  /** A stand-in for a misbehaving data plane. */
  async function fakeServer(onConnection: (socket: Socket) => void): Promise<number> {
    const server = createServer((socket) => {
      socket.on('error', () => undefined);
      // Read (and drop) what the puller sends: a paused socket would never see the puller close.
      socket.resume();
      onConnection(socket);
    });
    fakes.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  }

  it('answers malformed frames with a protocol error and keeps serving', async () => {
    const provider = new TestProvider();
    const pin = makePin(4);
    provider.pins.set('h', pin);
    const served = await plane().serve(provider);
    if (served.address.kind !== 'tcp') throw new Error('tcp expected');
    const port = served.address.port;

    // Garbage, a header that claims a 4 GiB JSON body, a body that is not a request, a frame out of order.
    const huge = Buffer.alloc(KV_FRAME_HEADER_BYTES);
    writeKvFrameHeader(huge, 0, { type: 'request', jsonBytes: 0xffffffff, block: 0, rawBytes: 0 });
    const cases: Buffer[][] = [
      [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
      [huge],
      [encodeKvJsonFrame('request', { handle: 'h' })],
      [encodeKvJsonFrame('request', 'x').subarray(0, KV_FRAME_HEADER_BYTES), Buffer.from('{{{')],
      [encodeKvControlFrame('release')],
      [encodeKvBlockHeader(0, 4)],
    ];
    for (const writes of cases) {
      const reply = await rawExchange(port, ...writes);
      expect(errorFrameOf(reply).code).toBe('protocol');
    }
    // A request split byte by byte is fine, and the server still serves.
    const { got, sink } = collector();
    await plane().pull(served.address, pullRequest('h', pin), sink);
    expectDelivered(got, pin);
    const frame = encodeKvJsonFrame('request', pullRequest('h', pin));
    const bytes = await rawExchange(port, ...[...frame].map((b) => Buffer.from([b])));
    expect(bytes.length).toBeGreaterThan(4 * LAYOUT.numLayers * kvLayerBlockBytes(LAYOUT));
    expect(served.stats().protocolErrors).toBe(cases.length);
  });

  it('fails a pull with protocol when the server sends malformed frames', async () => {
    const pin = makePin(4);
    const { sink } = collector();
    const replies: Buffer[] = [
      Buffer.from('this is not a frame at all'),
      encodeKvBlockHeader(1, 6 * kvLayerBlockBytes(LAYOUT)),
      encodeKvBlockHeader(0, 12),
      encodeKvControlFrame('end'),
      encodeKvJsonFrame('error', { code: 'no-such-code', message: '' }),
    ];
    for (const reply of replies) {
      const port = await fakeServer((socket) => socket.end(reply));
      const err = await rejection(
        plane().pull({ kind: 'tcp', host: '127.0.0.1', port }, pullRequest('h', pin), sink),
      );
      expectCode(err, 'protocol');
    }
  });

  it('fails with unreachable, never hangs: refused, silent, or closed early', async () => {
    const pin = makePin(2);
    const { sink } = collector();
    const closedPort = await fakeServer(() => undefined);
    await new Promise((r) => (fakes.pop() as Server).close(r));
    expectCode(
      await rejection(
        plane().pull({ kind: 'tcp', host: '127.0.0.1', port: closedPort }, pullRequest('h', pin), sink),
      ),
      'unreachable',
    );
    const silent = await fakeServer(() => undefined);
    expectCode(
      await rejection(
        plane({ idleTimeoutMs: 50 }).pull(
          { kind: 'tcp', host: '127.0.0.1', port: silent },
          pullRequest('h', pin),
          sink,
        ),
      ),
      'unreachable',
    );
    const half = await fakeServer((socket) =>
      socket.end(encodeKvBlockHeader(0, 6 * kvLayerBlockBytes(LAYOUT))),
    );
    expectCode(
      await rejection(
        plane().pull({ kind: 'tcp', host: '127.0.0.1', port: half }, pullRequest('h', pin), sink),
      ),
      'unreachable',
    );
    expectCode(
      await rejection(plane().pull({ kind: 'memory', address: 'kv-x' }, pullRequest('h', pin), sink)),
      'unreachable',
    );
  });

  it('drops a connection that never sends a request', async () => {
    const served = await plane({ idleTimeoutMs: 50 }).serve(new TestProvider());
    if (served.address.kind !== 'tcp') throw new Error('tcp expected');
    const reply = await rawExchange(served.address.port);
    expect(reply.length).toBe(0);
  });

  it('moves a payload far larger than the socket buffers (backpressure) intact', async () => {
    const provider = new TestProvider();
    const layout = { numLayers: 4, numKvHeads: 8, headDim: 128, dtype: 'float16' as const, blockSize: 32 };
    const pin = makePin(64, layout);
    provider.pins.set('h', pin);
    const served = await plane({ highWaterMark: 64 * 1024 }).serve(provider);
    const { got, sink } = collector();
    const result = await plane().pull(served.address, pullRequest('h', pin), sink, { release: true });
    expect(result.bytes).toBe(64 * 4 * kvLayerBlockBytes(layout));
    expectDelivered(got, pin);
    expect(provider.released).toEqual(['h']);
  });

  it('advertises the listen host, or the given one', async () => {
    const served = await plane({ advertiseHost: 'pod.example' }).serve(new TestProvider());
    expect(served.address).toMatchObject({ kind: 'tcp', host: 'pod.example' });
    const local = await plane().serve(new TestProvider());
    expect(local.address).toMatchObject({ kind: 'tcp', host: '127.0.0.1' });
  });
});
