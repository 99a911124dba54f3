import { describe, expect, it } from 'vitest';
import type { BlockHash, InstanceId, KvDump, KvEvent, KvEventData } from '../../../src/api/index.js';
import { hashesFromHex, type RequestHashes } from '../../../src/router/block-hashes.js';
import { KvIndexer } from '../../../src/router/indexer.js';
import { chain } from './chain.js';

const W1 = '00000000000000a1' as InstanceId;
const W2 = '00000000000000a2' as InstanceId;
const W3 = '00000000000000a3' as InstanceId;

/** Local hash of block i of a synthetic prompt family, and its sequence hash. */
const local = (family: number, i: number) =>
  `${family.toString(16).padStart(8, '0')}${i.toString(16).padStart(8, '0')}`;
const seq = (family: number, i: number) =>
  `f${family.toString(16).padStart(7, '0')}${i.toString(16).padStart(8, '0')}`;

function stored(family: number, from: number, to: number): KvEventData {
  return {
    stored: {
      parentHash: from === 0 ? null : (seq(family, from - 1) as BlockHash),
      blocks: Array.from({ length: to - from }, (_, k) => ({
        blockHash: seq(family, from + k) as BlockHash,
        tokensHash: local(family, from + k) as BlockHash,
      })),
    },
  };
}

/**
 * A request's hashes: the router's sequence hashes chain the local ones (DESIGN §6); the workers here
 * name their blocks by other ids (`seq`), opaque to the indexer.
 */
function request(family: number, n: number, divergeAt = n): RequestHashes {
  const f = (i: number) => (i < divergeAt ? family : 999);
  const locals = Array.from({ length: n }, (_, i) => local(f(i), i));
  return { local: hashesFromHex(locals), sequence: hashesFromHex(chain(locals)) };
}

/** An indexer that already knows the workers (as after their first, empty dump). */
function synced(...workers: InstanceId[]): KvIndexer {
  const idx = new KvIndexer();
  for (const w of workers) idx.applyDump({ workerId: w, lastEventId: -1, events: [] });
  return idx;
}

class Events {
  private next = new Map<InstanceId, number>();
  ev(workerId: InstanceId, data: KvEventData): KvEvent {
    const eventId = this.next.get(workerId) ?? 0;
    this.next.set(workerId, eventId + 1);
    return { workerId, eventId, data };
  }
}

