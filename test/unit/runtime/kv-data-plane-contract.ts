// One behavioural suite for both KV data-plane backends (in-process and TCP): a puller must see the
// same bytes, the same order and the same typed errors whichever carries them.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type BlockHash,
  hex64,
  type KvBlockLayout,
  type KvPullRequest,
  KvTransferError,
  type KvTransferErrorCode,
  kvLayerBlockBytes,
} from '../../../src/api/index.js';
import type {
  KvBlockProvider,
  KvDataPlane,
  KvPullSource,
  ServedKvDataPlane,
} from '../../../src/runtime/index.js';

export interface KvDataPlanePair {
  server: KvDataPlane;
  client: KvDataPlane;
}

export const LAYOUT: KvBlockLayout = {
  numLayers: 6,
  numKvHeads: 2,
  headDim: 16,
  dtype: 'float32',
  blockSize: 16,
};

/** A pin: its blocks' bytes per layer, K and V apart as an engine holds them. */
export interface Pin {
  model: string;
  layout: KvBlockLayout;
  hashes: BlockHash[];
  /** [block][layer] → K‖V bytes. */
  bytes: Uint8Array[][];
}

export function makePin(blocks: number, layout: KvBlockLayout = LAYOUT, model = 'm'): Pin {
  const layerBytes = kvLayerBlockBytes(layout);
  const hashes = Array.from(
    { length: blocks },
    (_, i) => hex64((BigInt(i + 1) * 0x9e3779b97f4a7c15n) & ((1n << 64n) - 1n)) as BlockHash,
  );
  const bytes = hashes.map(() =>
    Array.from({ length: layout.numLayers }, () => new Uint8Array(randomBytes(layerBytes))),
  );
  return { model, layout, hashes, bytes };
}

/** A provider over pins by handle, validating as an engine would and recording what happened. */
export class TestProvider implements KvBlockProvider {
  readonly pins = new Map<string, Pin>();
  readonly released: string[] = [];
  readonly closedSources: string[] = [];
  /** Overrides per handle: throw this from lookup, or call this on each read. */
  readonly lookupErrors = new Map<string, unknown>();
  readonly onRead = new Map<string, (block: number, layer: number) => void>();
  releaseError: unknown;
  /** Serve K and V as two views (true) or one (false). */
  splitKv = true;
  /** Give this many bytes too few for every layer. */
  shortBy = 0;

  lookup(handle: string, request: KvPullRequest): KvPullSource {
    const error = this.lookupErrors.get(handle);
    if (error !== undefined) throw error;
    const pin = this.pins.get(handle);
    if (!pin) throw new KvTransferError('unknown_handle', `no pin ${handle}`);
    if (pin.model !== request.model) throw new KvTransferError('model_mismatch', 'another model');
    if (JSON.stringify(pin.layout) !== JSON.stringify(request.layout))
      throw new KvTransferError('layout_mismatch', 'another layout');
    const index = request.blockHashes.map((h) => pin.hashes.indexOf(h));
    if (index.some((i) => i < 0))
      throw new KvTransferError('blocks_mismatch', 'a block the pin does not hold');
    const hook = this.onRead.get(handle);
    return {
      read: (block, layer) => {
        hook?.(block, layer);
        const all = (pin.bytes[index[block] as number] as Uint8Array[])[layer] as Uint8Array;
        const bytes = all.subarray(0, all.length - this.shortBy);
        if (!this.splitKv) return bytes;
        const half = bytes.length >> 1;
        return [bytes.subarray(0, half), bytes.subarray(half)];
      },
      close: () => this.closedSources.push(handle),
    };
  }

  release(handle: string): void {
    if (this.releaseError !== undefined) throw this.releaseError;
    if (!this.pins.delete(handle)) throw new KvTransferError('unknown_handle', `no pin ${handle}`);
    this.released.push(handle);
  }
}

export function pullRequest(handle: string, pin: Pin, hashes: BlockHash[] = pin.hashes): KvPullRequest {
  return { handle, model: pin.model, blockHashes: hashes, layout: pin.layout };
}

/** Collects what a pull delivers, copying (the view is valid only during the call). */
export function collector(): {
  got: { block: number; layer: number; bytes: Uint8Array }[];
  sink: (block: number, layer: number, bytes: Uint8Array) => void;
} {
  const got: { block: number; layer: number; bytes: Uint8Array }[] = [];
  return { got, sink: (block, layer, bytes) => got.push({ block, layer, bytes: new Uint8Array(bytes) }) };
}

export function expectDelivered(
  got: { block: number; layer: number; bytes: Uint8Array }[],
  pin: Pin,
  hashes: BlockHash[] = pin.hashes,
): void {
  const layers = pin.layout.numLayers;
  expect(got.length).toBe(hashes.length * layers);
  got.forEach((g, i) => {
    const block = Math.floor(i / layers);
    expect([g.block, g.layer]).toEqual([block, i % layers]);
    const expected = (pin.bytes[pin.hashes.indexOf(hashes[block] as BlockHash)] as Uint8Array[])[g.layer];
    expect(Buffer.compare(Buffer.from(g.bytes), Buffer.from(expected as Uint8Array))).toBe(0);
  });
}

