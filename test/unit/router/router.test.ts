import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { BlockHash, InstanceId, KvEventData } from '../../../src/api/index.js';
import { hashesToHex } from '../../../src/router/block-hashes.js';
import {
  DEFAULT_ROUTER_SETTINGS,
  DIRECT_INSTANCE_HEADER,
  type RouteExplanation,
  Router,
  type RouterSettings,
} from '../../../src/router/index.js';
import { wasmRequestHashes } from '../../../src/router/router.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { computeBlockHashes } from '../../../src/wasm/index.js';

const A = '000000000000000a' as InstanceId;
const B = '000000000000000b' as InstanceId;
const C = '000000000000000c' as InstanceId;
const BS = 4;
const log = createLogger({ level: 'silent' });
const model = {
  name: 'm',
  endpoint: { namespace: 'ns', component: 'backend', endpoint: 'generate' },
  blockSize: BS,
  totalKvBlocks: 100,
  maxNumSeqs: 64,
};

function router(settings: Partial<RouterSettings> = {}, clock = { now: 0 }) {
  const r = new Router({ ...DEFAULT_ROUTER_SETTINGS, ...settings }, model, {
    log,
    random: () => 0,
    now: () => clock.now,
  });
  for (const id of [A, B, C]) {
    r.addInstance(id);
    r.applyDump({ workerId: id, lastEventId: -1, events: [] });
  }
  return r;
}

const prompt = (family: number, n: number) => Array.from({ length: n }, (_, i) => family * 1000 + i);

/** The stored event a worker would publish after caching the prompt's full blocks. */
function storedEvent(tokens: number[]): KvEventData {
  const h = computeBlockHashes(tokens, BS);
  return {
    stored: {
      parentHash: null,
      blocks: h.sequence.map((s, i) => ({ blockHash: s as BlockHash, tokensHash: h.local[i] as BlockHash })),
    },
  };
}

