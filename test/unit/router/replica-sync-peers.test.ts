// Replica sync's wire schema and its pure apply logic (PeerTable over a real KvScheduler): peers' requests
// load the scheduler under `<router>/<id>`, forged or out-of-step entries are dropped with a reason,
// gaps and digest mismatches ask for a snapshot, snapshots replace, leases free.
import { describe, expect, it } from 'vitest';
import {
  type InstanceId,
  ROUTER_SYNC_LIMITS,
  type RouterSyncMessage,
  routerSyncMessageSchema,
} from '../../../src/api/index.js';
import { digestHex, idDigest, PeerTable } from '../../../src/router/replica-sync-peers.js';
import { KvScheduler } from '../../../src/router/scheduler.js';

const SELF = '00000000000000ff' as InstanceId;
const P = '0000000000000001' as InstanceId;
const Q = '0000000000000002' as InstanceId;
const W1 = '000000000000000a' as InstanceId;
const W2 = '000000000000000b' as InstanceId;
const BS = 4;
const H = (n: number) => n.toString(16).padStart(16, '0');

function setup(askIntervalMs = 0) {
  const scheduler = new KvScheduler({
    blockSize: BS,
    overlapScoreWeight: 1,
    temperature: 0,
    busyThreshold: null,
    maxNumSeqs: 64,
  });
  const workers = new Set([W1, W2]);
  const table = new PeerTable(
    SELF,
    {
      hasWorker: (w) => workers.has(w),
      add: (key, worker, isl, seqKeys, overlap) => scheduler.add(key, worker, { isl, seqKeys }, overlap),
      prefillDone: (key) => scheduler.prefillDone(key),
      free: (key) => scheduler.free(key),
    },
    askIntervalMs,
  );
  return { scheduler, table };
}

function parse(msg: unknown): RouterSyncMessage {
  return routerSyncMessageSchema.parse(msg);
}

const added = (id: string, worker = W1, blocks = 2, overlap = 0) => ({
  op: 'added',
  request: { id, worker, isl: blocks * BS + 1, blocks: [...Array(blocks)].map((_, i) => H(i + 1)), overlap },
});

/** Makes a peer synced: an empty snapshot at seq 0. */
function meet(table: PeerTable, peer: InstanceId, now = 0) {
  return table.apply(
    parse({ kind: 'snapshot', router: peer, model: 'm', seq: 0, part: 0, last: true, requests: [] }),
    now,
  );
}

describe('router sync messages', () => {
  it('accepts each kind and rejects negative, oversized and inconsistent entries, naming the field', () => {
    expect(parse({ kind: 'ops', router: P, model: 'm', seq: 3, ops: [added('r1')] }).kind).toBe('ops');
    expect(
      parse({ kind: 'heartbeat', router: P, model: 'm', seq: 0, active: 0, digest: '00000000' }).kind,
    ).toBe('heartbeat');
    expect(parse({ kind: 'snapshot_request', router: P, model: 'm', seq: 0, to: null }).kind).toBe(
      'snapshot_request',
    );
    const bad = (msg: unknown) => routerSyncMessageSchema.safeParse(msg);
    const negative = bad({
      kind: 'ops',
      router: P,
      model: 'm',
      seq: 1,
      ops: [{ op: 'added', request: { ...added('r').request, isl: -1 } }],
    });
    expect(negative.success).toBe(false);
    expect(negative.error?.issues[0]?.path).toEqual(['ops', 0, 'request', 'isl']);
    const overlap = bad({ kind: 'ops', router: P, model: 'm', seq: 1, ops: [added('r', W1, 1, 2)] });
    expect(overlap.error?.issues[0]?.path).toEqual(['ops', 0, 'request', 'overlap']);
    const tooMany = bad({
      kind: 'ops',
      router: P,
      model: 'm',
      seq: 1,
      ops: [...Array(ROUTER_SYNC_LIMITS.maxEntries + 1)].map((_, i) => ({ op: 'freed', id: `r${i}` })),
    });
    expect(tooMany.error?.issues[0]?.code).toBe('too_big');
    expect(bad({ kind: 'ops', router: 'not-hex', model: 'm', seq: 1, ops: [added('r')] }).success).toBe(
      false,
    );
    expect(bad({ kind: 'gossip', router: P, model: 'm', seq: 1 }).success).toBe(false);
  });
});