export async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

export function expectCode(err: unknown, code: KvTransferErrorCode): void {
  expect(err).toBeInstanceOf(KvTransferError);
  expect((err as KvTransferError).code).toBe(code);
}

export function describeKvDataPlaneContract(name: string, makePair: () => KvDataPlanePair): void {
  describe(`KV data-plane contract (${name})`, () => {
    const pairs: KvDataPlanePair[] = [];
    afterEach(async () => {
      await Promise.all(pairs.splice(0).flatMap((p) => [p.server.close(), p.client.close()]));
    });
    async function setup(): Promise<KvDataPlanePair & { provider: TestProvider; served: ServedKvDataPlane }> {
      const pair = makePair();
      pairs.push(pair);
      const provider = new TestProvider();
      const served = await pair.server.serve(provider);
      return { ...pair, provider, served };
    }

    it('delivers every block and layer intact and in order, K and V in one view or two', async () => {
      const { client, provider, served } = await setup();
      for (const split of [true, false]) {
        provider.splitKv = split;
        const pin = makePin(48);
        provider.pins.set('h', pin);
        const { got, sink } = collector();
        const result = await client.pull(served.address, pullRequest('h', pin), sink);
        expect(result).toEqual({
          blocks: 48,
          bytes: 48 * LAYOUT.numLayers * kvLayerBlockBytes(LAYOUT),
          released: false,
        });
        expectDelivered(got, pin);
        provider.pins.delete('h');
      }
      expect(served.stats()).toMatchObject({ activePulls: 0, completedPulls: 2, failedPulls: 0 });
    });

    it('pulls only the blocks asked for, in the order asked', async () => {
      const { client, provider, served } = await setup();
      const pin = makePin(10);
      provider.pins.set('h', pin);
      const wanted = [7, 2, 9].map((i) => pin.hashes[i] as BlockHash);
      const { got, sink } = collector();
      await client.pull(served.address, pullRequest('h', pin, wanted), sink);
      expectDelivered(got, pin, wanted);
    });

    it('carries large layers whole (a layer larger than a socket read)', async () => {
      const { client, provider, served } = await setup();
      const layout: KvBlockLayout = {
        numLayers: 3,
        numKvHeads: 8,
        headDim: 128,
        dtype: 'float16',
        blockSize: 64,
      };
      const pin = makePin(12, layout);
      provider.pins.set('big', pin);
      const { got, sink } = collector();
      await client.pull(served.address, pullRequest('big', pin), sink);
      expectDelivered(got, pin);
    });

    it('serves many pulls at once', async () => {
      const { client, provider, served } = await setup();
      const pins = Array.from({ length: 8 }, (_, i) => {
        const pin = makePin(16 + i);
        provider.pins.set(`h${i}`, pin);
        return pin;
      });
      const collectors = pins.map(() => collector());
      await Promise.all(
        pins.map((pin, i) =>
          client.pull(
            served.address,
            pullRequest(`h${i}`, pin),
            (collectors[i] as ReturnType<typeof collector>).sink,
          ),
        ),
      );
      for (const [i, pin] of pins.entries()) {
        expectDelivered((collectors[i] as ReturnType<typeof collector>).got, pin);
      }
      expect(served.stats()).toMatchObject({ activePulls: 0, completedPulls: 8 });
    });

    it("carries the provider's typed refusals as the same code", async () => {
      const { client, provider, served } = await setup();
      const pin = makePin(4);
      provider.pins.set('h', pin);
      const { sink } = collector();
      expectCode(
        await rejection(client.pull(served.address, pullRequest('nope', pin), sink)),
        'unknown_handle',
      );
      expectCode(
        await rejection(client.pull(served.address, { ...pullRequest('h', pin), model: 'other' }, sink)),
        'model_mismatch',
      );
      expectCode(
        await rejection(
          client.pull(served.address, { ...pullRequest('h', pin), layout: { ...LAYOUT, headDim: 32 } }, sink),
        ),
        'layout_mismatch',
      );
      expectCode(
        await rejection(client.pull(served.address, pullRequest('h', pin, [hex64(42n) as BlockHash]), sink)),
        'blocks_mismatch',
      );
      provider.lookupErrors.set('h', new KvTransferError('expired', 'too late'));
      const expired = await rejection(client.pull(served.address, pullRequest('h', pin), sink));
      expectCode(expired, 'expired');
      expect((expired as KvTransferError).detail).toBe('too late');
      provider.lookupErrors.set('h', new Error('engine stopped'));
      const untyped = await rejection(client.pull(served.address, pullRequest('h', pin), sink));
      expectCode(untyped, 'unreachable');
      expect(String(untyped)).toMatch(/engine stopped/);
    });

    it('fails a pull whose blocks expire midway with that code, after the blocks before', async () => {
      const { client, provider, served } = await setup();
      const pin = makePin(8);
      provider.pins.set('h', pin);
      provider.onRead.set('h', (block) => {
        if (block === 3) throw new KvTransferError('expired', 'pin dropped');
      });
      const { got, sink } = collector();
      expectCode(await rejection(client.pull(served.address, pullRequest('h', pin), sink)), 'expired');
      expect(got.length).toBe(3 * LAYOUT.numLayers);
      await until(() => provider.closedSources.length === 1, 'the source to close');
      expect(served.stats()).toMatchObject({ activePulls: 0, failedPulls: 1 });
    });

    it('refuses bytes that do not match the layout with layout_mismatch', async () => {
      const { client, provider, served } = await setup();
      const pin = makePin(2);
      provider.pins.set('h', pin);
      provider.shortBy = 2;
      const { sink } = collector();
      expectCode(
        await rejection(client.pull(served.address, pullRequest('h', pin), sink)),
        'layout_mismatch',
      );
    });

    it('refuses an invalid request with protocol', async () => {
      const { client, provider, served } = await setup();
      const pin = makePin(2);
      provider.pins.set('h', pin);
      const { sink } = collector();
      const bad = { ...pullRequest('h', pin), blockHashes: ['not-a-hash' as BlockHash] };
      expectCode(await rejection(client.pull(served.address, bad, sink)), 'protocol');
    });

    it('releases the pin when asked, once all blocks arrived, and not otherwise', async () => {
      const { client, provider, served } = await setup();
      const pin = makePin(5);
      provider.pins.set('a', pin);
      provider.pins.set('b', pin);
      const { got, sink } = collector();
      const kept = await client.pull(served.address, pullRequest('a', pin), sink);
      expect(kept.released).toBe(false);
      expect(provider.released).toEqual([]);
      const released = await client.pull(served.address, pullRequest('b', pin), sink, { release: true });
      expect(released.released).toBe(true);
      expect(provider.released).toEqual(['b']);
      expect(got.length).toBe(2 * 5 * LAYOUT.numLayers);
      // Nothing left to pull (every block cached already): a pull of no blocks only releases.
      const only = await client.pull(served.address, pullRequest('a', pin, []), sink, { release: true });
      expect(only).toEqual({ blocks: 0, bytes: 0, released: true });
      expect(provider.released).toEqual(['b', 'a']);
      // A failed release is typed too.
      provider.pins.set('c', pin);
      provider.releaseError = new KvTransferError('unknown_handle', 'gone');
      expectCode(
        await rejection(client.pull(served.address, pullRequest('c', pin), sink, { release: true })),
        'unknown_handle',
      );
    });

    it('fails with unreachable when the server closes mid-transfer, and after', async () => {
      const { client, provider, served } = await setup();
      const pin = makePin(32);
      provider.pins.set('h', pin);
      provider.onRead.set('h', (block, layer) => {
        if (block === 5 && layer === 0) void served.close();
      });
      const { got, sink } = collector();
      expectCode(
        await rejection(client.pull(served.address, pullRequest('h', pin), sink, { release: true })),
        'unreachable',
      );
      expect(got.length).toBeLessThan(32 * LAYOUT.numLayers);
      expect(provider.released).toEqual([]);
      expectCode(await rejection(client.pull(served.address, pullRequest('h', pin), sink)), 'unreachable');
    });

    it('stops an aborted pull: no more blocks, no release, the server side ends', async () => {
      const { client, provider, served } = await setup();
      const pin = makePin(64);
      provider.pins.set('h', pin);
      const controller = new AbortController();
      let delivered = 0;
      const err = await rejection(
        client.pull(
          served.address,
          pullRequest('h', pin),
          () => {
            delivered++;
            if (delivered === 2 * LAYOUT.numLayers) controller.abort();
          },
          { signal: controller.signal, release: true },
        ),
      );
      expect((err as Error).name).toBe('AbortError');
      expect(delivered).toBe(2 * LAYOUT.numLayers);
      await until(
        () => provider.closedSources.length === 1 && served.stats().activePulls === 0,
        'the pull to end',
      );
      expect(provider.released).toEqual([]);

      const already = AbortSignal.abort();
      expect(
        (
          (await rejection(
            client.pull(served.address, pullRequest('h', pin), () => {}, { signal: already }),
          )) as Error
        ).name,
      ).toBe('AbortError');
    });

    it('fails with the error a sink throws', async () => {
      const { client, provider, served } = await setup();
      const pin = makePin(4);
      provider.pins.set('h', pin);
      const err = await rejection(
        client.pull(served.address, pullRequest('h', pin), () => {
          throw new Error('store full');
        }),
      );
      expect(String(err)).toMatch(/store full/);
    });
  });
}