describe('Router', () => {
  it('agrees with the WASM hasher on the wire form of the hashes', () => {
    const tokens = prompt(1, 10);
    const raw = wasmRequestHashes(tokens, BS);
    const hex = computeBlockHashes(tokens, BS);
    expect(hashesToHex(raw.local)).toEqual(hex.local);
    expect(hashesToHex(raw.sequence)).toEqual(hex.sequence);
  });

  it('kv: sends a request to the worker that caches its prefix, and tracks it until complete', async () => {
    const r = router();
    r.onKvEvent({ workerId: B, eventId: 0, data: storedEvent(prompt(1, 32)) });
    const out = await r.route({ requestId: 'q1', tokenIds: prompt(1, 40) });
    expect(out).toEqual({ kind: 'routed', instance: B, overlapBlocks: 8 });
    expect(r.scheduler.activeRequests(B)).toBe(1);
    r.firstToken('q1');
    r.complete('q1');
    expect(r.scheduler.activeRequests(B)).toBe(0);
    // Another prompt, nothing cached anywhere: the tie goes to the worker caching fewer blocks.
    const other = await r.route({ requestId: 'q2', tokenIds: prompt(2, 40) });
    expect(other).toMatchObject({ kind: 'routed', overlapBlocks: 0 });
    expect(other.kind === 'routed' && other.instance).not.toBe(B);
  });

  it('excludes failed workers and forgets workers that leave', async () => {
    const r = router();
    r.onKvEvent({ workerId: B, eventId: 0, data: storedEvent(prompt(1, 32)) });
    const out = await r.route({ requestId: 'q1', tokenIds: prompt(1, 40), exclude: new Set([B]) });
    expect(out).toMatchObject({ kind: 'routed', overlapBlocks: 0 });
    r.complete('q1');
    r.removeInstance(B);
    expect(r.indexer.hasWorker(B)).toBe(false);
    expect(await r.route({ requestId: 'q2', tokenIds: prompt(1, 40) })).toMatchObject({ overlapBlocks: 0 });
    // A late event of the gone worker does not bring it back.
    expect(r.onKvEvent({ workerId: B, eventId: 1, data: 'cleared' })).toBe('unknown_worker');
    r.removeInstance(A);
    r.removeInstance(C);
    expect(await r.route({ requestId: 'q3', tokenIds: prompt(1, 4) })).toMatchObject({
      kind: 'rejected',
      code: 'no_workers',
    });
  });

  it('approximate mode: indexes its own decisions and expires them after the TTL', async () => {
    const clock = { now: 0 };
    const r = router({ useKvEvents: false, approxTtlMs: 1000 }, clock);
    const first = await r.route({ requestId: 'q1', tokenIds: prompt(1, 40) });
    expect(first).toMatchObject({ kind: 'routed', overlapBlocks: 0 });
    const w = first.kind === 'routed' ? first.instance : A;
    r.complete('q1');
    clock.now = 500;
    expect(await r.route({ requestId: 'q2', tokenIds: prompt(1, 44) })).toEqual({
      kind: 'routed',
      instance: w,
      overlapBlocks: 10,
    });
    r.complete('q2');
    // q2 refreshed the first 10 blocks and added its 11th: all expire at 1500.
    clock.now = 1499;
    expect(await r.route({ requestId: 'q3', tokenIds: prompt(1, 44) })).toMatchObject({ overlapBlocks: 11 });
    r.complete('q3');
    clock.now = 2600;
    r.indexer.findMatches(wasmRequestHashes(prompt(1, 44), BS));
    expect(await r.route({ requestId: 'q4', tokenIds: prompt(2, 8) })).toMatchObject({ overlapBlocks: 0 });
    expect(r.indexer.findMatches(wasmRequestHashes(prompt(1, 44), BS)).size).toBe(0);
  });

  it('approximate mode: prunes the index to its size bound, oldest first', async () => {
    const r = router({ useKvEvents: false, approxMaxBlocks: 12 });
    await r.route({ requestId: 'q1', tokenIds: prompt(1, 32) }); // 8 blocks
    await r.route({ requestId: 'q2', tokenIds: prompt(2, 32) }); // 8 more: 4 of q1's go
    expect(r.indexer.stats().blocks).toBe(12);
    const scores = r.indexer.findMatches(wasmRequestHashes(prompt(1, 32), BS));
    expect([...scores.toMap().values()]).toEqual([4]);
    const second = r.indexer.findMatches(wasmRequestHashes(prompt(2, 32), BS));
    expect([...second.toMap().values()]).toEqual([8]);
  });

  it('round-robin and random spread over live instances', async () => {
    const rr = router({ mode: 'round-robin' });
    const picks: string[] = [];
    for (let i = 0; i < 6; i++) {
      const o = await rr.route({ requestId: `r${i}`, tokenIds: prompt(1, 8) });
      if (o.kind === 'routed') picks.push(o.instance);
    }
    expect(picks).toEqual([A, B, C, A, B, C]);
    const rnd = router({ mode: 'random' });
    expect(await rnd.route({ requestId: 'x', tokenIds: prompt(1, 8) })).toMatchObject({ instance: A });
  });

  it('direct: routes to the instance named in the header, rejects an unknown one', async () => {
    const r = router({ mode: 'direct' });
    expect(
      await r.route({ requestId: 'd1', tokenIds: [1], headers: { [DIRECT_INSTANCE_HEADER]: C } }),
    ).toEqual({
      kind: 'routed',
      instance: C,
      overlapBlocks: 0,
    });
    expect(await r.route({ requestId: 'd2', tokenIds: [1] })).toMatchObject({ code: 'unknown_instance' });
    expect(
      await r.route({
        requestId: 'd3',
        tokenIds: [1],
        headers: { [DIRECT_INSTANCE_HEADER]: 'ffffffffffffffff' },
      }),
    ).toMatchObject({ code: 'unknown_instance' });
  });

  it('queues while every worker is busy, in order, and lets requests in as others complete', async () => {
    // Capacity 100 blocks, busy at 10%: one 40-token request (10 blocks) makes a worker busy.
    const r = router({ mode: 'round-robin', busyThreshold: 0.1 });
    const placed = new Map<string, InstanceId>();
    for (const id of ['a', 'b', 'c']) {
      const o = await r.route({ requestId: id, tokenIds: prompt(1, 40) });
      if (o.kind === 'routed') placed.set(id, o.instance);
    }
    expect(new Set(placed.values())).toEqual(new Set([A, B, C]));
    const order: string[] = [];
    const p1 = r.route({ requestId: 'w1', tokenIds: prompt(1, 8) }).then((o) => {
      order.push('w1');
      return o;
    });
    const p2 = r.route({ requestId: 'w2', tokenIds: prompt(1, 8) }).then((o) => {
      order.push('w2');
      return o;
    });
    const aborter = new AbortController();
    const p3 = r.route({ requestId: 'w3', tokenIds: prompt(1, 8), signal: aborter.signal });
    expect(r.queueDepth).toBe(3);
    aborter.abort();
    expect(await p3).toMatchObject({ kind: 'rejected', code: 'busy' });
    expect(r.queueDepth).toBe(2);
    r.complete('b');
    // 8 tokens = 2 blocks: both waiting requests fit on the freed worker (2 + 2 < 10).
    expect(await p1).toEqual({ kind: 'routed', instance: placed.get('b'), overlapBlocks: 0 });
    expect(await p2).toMatchObject({ kind: 'routed' });
    expect(order).toEqual(['w1', 'w2']);
    expect(r.queueDepth).toBe(0);
  });

  it('derives its queue bound from capacity: max sequences per live worker', async () => {
    const r = router({ mode: 'round-robin', maxQueued: null });
    expect(r.maxQueued).toBe(3 * 64);
    r.removeInstance(C);
    expect(r.maxQueued).toBe(2 * 64);
    // By default a worker is busy at ceil(0.95 · 64) = 61 requests routed to it.
    for (let i = 0; i < 2 * 61; i++) {
      expect(await r.route({ requestId: `r${i}`, tokenIds: prompt(i, 4) })).toMatchObject({ kind: 'routed' });
    }
    const queued = r.route({ requestId: 'q', tokenIds: prompt(1, 4) });
    expect(r.queueDepth).toBe(1);
    r.complete('r0');
    expect(await queued).toMatchObject({ kind: 'routed' });
    await r.close();
  });

  it('rejects past the queue bound and after the queue timeout, and on close', async () => {
    const r = router({ mode: 'random', busyThreshold: 0.01, maxQueued: 1, queueTimeoutMs: 20 });
    for (const id of ['a', 'b', 'c']) await r.route({ requestId: id, tokenIds: prompt(1, 8) });
    const waiting = r.route({ requestId: 'w1', tokenIds: prompt(1, 8) });
    expect(await r.route({ requestId: 'w2', tokenIds: prompt(1, 8) })).toMatchObject({ code: 'busy' });
    expect(await waiting).toMatchObject({ kind: 'rejected', code: 'busy' });
    const closing = r.route({ requestId: 'w3', tokenIds: prompt(1, 8) });
    await r.close();
    expect(await closing).toMatchObject({ code: 'closed' });
  });
});

