// ReplicaSync between Routers on one in-memory event plane (as frontends of `dynamo bench --frontends`):
// a request routed by one router loads the worker in the others' scores, its end frees it there, a
// silent peer is expired within the lease, and malformed, oversized or forged messages are counted and
// never applied.
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type InstanceId, routerSyncSubject } from '../../../src/api/index.js';
import { ReplicaSync } from '../../../src/router/replica-sync.js';
import { DEFAULT_ROUTER_SETTINGS, Router } from '../../../src/router/router.js';
import type { EventPlane } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { MemoryEventBus, MemoryEventPlane } from '../../../src/runtime/memory-event-plane.js';

const W1 = '000000000000000a' as InstanceId;
const W2 = '000000000000000b' as InstanceId;
const BS = 4;
const log = createLogger({ level: 'silent' });
const model = {
  name: 'm',
  endpoint: { namespace: 'ns', component: 'backend', endpoint: 'generate' },
  blockSize: BS,
  totalKvBlocks: 1000,
  maxNumSeqs: 64,
};
const LEASE_MS = 300;

interface Node {
  router: Router;
  sync: ReplicaSync;
  registry: Registry;
  /** While true, nothing this node publishes leaves it (a dead or partitioned frontend). */
  cut: { on: boolean };
}

const open: ReplicaSync[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function node(bus: MemoryEventBus): Promise<Node> {
  const registry = new Registry();
  const router = new Router(DEFAULT_ROUTER_SETTINGS, model, { log, registry, random: () => 0 });
  for (const w of [W1, W2]) {
    router.addInstance(w);
    router.applyDump({ workerId: w, lastEventId: -1, events: [] });
  }
  const memory = new MemoryEventPlane(bus, log);
  const cut = { on: false };
  const plane: Pick<EventPlane, 'publish' | 'subscribe'> = {
    publish: (topic, scope, event) => {
      if (!cut.on) memory.publish(topic, scope, event);
    },
    subscribe: (topic, scope, listener) => memory.subscribe(topic, scope, listener),
  };
  const sync = new ReplicaSync(router, plane, { leaseMs: LEASE_MS }, log, registry);
  router.lifecycle = sync;
  await sync.start();
  open.push(sync);
  return { router, sync, registry, cut };
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const prompt = (seed: number) => [...Array(8 * BS)].map((_, i) => seed * 1000 + i);

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}

describe('ReplicaSync', () => {
  it("scores with the peers' active requests and frees them when the peer completes", async () => {
    const bus = new MemoryEventBus();
    const a = await node(bus);
    const b = await node(bus);
    await until('the routers to meet', () => a.sync.peers.size === 1 && b.sync.peers.size === 1);
    const first = await a.router.route({ requestId: 'r1', tokenIds: prompt(1) });
    expect(first.kind).toBe('routed');
    const busy = first.kind === 'routed' ? first.instance : W1;
    await until('b to see a’s request', () => b.router.scheduler.activeRequests(busy) === 1);
    // Unrelated prompt, no overlap anywhere: b goes to the other worker, as a would.
    const second = await b.router.route({ requestId: 'r1', tokenIds: prompt(2) });
    expect(second.kind === 'routed' && second.instance).not.toBe(busy);
    a.router.firstToken('r1');
    await until('the prefill to be done on b', () => b.router.scheduler.activePrefillTokens(busy) === 0);
    a.router.complete('r1');
    await until('b to free a’s request', () => b.router.scheduler.activeRequests(busy) === 0);
    expect(a.router.scheduler.activeRequestCount).toBe(1); // b's, its own freed
  });

  it('rebuilds a late router from snapshots and expires a silent peer within the lease', async () => {
    const bus = new MemoryEventBus();
    const a = await node(bus);
    await a.router.route({ requestId: 'early', tokenIds: prompt(3) });
    const b = await node(bus);
    await until(
      'b to learn a’s request from its snapshot',
      () => b.router.scheduler.activeRequestCount === 1,
    );
    a.cut.on = true;
    await until(
      'a’s lease to run out on b',
      () => b.router.scheduler.activeRequestCount === 0,
      LEASE_MS * 10,
    );
    expect(b.sync.peers.size).toBe(0);
    expect(await counter(b.registry, 'dynamo_router_replica_sync_expired_peers_total', { model: 'm' })).toBe(
      1,
    );
  });

  it('counts malformed, oversized and forged messages and applies none', async () => {
    const bus = new MemoryEventBus();
    const a = await node(bus);
    const forger = new MemoryEventPlane(bus, log);
    const topic = {
      name: 'router_sync',
      schema: { parse: (v: unknown) => v } as never,
      subject: routerSyncSubject,
    };
    const scope = { namespace: 'ns', component: 'backend' };
    const P = '0000000000000077';
    const request = (worker: string, isl = 8) => ({ id: 'x', worker, isl, blocks: [], overlap: 0 });
    const forged: unknown[] = [
      'not an object',
      { kind: 'ops', router: P, model: 'm', seq: 0, ops: [{ op: 'added', request: request(W1, -5) }] },
      {
        kind: 'ops',
        router: P,
        model: 'm',
        seq: 0,
        ops: [{ op: 'added', request: { ...request(W1), blocks: Array(20_000).fill('0000000000000001') } }],
      },
      // Our own router id, with a sequence number we never sent.
      {
        kind: 'ops',
        router: a.sync.id,
        model: 'm',
        seq: 1_000_000,
        ops: [{ op: 'added', request: request(W1) }],
      },
      { kind: 'snapshot', router: P, model: 'm', seq: 0, part: 0, last: true, requests: [] },
      {
        kind: 'ops',
        router: P,
        model: 'm',
        seq: 1,
        ops: [{ op: 'added', request: request('00000000000000ee') }],
      },
      { kind: 'ops', router: P, model: 'm', seq: 2, ops: [{ op: 'freed', id: 'never-added' }] },
    ];
    for (const msg of forged) forger.publish(topic, scope, msg);
    await until('the forged messages to be handled', () => a.sync.peers.size === 1);
    await new Promise((r) => setTimeout(r, 20));
    const dropped = (reason: string) =>
      counter(a.registry, 'dynamo_router_replica_sync_dropped_total', { model: 'm', reason });
    expect(await dropped('malformed')).toBe(2);
    expect(await dropped('oversized')).toBe(1);
    expect(await dropped('own_router_id')).toBe(1);
    expect(await dropped('unknown_worker')).toBe(1);
    expect(await dropped('unknown_request')).toBe(1);
    expect(a.router.scheduler.activeRequestCount).toBe(0);
  });
});
