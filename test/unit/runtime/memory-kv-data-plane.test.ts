import { describe, expect, it } from 'vitest';
import { MemoryKvDataPlane, MemoryKvHub } from '../../../src/runtime/index.js';
import {
  collector,
  describeKvDataPlaneContract,
  expectCode,
  expectDelivered,
  makePin,
  pullRequest,
  rejection,
  TestProvider,
} from './kv-data-plane-contract.js';

describeKvDataPlaneContract('in-memory', () => {
  const hub = new MemoryKvHub();
  // A small yield interval, so the suite also runs pulls that interleave on the event loop.
  return {
    server: new MemoryKvDataPlane(hub),
    client: new MemoryKvDataPlane(hub, { yieldEveryBytes: 64 * 1024 }),
  };
});

describe('in-memory KV data plane', () => {
  it('hands the provider’s own view to the sink when a layer is one view', async () => {
    const hub = new MemoryKvHub();
    const plane = new MemoryKvDataPlane(hub);
    const provider = new TestProvider();
    provider.splitKv = false;
    const pin = makePin(3);
    provider.pins.set('h', pin);
    const served = await plane.serve(provider);
    const seen: Uint8Array[] = [];
    await plane.pull(served.address, pullRequest('h', pin), (_b, _l, bytes) => seen.push(bytes));
    expect(seen[0]?.buffer).toBe(pin.bytes[0]?.[0]?.buffer);
    await plane.close();
  });

  it('reaches only in-process addresses of its own hub', async () => {
    const plane = new MemoryKvDataPlane(new MemoryKvHub());
    const other = new MemoryKvDataPlane(new MemoryKvHub());
    const provider = new TestProvider();
    const pin = makePin(1);
    provider.pins.set('h', pin);
    const served = await other.serve(provider);
    const { got, sink } = collector();
    expectCode(await rejection(plane.pull(served.address, pullRequest('h', pin), sink)), 'unreachable');
    expectCode(
      await rejection(plane.pull({ kind: 'tcp', host: '127.0.0.1', port: 1 }, pullRequest('h', pin), sink)),
      'unreachable',
    );
    await other.pull(served.address, pullRequest('h', pin), sink);
    expectDelivered(got, pin);
  });
});