describe('router metrics', () => {
  it('reports the index size at each scrape, KV events included, and drops it on close', async () => {
    const registry = new Registry();
    const r = new Router(DEFAULT_ROUTER_SETTINGS, model, { log, random: () => 0, registry });
    r.addInstance(A);
    r.applyDump({ workerId: A, lastEventId: -1, events: [] });
    const indexed = async () =>
      (await registry.getSingleMetric('dynamo_router_indexed_blocks')?.get())?.values.find(
        (v) => v.labels.model === 'm',
      )?.value;
    expect(await indexed()).toBe(0);
    // 32 tokens at block size 4: 8 blocks, by a KV event (it used to count only dumps).
    r.onKvEvent({ workerId: A, eventId: 0, data: storedEvent(prompt(1, 32)) });
    expect(await indexed()).toBe(8);
    await r.close();
    expect(await indexed()).toBeUndefined();
  });
});

describe('index health', () => {
  const stateOf = (r: Router, w: InstanceId) => r.indexHealth().workers.find((x) => x.worker === w);

  it('goes degraded when a routed-to worker stops publishing events, healthy again on its next event', async () => {
    const clock = { now: 0 };
    const r = router({ staleAfterMs: 30_000 }, clock);
    expect(r.indexHealth()).toEqual(expect.objectContaining({ state: 'healthy' }));
    const out = await r.route({ requestId: 'q1', tokenIds: prompt(1, 40) });
    const w = out.kind === 'routed' ? out.instance : A;
    // Routed but not prefilled yet: nothing is owed (a queued prefill stores nothing).
    clock.now = 60_000;
    expect(r.indexHealth().state).toBe('healthy');
    r.firstToken('q1');
    clock.now = 89_999;
    expect(stateOf(r, w)).toMatchObject({ state: 'fresh', owedS: 29.999, eventAgeS: 89.999 });
    expect(r.indexHealth().state).toBe('healthy');
    clock.now = 90_000;
    expect(stateOf(r, w)?.state).toBe('stale');
    expect(r.indexHealth()).toEqual(
      expect.objectContaining({ state: 'degraded', reason: `worker ${w} is stale while routed to` }),
    );
    // The worker's event arrives (late): fresh again, nothing owed.
    r.onKvEvent({ workerId: w, eventId: 0, data: storedEvent(prompt(1, 40)) });
    expect(stateOf(r, w)).toMatchObject({ state: 'fresh', owedS: 0, eventAgeS: 0 });
    expect(r.indexHealth().state).toBe('healthy');
    r.complete('q1');
  });

  it('owes no event for a prompt the index shows cached, nor for a request that never prefilled', async () => {
    const clock = { now: 0 };
    const r = router({ staleAfterMs: 1000 }, clock);
    r.onKvEvent({ workerId: B, eventId: 0, data: storedEvent(prompt(1, 32)) });
    expect(await r.route({ requestId: 'q1', tokenIds: prompt(1, 34) })).toMatchObject({ instance: B });
    r.firstToken('q1');
    const other = await r.route({ requestId: 'q2', tokenIds: prompt(2, 40) });
    r.complete('q2'); // refused or cancelled before its first token
    clock.now = 10_000;
    expect(r.indexHealth().workers.map((w) => w.state)).toEqual(['fresh', 'fresh', 'fresh']);
    expect(other.kind).toBe('routed');
    r.complete('q1');
  });

  it('counts a gap, is degraded while the serving worker resyncs, healthy after the dump', async () => {
    const r = router();
    expect(await r.route({ requestId: 'q1', tokenIds: prompt(1, 40) })).toMatchObject({ instance: A });
    expect(r.onKvEvent({ workerId: A, eventId: 3, data: 'cleared' })).toBe('resync');
    expect(stateOf(r, A)).toMatchObject({ state: 'resyncing', gaps: 1, resyncs: 1 });
    expect(r.indexHealth()).toMatchObject({
      state: 'degraded',
      reason: `worker ${A} is resyncing while routed to`,
    });
    r.dumpFailed(A);
    expect(stateOf(r, A)).toMatchObject({ state: 'resyncing', dumpFailures: 1 });
    r.applyDump({ workerId: A, lastEventId: 3, events: [] });
    expect(stateOf(r, A)).toMatchObject({ state: 'fresh', gaps: 1, resyncs: 2, dumpFailures: 1 });
    expect(r.indexHealth().state).toBe('healthy');
    // An idle worker in resync does not degrade routing.
    r.complete('q1');
    r.onKvEvent({ workerId: A, eventId: 9, data: 'cleared' });
    expect(r.indexHealth().state).toBe('healthy');
  });

  it('is load-only when no worker has a usable index, or without KV events', () => {
    const r = router();
    for (const [i, w] of [A, B, C].entries()) r.onKvEvent({ workerId: w, eventId: 5 + i, data: 'cleared' });
    expect(r.indexHealth()).toMatchObject({
      state: 'load-only',
      reason: 'every worker is stale or resyncing',
    });
    expect(router({ mode: 'round-robin' }).indexHealth()).toEqual({
      state: 'load-only',
      reason: 'router mode round-robin uses no KV events',
      workers: [],
    });
    expect(router({ useKvEvents: false }).indexHealth()).toMatchObject({ state: 'load-only', workers: [] });
  });

  it('exports the states, event ages and gaps as metrics, read at scrape time', async () => {
    const clock = { now: 0 };
    const registry = new Registry();
    const r = new Router({ ...DEFAULT_ROUTER_SETTINGS, staleAfterMs: 1000 }, model, {
      log,
      random: () => 0,
      now: () => clock.now,
      registry,
    });
    r.addInstance(A);
    r.applyDump({ workerId: A, lastEventId: -1, events: [] });
    const values = async (name: string) =>
      Object.fromEntries(
        ((await registry.getSingleMetric(name)?.get())?.values ?? [])
          .filter((v) => v.value !== 0)
          .map((v) => [Object.values(v.labels).join(','), v.value]),
      );
    expect(await values('dynamo_router_index_state')).toEqual({ 'm,healthy': 1 });
    await r.route({ requestId: 'q1', tokenIds: prompt(1, 8) });
    r.firstToken('q1');
    clock.now = 2500;
    expect(await values('dynamo_router_index_state')).toEqual({ 'm,load-only': 1 });
    expect(await values('dynamo_router_worker_index_state')).toEqual({ [`m,${A},stale`]: 1 });
    expect(await values('dynamo_router_worker_kv_event_age_seconds')).toEqual({ [`m,${A}`]: 2.5 });
    r.onKvEvent({ workerId: A, eventId: 7, data: 'cleared' });
    expect(await values('dynamo_router_kv_event_gaps_total')).toEqual({ m: 1 });
    expect(await values('dynamo_router_worker_index_state')).toEqual({ [`m,${A},resyncing`]: 1 });
    r.removeInstance(A);
    expect(await values('dynamo_router_worker_index_state')).toEqual({});
    expect(await values('dynamo_router_index_state')).toEqual({ 'm,healthy': 1 });
    await r.close();
    expect(await values('dynamo_router_index_state')).toEqual({});
  });
});