describe('PeerTable', () => {
  it("counts a peer's requests in the scheduler and frees them as the peer says", () => {
    const { scheduler, table } = setup();
    meet(table, P);
    table.apply(parse({ kind: 'ops', router: P, model: 'm', seq: 1, ops: [added('r1', W1, 3)] }), 1);
    expect(scheduler.activeRequests(W1)).toBe(1);
    expect(scheduler.activeBlocks(W1)).toBe(4);
    expect(scheduler.activePrefillTokens(W1)).toBe(3 * BS + 1);
    table.apply(
      parse({ kind: 'ops', router: P, model: 'm', seq: 2, ops: [{ op: 'prefilled', id: 'r1' }] }),
      2,
    );
    expect(scheduler.activePrefillTokens(W1)).toBe(0);
    const freed = table.apply(
      parse({ kind: 'ops', router: P, model: 'm', seq: 3, ops: [{ op: 'freed', id: 'r1' }] }),
      3,
    );
    expect(freed.freed).toBe(true);
    expect(scheduler.activeRequests(W1)).toBe(0);
    // Two peers may use the same request id: keyed by router.
    meet(table, Q);
    table.apply(parse({ kind: 'ops', router: P, model: 'm', seq: 4, ops: [added('x')] }), 4);
    table.apply(parse({ kind: 'ops', router: Q, model: 'm', seq: 1, ops: [added('x')] }), 4);
    expect(scheduler.activeRequests(W1)).toBe(2);
  });

  it('drops forged entries with a reason and applies none of them', () => {
    const { scheduler, table } = setup();
    meet(table, P);
    const e = table.apply(
      parse({
        kind: 'ops',
        router: P,
        model: 'm',
        seq: 1,
        ops: [
          added('r1', '00000000000000ee' as InstanceId),
          { op: 'freed', id: 'never-added' },
          { op: 'prefilled', id: 'never-added' },
        ],
      }),
      1,
    );
    expect(e.dropped).toEqual(['unknown_worker', 'unknown_request', 'unknown_request']);
    expect(scheduler.activeRequestCount).toBe(0);
    // Our own id: never applied.
    const own = table.apply(parse({ kind: 'ops', router: SELF, model: 'm', seq: 0, ops: [added('r')] }), 1);
    expect(own.dropped).toEqual(['own_router_id']);
    // A replayed (old) sequence number.
    const replay = table.apply(parse({ kind: 'ops', router: P, model: 'm', seq: 1, ops: [added('r2')] }), 2);
    expect(replay.dropped).toEqual(['stale_seq']);
    expect(scheduler.activeRequestCount).toBe(0);
  });

  it('asks a new peer, a peer with a gap and one whose digest differs for a snapshot; the snapshot replaces', () => {
    const { scheduler, table } = setup();
    const first = table.apply(parse({ kind: 'ops', router: P, model: 'm', seq: 5, ops: [added('a')] }), 0);
    expect(first.askSnapshot).toEqual({ peer: P, reason: 'new_peer' });
    // Not synced yet: a free of a request we never saw is no forgery.
    expect(
      table.apply(parse({ kind: 'ops', router: P, model: 'm', seq: 6, ops: [{ op: 'freed', id: 'zz' }] }), 1)
        .dropped,
    ).toEqual([]);
    const snapshot = {
      kind: 'snapshot',
      router: P,
      model: 'm',
      seq: 7,
      part: 0,
      last: false,
      requests: [{ ...added('b', W2).request, prefilled: true }],
    };
    table.apply(parse(snapshot), 2);
    expect(scheduler.activeRequests(W1)).toBe(0); // 'a' replaced
    expect(scheduler.activeRequests(W2)).toBe(1);
    expect(scheduler.activePrefillTokens(W2)).toBe(0);
    table.apply(parse({ ...snapshot, seq: 8, part: 1, last: true, requests: [added('c').request] }), 3);
    expect(table.view(P)).toEqual({
      active: 2,
      digest: digestHex(idDigest('b') ^ idDigest('c')),
      synced: true,
    });
    const ok = table.apply(
      parse({ kind: 'heartbeat', router: P, model: 'm', seq: 9, active: 2, digest: table.view(P)?.digest }),
      4,
    );
    expect(ok.askSnapshot).toBeUndefined();
    const off = table.apply(
      parse({ kind: 'heartbeat', router: P, model: 'm', seq: 10, active: 3, digest: '00000000' }),
      5,
    );
    expect(off.askSnapshot).toEqual({ peer: P, reason: 'digest' });
    meet(table, Q);
    const gap = table.apply(parse({ kind: 'ops', router: Q, model: 'm', seq: 3, ops: [added('q')] }), 6);
    expect(gap.askSnapshot).toEqual({ peer: Q, reason: 'gap' });
  });

  it('frees the requests of a peer that says bye or is not heard from within the lease', () => {
    const { scheduler, table } = setup();
    meet(table, P, 0);
    meet(table, Q, 0);
    table.apply(
      parse({ kind: 'ops', router: P, model: 'm', seq: 1, ops: [added('p1'), added('p2', W2)] }),
      0,
    );
    table.apply(parse({ kind: 'ops', router: Q, model: 'm', seq: 1, ops: [added('q1')] }), 900);
    expect(scheduler.activeRequestCount).toBe(3);
    expect(table.expire(1000, 500)).toBe(1); // P, last heard at 0
    expect(scheduler.activeRequestCount).toBe(1);
    expect(table.size).toBe(1);
    const bye = table.apply(parse({ kind: 'bye', router: Q, model: 'm', seq: 2 }), 1000);
    expect(bye.freed).toBe(true);
    expect(scheduler.activeRequestCount).toBe(0);
    expect(table.size).toBe(0);
  });

  it('answers snapshot requests addressed to it or to everyone', () => {
    const { table } = setup();
    meet(table, P);
    expect(
      table.apply(parse({ kind: 'snapshot_request', router: P, model: 'm', seq: 1, to: null }), 0)
        .sendSnapshot,
    ).toBe(true);
    expect(
      table.apply(parse({ kind: 'snapshot_request', router: P, model: 'm', seq: 2, to: Q }), 0).sendSnapshot,
    ).toBe(false);
    expect(
      table.apply(parse({ kind: 'snapshot_request', router: P, model: 'm', seq: 3, to: SELF }), 0)
        .sendSnapshot,
    ).toBe(true);
  });
});
