// One behavioural suite for both backend pairs: the unit project runs it on the in-memory backends,
// the integration project on etcd + NATS. Both must give callers and workers the same guarantees.
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { EndpointId, Instance, KvEvent, ModelCard } from '../../../src/api/index.js';
import { newInstanceId } from '../../../src/api/index.js';
import {
  type InstanceEvent,
  isRequestError,
  KV_EVENTS,
  LOAD_METRICS,
  type ModelEvent,
  type RequestContext,
  type Runtime,
} from '../../../src/runtime/index.js';

export interface RuntimePair {
  worker: Runtime;
  caller: Runtime;
}

const frame = z.object({ i: z.number().int() });
const echoRequest = z.object({ n: z.number().int().nonnegative(), fail: z.number().int().optional() });

export function card(name: string): ModelCard {
  return {
    name,
    modelTypes: ['chat'],
    engine: 'mocker',
    contextLength: 4096,
    kvCacheBlockSize: 64,
    totalKvBlocks: 1000,
    maxNumSeqs: 8,
    maxNumBatchedTokens: 2048,
    eosTokenIds: [2],
    tokenizerChecksum: 'a'.repeat(64),
    tokenizerConfigChecksum: null,
    disaggregationMode: 'agg',
  };
}

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of stream) out.push(x);
  return out;
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function describeRuntimeContract(name: string, makePair: (ns: string) => Promise<RuntimePair>): void {
  describe(`runtime contract (${name})`, () => {
    const pairs: RuntimePair[] = [];
    let seq = 0;
    async function pair(): Promise<RuntimePair & { ep: EndpointId; ns: string }> {
      const ns = `t${process.pid}-${Date.now().toString(36)}-${seq++}`;
      const p = await makePair(ns);
      pairs.push(p);
      return { ...p, ns, ep: { namespace: ns, component: 'backend', endpoint: 'generate' } };
    }
    afterEach(async () => {
      await Promise.all(pairs.splice(0).flatMap((p) => [p.worker.close(), p.caller.close()]));
    });

    async function* counter(req: z.infer<typeof echoRequest>, ctx: RequestContext) {
      for (let i = 0; i < req.n; i++) {
        if (req.fail === i) throw new Error(`boom at ${i}`);
        if (ctx.signal.aborted) return;
        yield { i };
      }
    }

    it('streams frames whole and in order, then ends', async () => {
      const { worker, caller, ep } = await pair();
      expect(worker.ready).toBe(false);
      const served = await worker.serveEndpoint(ep, counter, { requestSchema: echoRequest });
      expect(worker.ready).toBe(true);
      const got = await collect(
        caller.requestPlane.call(served.instance, { n: 10_000 }, { responseSchema: frame }),
      );
      expect(got.length).toBe(10_000);
      expect(got.every((f, i) => f.i === i)).toBe(true);
    });

    it('types a handler error, an invalid request and a missing instance', async () => {
      const { worker, caller, ep } = await pair();
      const served = await worker.serveEndpoint(ep, counter, { requestSchema: echoRequest });
      const got: number[] = [];
      const err = await (async () => {
        for await (const f of caller.requestPlane.call(
          served.instance,
          { n: 10, fail: 3 },
          { responseSchema: frame },
        ))
          got.push(f.i);
      })().catch((e: unknown) => e);
      expect(got).toEqual([0, 1, 2]);
      expect(isRequestError(err, 'handler_error')).toBe(true);
      expect(String(err)).toMatch(/boom at 3/);

      const invalid = await collect(caller.requestPlane.call(served.instance, { n: -1 })).catch(
        (e: unknown) => e,
      );
      expect(isRequestError(invalid, 'invalid_request')).toBe(true);

      const gone: Instance = { ...served.instance, instanceId: newInstanceId() };
      gone.transport =
        gone.transport.kind === 'nats'
          ? { kind: 'nats', subject: `dynamo.${ep.namespace}.backend.generate.${gone.instanceId}` }
          : { kind: 'memory', address: `nowhere-${gone.instanceId}` };
      const missing = await collect(caller.requestPlane.call(gone, { n: 1 })).catch((e: unknown) => e);
      expect(isRequestError(missing, 'no_responders')).toBe(true);
    });

    it('rejects an oversized request with payload_too_large', async () => {
      const { worker, caller, ep } = await pair();
      const served = await worker.serveEndpoint(ep, counter, { requestSchema: echoRequest });
      const big = { n: 1, pad: 'x'.repeat(2 * 1024 * 1024) };
      const err = await collect(caller.requestPlane.call(served.instance, big)).catch((e: unknown) => e);
      expect(isRequestError(err, 'payload_too_large')).toBe(true);
    });

    it('a stream past maxStreams is refused with overloaded before its handler runs', async () => {
      const { worker, caller, ep } = await pair();
      let started = 0;
      const gates: (() => void)[] = [];
      const held = async function* () {
        started++;
        await new Promise<void>((resolve) => gates.push(resolve));
        yield { i: 0 };
      };
      const served = await worker.serveEndpoint(ep, held, { requestSchema: z.unknown(), maxStreams: 2 });
      const first = [
        collect(caller.requestPlane.call(served.instance, {})),
        collect(caller.requestPlane.call(served.instance, {})),
      ];
      await until(() => started === 2, 'two streams to start');
      const refused = await collect(caller.requestPlane.call(served.instance, {})).catch((e: unknown) => e);
      expect(isRequestError(refused, 'overloaded')).toBe(true);
      expect(String(refused)).toMatch(/2 streams/);
      expect(started).toBe(2);
      for (const open of gates.splice(0)) open();
      expect((await Promise.all(first)).map((f) => f.length)).toEqual([1, 1]);
      // A slot freed: the next stream is admitted.
      const again = collect(caller.requestPlane.call(served.instance, {}));
      await until(() => started === 3, 'the third stream to start');
      for (const open of gates.splice(0)) open();
      expect(await again).toEqual([{ i: 0 }]);
    });

    it('a caller abort mid-stream stops the handler', async () => {
      const { worker, caller, ep } = await pair();
      let handlerSaw: 'aborted' | 'running' = 'running';
      let produced = 0;
      const endless = async function* (_req: unknown, ctx: RequestContext) {
        ctx.signal.addEventListener('abort', () => {
          handlerSaw = 'aborted';
        });
        while (!ctx.signal.aborted) {
          produced++;
          yield { i: produced };
          await new Promise((r) => setImmediate(r));
        }
      };
      const served = await worker.serveEndpoint(ep, endless, { requestSchema: z.unknown() });
      const controller = new AbortController();
      let received = 0;
      const err = await (async () => {
        for await (const _f of caller.requestPlane.call(served.instance, {}, { signal: controller.signal })) {
          if (++received === 50) controller.abort();
        }
      })().catch((e: unknown) => e);
      expect(isRequestError(err, 'cancelled')).toBe(true);
      await until(() => handlerSaw === 'aborted', 'the handler to see the abort');
      const after = produced;
      await new Promise((r) => setTimeout(r, 50));
      expect(produced).toBe(after);
    });

    it('leaving the loop early (break) stops the handler', async () => {
      const { worker, caller, ep } = await pair();
      let stopped = false;
      const endless = async function* (_req: unknown, ctx: RequestContext) {
        try {
          for (let i = 0; !ctx.signal.aborted; i++) {
            yield { i };
            await new Promise((r) => setImmediate(r));
          }
        } finally {
          stopped = true;
        }
      };
      const served = await worker.serveEndpoint(ep, endless, { requestSchema: z.unknown() });
      for await (const f of caller.requestPlane.call(served.instance, {}, { responseSchema: frame })) {
        if (f.i === 20) break;
      }
      await until(() => stopped, 'the handler to stop');
    });

    it('a slow caller holds the handler back (bounded buffering)', async () => {
      const { worker, caller, ep } = await pair();
      let produced = 0;
      const fast = async function* () {
        for (let i = 0; i < 100_000; i++) {
          produced++;
          yield { i };
        }
      };
      const served = await worker.serveEndpoint(ep, fast, { requestSchema: z.unknown() });
      const it = caller.requestPlane
        .call(served.instance, {}, { responseSchema: frame })
        [Symbol.asyncIterator]();
      expect((await it.next()).value).toEqual({ i: 0 });
      await new Promise((r) => setTimeout(r, 300));
      // Without backpressure the handler would be done by now.
      expect(produced).toBeLessThan(5_000);
      await it.return?.();
    });

    it('watchers see instances come and go, models come with the first and go with the last', async () => {
      const { worker, caller, ep, ns } = await pair();
      const seen: InstanceEvent[] = [];
      const watch = await caller.discovery.watchInstances({ namespace: ns, component: 'backend' }, (e) =>
        seen.push(e),
      );
      const models: ModelEvent[] = [];
      const modelWatch = await caller.discovery.watchModels((e) => models.push(e), ns);
      const served = await worker.serveEndpoint(ep, counter, {
        requestSchema: echoRequest,
        card: card('m1'),
      });
      await until(() => seen.length === 1 && models.length === 1, 'the instance and model to appear');
      expect(seen[0]).toMatchObject({ kind: 'added', instance: { instanceId: worker.instanceId } });
      expect(models[0]).toMatchObject({ kind: 'added', card: { name: 'm1' }, endpoint: ep });
      expect(await caller.discovery.list(ep)).toHaveLength(1);
      expect(await caller.discovery.modelCard(ep, worker.instanceId)).toMatchObject({ name: 'm1' });

      // A second instance of the same model: no model event; removing it: none either.
      const second: Instance = { ...served.instance, instanceId: newInstanceId() };
      await worker.discovery.register(second, card('m1'));
      await until(() => seen.length === 2, 'the second instance');
      await worker.discovery.unregister(ep, second.instanceId);
      await until(() => seen.length === 3, 'the second instance to go');
      expect(models).toHaveLength(1);

      await worker.discovery.unregisterAll();
      await until(() => seen.length === 4 && models.length === 2, 'the last instance to go');
      expect(seen[3]).toMatchObject({ kind: 'removed', instance: { instanceId: worker.instanceId } });
      expect(models[1]).toEqual({ kind: 'removed', name: 'm1', endpoint: ep, mode: 'agg' });
      watch.close();
      modelWatch.close();
    });

    it('delivers typed events in order and drops malformed ones', async () => {
      const { worker, caller, ns } = await pair();
      const scope = { namespace: ns, component: 'backend' };
      const got: KvEvent[] = [];
      const sub = await caller.eventPlane.subscribe(KV_EVENTS, scope, (e) => got.push(e));
      const loads: number[] = [];
      const loadSub = await caller.eventPlane.subscribe(LOAD_METRICS, scope, (m) =>
        loads.push(m.activeBlocks),
      );
      for (let eventId = 0; eventId < 100; eventId++) {
        worker.eventPlane.publish(KV_EVENTS, scope, {
          workerId: worker.instanceId,
          eventId,
          data: 'cleared',
        });
      }
      worker.eventPlane.publish(LOAD_METRICS, scope, {
        workerId: worker.instanceId,
        activeBlocks: 7,
        totalBlocks: 10,
        waitingRequests: 0,
        runningRequests: 1,
        pendingPrefillTokens: 0,
      });
      await until(() => got.length === 100 && loads.length === 1, 'the events');
      expect(got.map((e) => e.eventId)).toEqual([...Array(100).keys()]);
      expect(loads).toEqual([7]);
      sub.close();
      loadSub.close();
    });

    it('graceful shutdown unregisters, refuses new requests and lets in-flight ones finish', async () => {
      const { worker, caller, ep } = await pair();
      let release: () => void = () => {};
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const slow = async function* () {
        yield { i: 0 };
        await gate;
        yield { i: 1 };
      };
      const served = await worker.serveEndpoint(ep, slow, { requestSchema: z.unknown() });
      const it = caller.requestPlane
        .call(served.instance, {}, { responseSchema: frame })
        [Symbol.asyncIterator]();
      expect((await it.next()).value).toEqual({ i: 0 });
      const shutdown = worker.shutdown(30_000);
      await until(() => !worker.ready, 'shutdown to start');
      let listed = -1;
      for (let i = 0; i < 200 && listed !== 0; i++) {
        listed = (await caller.discovery.list(ep)).length;
        if (listed !== 0) await new Promise((r) => setTimeout(r, 10));
      }
      expect(listed).toBe(0);
      const refused = await collect(caller.requestPlane.call(served.instance, {})).catch((e: unknown) => e);
      expect(isRequestError(refused, 'unavailable') || isRequestError(refused, 'no_responders')).toBe(true);
      release();
      expect((await it.next()).value).toEqual({ i: 1 });
      expect((await it.next()).done).toBe(true);
      await shutdown;
    });

    it('a stream to an instance that left discovery goes on to its end', async () => {
      // A draining worker unregisters first, and one whose lease was lost still serves: neither may be
      // cut off. A worker really gone is the request plane's to detect (heartbeats, closed endpoints).
      const { worker, caller, ep } = await pair();
      let release: () => void = () => {};
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const held = async function* () {
        yield { i: 0 };
        await gate;
        yield { i: 1 };
      };
      const served = await worker.serveEndpoint(ep, held, { requestSchema: z.unknown() });
      const seen: InstanceEvent[] = [];
      const watch = await caller.discovery.watchInstances(ep, (e) => seen.push(e));
      const it = caller.requestPlane
        .call(served.instance, {}, { responseSchema: frame })
        [Symbol.asyncIterator]();
      expect((await it.next()).value).toEqual({ i: 0 });
      await worker.discovery.unregisterAll();
      await until(() => seen.length === 2, 'the instance to leave discovery');
      expect(seen.map((e) => e.kind)).toEqual(['added', 'removed']);
      release();
      expect((await it.next()).value).toEqual({ i: 1 });
      expect((await it.next()).done).toBe(true);
      watch.close();
    });

    it('closing a worker disconnects the streams still in flight', async () => {
      const { worker, caller, ep } = await pair();
      const hang = async function* (_req: unknown, ctx: RequestContext) {
        yield { i: 0 };
        await new Promise((r) => ctx.signal.addEventListener('abort', r));
      };
      const served = await worker.serveEndpoint(ep, hang, { requestSchema: z.unknown() });
      const it = caller.requestPlane.call(served.instance, {})[Symbol.asyncIterator]();
      await it.next();
      const pending = it.next().catch((e: unknown) => e);
      await worker.close();
      expect(isRequestError(await pending, 'disconnected')).toBe(true);
    });
  });
}