describe('KvIndexer', () => {
  it('scores the leading blocks each worker caches', () => {
    const idx = synced(W1, W2, W3);
    const e = new Events();
    expect(idx.applyEvent(e.ev(W1, stored(1, 0, 8)))).toBe('applied');
    expect(idx.applyEvent(e.ev(W2, stored(1, 0, 3)))).toBe('applied');
    expect(idx.applyEvent(e.ev(W3, stored(2, 0, 5)))).toBe('applied');
    expect(idx.findMatches(request(1, 10)).toMap()).toEqual(
      new Map([
        [W1, 8],
        [W2, 3],
      ]),
    );
    expect(idx.findMatches(request(1, 10, 2)).toMap()).toEqual(
      new Map([
        [W1, 2],
        [W2, 2],
      ]),
    );
    expect(idx.findMatches(request(2, 3)).toMap()).toEqual(new Map([[W3, 3]]));
    expect(idx.findMatches(request(3, 3)).toMap()).toEqual(new Map());
    expect(idx.blockCount(W1)).toBe(8);
  });

  it('extends a chain from its parent hash and counts only contiguous prefixes', () => {
    const idx = synced(W1);
    const e = new Events();
    idx.applyEvent(e.ev(W1, stored(1, 0, 2)));
    idx.applyEvent(e.ev(W1, stored(1, 2, 4)));
    expect(idx.findMatches(request(1, 6)).get(W1)).toBe(4);
    // A hole in the middle: only the blocks before it count.
    idx.applyEvent(e.ev(W1, { removed: { blockHashes: [seq(1, 1) as BlockHash] } }));
    expect(idx.findMatches(request(1, 6)).get(W1)).toBe(1);
  });

  it('removes blocks, frees empty nodes, and clears a worker', () => {
    const idx = synced(W1, W2);
    const e = new Events();
    idx.applyEvent(e.ev(W1, stored(1, 0, 4)));
    idx.applyEvent(e.ev(W2, stored(1, 0, 4)));
    expect(idx.stats().nodes).toBe(4);
    idx.applyEvent(e.ev(W1, { removed: { blockHashes: [seq(1, 3), seq(1, 2)] as BlockHash[] } }));
    expect(idx.findMatches(request(1, 4)).toMap()).toEqual(
      new Map([
        [W1, 2],
        [W2, 4],
      ]),
    );
    idx.applyEvent(e.ev(W2, 'cleared'));
    expect(idx.findMatches(request(1, 4)).toMap()).toEqual(new Map([[W1, 2]]));
    expect(idx.stats().nodes).toBe(2);
    idx.applyEvent(e.ev(W1, { removed: { blockHashes: [seq(1, 1), seq(1, 0)] as BlockHash[] } }));
    expect(idx.stats()).toMatchObject({ nodes: 0, blocks: 0 });
    // Removing what was never stored is counted, not fatal.
    idx.applyEvent(e.ev(W1, { removed: { blockHashes: [seq(7, 0)] as BlockHash[] } }));
    expect(idx.stats().unknownRemovals).toBe(1);
  });

  it('drops a worker entirely when it leaves, and reuses its slot', () => {
    const idx = synced(W1, W2);
    const e = new Events();
    idx.applyEvent(e.ev(W1, stored(1, 0, 4)));
    idx.applyEvent(e.ev(W2, stored(1, 0, 2)));
    idx.removeWorker(W1);
    expect(idx.findMatches(request(1, 4)).toMap()).toEqual(new Map([[W2, 2]]));
    expect(idx.stats()).toMatchObject({ nodes: 2, workers: 1, blocks: 2 });
    idx.applyDump({ workerId: W3, lastEventId: -1, events: [] });
    expect(idx.findMatches(request(1, 4)).toMap()).toEqual(new Map([[W2, 2]]));
  });

  it('asks for a dump when it meets a worker, buffers meanwhile, and replays past the dump', () => {
    const idx = new KvIndexer();
    const first: KvEvent = { workerId: W1, eventId: 5, data: stored(1, 2, 3) };
    expect(idx.applyEvent(first)).toBe('resync');
    expect(idx.isResyncing(W1)).toBe(true);
    expect(idx.applyEvent({ workerId: W1, eventId: 6, data: stored(1, 3, 4) })).toBe('buffered');
    // The dump covers events up to 5; event 6 is replayed on top.
    const dump: KvDump = { workerId: W1, lastEventId: 5, events: [stored(1, 0, 3)] };
    expect(idx.applyDump(dump)).toBe('applied');
    expect(idx.isResyncing(W1)).toBe(false);
    expect(idx.findMatches(request(1, 6)).get(W1)).toBe(4);
    expect(idx.applyEvent({ workerId: W1, eventId: 7, data: stored(1, 4, 5) })).toBe('applied');
    expect(idx.findMatches(request(1, 6)).get(W1)).toBe(5);
  });

  it('detects a gap in eventId, ignores duplicates, and resyncs from the dump', () => {
    const idx = synced(W1);
    expect(idx.applyEvent({ workerId: W1, eventId: 0, data: stored(1, 0, 2) })).toBe('applied');
    expect(idx.applyEvent({ workerId: W1, eventId: 0, data: stored(1, 0, 2) })).toBe('stale');
    // Event 1 is lost: 2 is a gap.
    expect(idx.applyEvent({ workerId: W1, eventId: 2, data: stored(1, 3, 4) })).toBe('resync');
    // The late event 1 arrives out of order while the dump is in flight: buffered, then dropped by the dump.
    expect(idx.applyEvent({ workerId: W1, eventId: 1, data: stored(1, 2, 3) })).toBe('buffered');
    // The index keeps serving the old state until the dump arrives.
    expect(idx.findMatches(request(1, 4)).get(W1)).toBe(2);
    expect(idx.applyDump({ workerId: W1, lastEventId: 2, events: [stored(1, 0, 4)] })).toBe('applied');
    expect(idx.findMatches(request(1, 6)).get(W1)).toBe(4);
    expect(idx.applyEvent({ workerId: W1, eventId: 3, data: 'cleared' })).toBe('applied');
    expect(idx.findMatches(request(1, 6)).size).toBe(0);
  });

  it('resyncs again when the replay after a dump finds another gap', () => {
    const idx = synced(W1);
    idx.applyEvent({ workerId: W1, eventId: 0, data: stored(1, 0, 1) });
    expect(idx.applyEvent({ workerId: W1, eventId: 3, data: stored(1, 1, 2) })).toBe('resync');
    idx.applyEvent({ workerId: W1, eventId: 6, data: stored(1, 2, 3) });
    expect(idx.applyDump({ workerId: W1, lastEventId: 3, events: [stored(1, 0, 2)] })).toBe('resync');
    expect(idx.isResyncing(W1)).toBe(true);
    expect(idx.applyDump({ workerId: W1, lastEventId: 6, events: [stored(1, 0, 3)] })).toBe('applied');
    expect(idx.findMatches(request(1, 3)).get(W1)).toBe(3);
  });

  it('treats a stored event under an unknown parent as out of sync', () => {
    const idx = synced(W1);
    expect(idx.applyEvent({ workerId: W1, eventId: 0, data: stored(1, 5, 6) })).toBe('resync');
  });

  it('counts the run of the last worker left exactly', () => {
    const idx = synced(W1, W2);
    const e = new Events();
    idx.applyEvent(e.ev(W1, stored(1, 0, 8)));
    idx.applyEvent(e.ev(W2, stored(1, 0, 2)));
    expect(idx.findMatches(request(1, 8)).toMap()).toEqual(
      new Map([
        [W1, 8],
        [W2, 2],
      ]),
    );
    // W1 alone from depth 2 on, with a hole at 5.
    idx.applyEvent(e.ev(W1, { removed: { blockHashes: [seq(1, 5) as BlockHash] } }));
    expect(idx.findMatches(request(1, 8)).toMap()).toEqual(
      new Map([
        [W1, 5],
        [W2, 2],
      ]),
    );
    expect(idx.findMatches(request(1, 8, 4)).toMap()).toEqual(
      new Map([
        [W1, 4],
        [W2, 2],
      ]),
    );
    expect(idx.findMatches(request(1, 1)).toMap()).toEqual(
      new Map([
        [W1, 1],
        [W2, 1],
      ]),
    );
  });

  it('handles more workers than one bitset word, and slot reuse after removal', () => {
    const idx = new KvIndexer(4);
    const ids = Array.from({ length: 70 }, (_, i) => i.toString(16).padStart(16, '0') as InstanceId);
    ids.forEach((id, i) => {
      idx.applyDump({ workerId: id, lastEventId: 0, events: [stored(1, 0, 1 + (i % 5))] });
    });
    const scores = idx.findMatches(request(1, 5));
    expect(scores.size).toBe(70);
    ids.forEach((id, i) => {
      expect(scores.get(id)).toBe(1 + (i % 5));
    });
    for (const id of ids.slice(0, 40)) idx.removeWorker(id);
    expect(idx.findMatches(request(1, 5)).size).toBe(30);
    expect(idx.stats().nodes).toBe(5);
    // An earlier answer is a snapshot: removals and slot reuse since do not change it.
    const newcomer = 'ff'.padStart(16, '0') as InstanceId;
    idx.applyDump({ workerId: newcomer, lastEventId: 0, events: [stored(1, 0, 5)] });
    expect(scores.get(ids[0] as InstanceId)).toBe(1);
    expect(scores.get(newcomer)).toBeUndefined();
    expect(idx.findMatches(request(1, 5)).get(newcomer)).toBe(5);
  });

  it('agrees with a naive model under random stores and removals', () => {
    // Reference: per worker, the set of (family, i) blocks; overlap = leading run present.
    let seed = 42;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const idx = synced(W1, W2, W3);
    const workers = [W1, W2, W3];
    const model = new Map<InstanceId, Set<string>>(workers.map((w) => [w, new Set()]));
    const e = new Events();
    for (let step = 0; step < 2000; step++) {
      const w = workers[rand(3)] as InstanceId;
      const fam = rand(4);
      const held = model.get(w) as Set<string>;
      if (rand(3) > 0) {
        // Store a chain continuing the worker's longest prefix of the family.
        let from = 0;
        while (held.has(`${fam}:${from}`)) from++;
        const to = from + 1 + rand(3);
        idx.applyEvent(e.ev(w, stored(fam, from, to)));
        for (let i = from; i < to; i++) held.add(`${fam}:${i}`);
      } else {
        const i = rand(6);
        if (held.has(`${fam}:${i}`)) {
          idx.applyEvent(e.ev(w, { removed: { blockHashes: [seq(fam, i) as BlockHash] } }));
          held.delete(`${fam}:${i}`);
        }
      }
      const q = rand(4);
      const scores = idx.findMatches(request(q, 8));
      for (const wk of workers) {
        let depth = 0;
        while (depth < 8 && model.get(wk)?.has(`${q}:${depth}`)) depth++;
        expect(scores.get(wk) ?? 0).toBe(depth);
      }
    }
  });
});