describe('route debug', () => {
  it('explains a decision to a request that asks, only with routeDebug on', async () => {
    // DESIGN §7's terms, hand-computed (the time cost's are in scheduler-costs.test.ts).
    const r = router({ routeDebug: true, cost: 'design' });
    r.onKvEvent({ workerId: B, eventId: 0, data: storedEvent(prompt(1, 32)) });
    const explain: RouteExplanation[] = [];
    const out = await r.route({ requestId: 'q1', tokenIds: prompt(1, 40), explain });
    expect(out).toMatchObject({ instance: B });
    expect(explain).toEqual([
      {
        mode: 'kv',
        index: 'healthy',
        chosen: B,
        candidates: [
          {
            worker: A,
            overlapBlocks: 0,
            prefillTokens: 40,
            decodeBlocks: 10,
            pendingPrefills: 0,
            logit: 20,
            activeOverlapBlocks: 0,
          },
          {
            worker: B,
            overlapBlocks: 8,
            prefillTokens: 8,
            decodeBlocks: 10,
            pendingPrefills: 0,
            logit: 12,
            activeOverlapBlocks: 0,
          },
          {
            worker: C,
            overlapBlocks: 0,
            prefillTokens: 40,
            decodeBlocks: 10,
            pendingPrefills: 0,
            logit: 20,
            activeOverlapBlocks: 0,
          },
        ],
        busy: [],
      },
    ]);
    const off = router();
    const none: RouteExplanation[] = [];
    await off.route({ requestId: 'q1', tokenIds: prompt(1, 40), explain: none });
    expect(none).toEqual([]);
    const direct = router({ mode: 'direct', routeDebug: true });
    await direct.route({ requestId: 'q1', tokenIds: [1], headers: { [DIRECT_INSTANCE_HEADER]: C }, explain });
    expect(explain[1]).toEqual({ mode: 'direct', index: 'load-only', chosen: C, candidates: [], busy: [] });
  });
});
