import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InstanceId, KvEventData } from '../../../src/api/index.js';
import { type BlockHashes, BlockManager } from '../../../src/engines/block-manager.js';
import { type IndexAnomaly, KvIndexer } from '../../../src/router/indexer.js';

// Block hashes stand-in: any injective naming of prefixes will do for the manager, which only compares
// hashes. (The real XXH3 hashes are tested where they are computed.)
const names = new Map<string, string>();
function name(key: string): string {
  let n = names.get(key);
  if (n === undefined) {
    n = names.size.toString(16).padStart(16, '0');
    names.set(key, n);
  }
  return n;
}
function hashesOf(tokens: readonly number[], B: number): BlockHashes {
  const local: string[] = [];
  const sequence: string[] = [];
  for (let i = 0; i + B <= tokens.length; i += B) {
    local.push(name(`l:${tokens.slice(i, i + B).join(',')}`));
    sequence.push(name(`s:${tokens.slice(0, i + B).join(',')}`));
  }
  return { local, sequence };
}

/** The cache a router would believe in after these events. */
function applyEvents(set: Set<string>, events: readonly KvEventData[]): void {
  for (const e of events) {
    if (e === 'cleared') set.clear();
    else if ('stored' in e) for (const b of e.stored.blocks) set.add(b.blockHash);
    else for (const h of e.removed.blockHashes) set.delete(h);
  }
}

/** A fresh router index fed a worker's events in order; what it found wrong with them. */
function routerOf() {
  const worker = '00000000000000aa' as InstanceId;
  const anomalies: IndexAnomaly[] = [];
  const resyncs: number[] = [];
  const index = new KvIndexer(64, (_w, kind) => anomalies.push(kind));
  index.beginResync(worker);
  index.applyDump({ workerId: worker, lastEventId: 0, events: [] });
  let eventId = 0;
  return {
    anomalies,
    resyncs,
    feed(data: KvEventData): void {
      eventId++;
      if (index.applyEvent({ workerId: worker, eventId, data }) === 'resync') resyncs.push(eventId);
    },
  };
}

/** A manager whose events are recorded and fed to a fresh router index. */
function setup(totalBlocks: number, blockSize: number) {
  const events: KvEventData[] = [];
  const router = routerOf();
  const bm = new BlockManager({
    totalBlocks,
    blockSize,
    onEvent: (e) => {
      events.push(e);
      router.feed(e);
    },
  });
  return { bm, events, router };
}

describe('BlockManager', () => {
  it('shares a cached prefix and announces only the new blocks, under the last shared one', () => {
    const { bm, events } = setup(16, 2);
    const a = [1, 2, 3, 4, 5, 6, 7];
    const b = [1, 2, 3, 4, 9, 9];
    const ha = hashesOf(a, 2);
    const hb = hashesOf(b, 2);
    expect(bm.allocate('a', a.length, ha)).toBe(true);
    expect(events).toEqual([
      {
        stored: {
          parentHash: null,
          blocks: [0, 1, 2].map((i) => ({ blockHash: ha.sequence[i], tokensHash: ha.local[i] })),
        },
      },
    ]);
    expect(bm.activeBlocks).toBe(4); // three full + one private partial
    expect(bm.matchPrefix(hb.sequence)).toBe(2);
    expect(bm.allocate('b', b.length, hb)).toBe(true);
    expect(events[1]).toEqual({
      stored: {
        parentHash: ha.sequence[1],
        blocks: [{ blockHash: hb.sequence[2], tokensHash: hb.local[2] }],
      },
    });
    expect(bm.activeBlocks).toBe(5);
  });

  it('turns a partial block into a cached one when it fills, with the previous block as parent', () => {
    const { bm, events } = setup(4, 4);
    const tokens = [1, 2, 3, 4, 5, 6, 7, 8];
    const h = hashesOf(tokens, 4);
    expect(bm.allocate('s', 6, h)).toBe(true);
    expect(events).toHaveLength(1);
    expect(bm.activeBlocks).toBe(2);
    expect(bm.allocate('s', 7, h)).toBe(true);
    expect(events).toHaveLength(1); // still partial: not cached, no event
    expect(bm.allocate('s', 8, h)).toBe(true);
    expect(bm.activeBlocks).toBe(2); // the partial block became the full one
    expect(events[1]).toEqual({
      stored: { parentHash: h.sequence[0], blocks: [{ blockHash: h.sequence[1], tokensHash: h.local[1] }] },
    });
  });

  it('evicts the least recently released unreferenced blocks, leaves before roots, never held ones', () => {
    const { bm, events } = setup(4, 1);
    const a = hashesOf([1, 2], 1);
    const b = hashesOf([7], 1);
    bm.allocate('a', 2, a);
    bm.allocate('b', 1, b);
    bm.free('a');
    events.length = 0;
    const c = hashesOf([5, 6], 1);
    expect(bm.allocate('c', 2, c)).toBe(true);
    // a's leaf [1,2] goes first, then its root [1]; b's block is held and stays.
    expect(events[0]).toEqual({ removed: { blockHashes: [a.sequence[1]] } });
    expect(bm.cachedHashes()).toEqual(new Set([b.sequence[0], a.sequence[0], ...c.sequence]));
    expect(bm.allocate('d', 3, hashesOf([8, 8, 8], 1))).toBe(false); // only one evictable block left
    expect(bm.cachedHashes()).toEqual(new Set([b.sequence[0], a.sequence[0], ...c.sequence]));
  });

  it('keeps the blocks of a re-used prefix: a hit takes the block out of the LRU', () => {
    const { bm, events } = setup(3, 1);
    const a = hashesOf([1, 2], 1);
    bm.allocate('a', 2, a);
    bm.free('a');
    bm.allocate('a2', 1, a); // re-uses [1]
    events.length = 0;
    expect(bm.allocate('x', 2, hashesOf([9, 9], 1))).toBe(true);
    expect(events[0]).toEqual({ removed: { blockHashes: [a.sequence[1]] } });
    expect(bm.matchPrefix(a.sequence)).toBe(1);
  });

  it('clears the cache while sequences keep their blocks privately until freed', () => {
    const { bm, events } = setup(4, 2);
    const h = hashesOf([1, 2, 3, 4, 5], 2);
    bm.allocate('s', 5, h);
    bm.clear();
    expect(events.at(-1)).toBe('cleared');
    expect(bm.cachedBlocks).toBe(0);
    expect(bm.activeBlocks).toBe(3);
    expect(bm.freeBlocks).toBe(1);
    expect(bm.matchPrefix(h.sequence)).toBe(0);
    bm.free('s');
    expect(bm.freeBlocks).toBe(4);
    expect(bm.activeBlocks).toBe(0);
  });

  it('after clear, what a running sequence grows on its old blocks stays private and unannounced', () => {
    const { bm, events, router } = setup(8, 2);
    const h = hashesOf([1, 2, 3, 4, 5, 6, 7, 8], 2);
    bm.allocate('s', 5, h);
    bm.clear();
    events.length = 0;
    // Its next full block's parent was dropped from the cache: the block is not shared or announced.
    bm.allocate('s', 6, h);
    expect(events).toEqual([]);
    expect(bm.cachedHashes()).toEqual(new Set());
    expect(bm.matchPrefix(h.sequence)).toBe(0);
    // A second sequence computes blocks 0–2 again: cached; s's block 3 now has a cached parent.
    bm.allocate('t', 6, h);
    bm.allocate('s', 8, h);
    expect(bm.cachedHashes()).toEqual(new Set(h.sequence));
    expect(router.anomalies).toEqual([]);
    expect(router.resyncs).toEqual([]);
    expect(bm.activeBlocks).toBe(7); // s's four and t's three
    bm.free('s');
    bm.free('t');
    expect(bm.activeBlocks).toBe(0);
    expect(bm.freeBlocks + bm.cachedBlocks).toBe(8);
  });

  it('dumps the cache as stored events, parents first, that rebuild the same set', () => {
    const { bm } = setup(32, 1);
    for (const [id, t] of [
      ['a', [1, 2, 3, 4]],
      ['b', [1, 2, 5]],
      ['c', [1, 2, 5, 6, 7]],
      ['d', [9]],
    ] as const) {
      bm.allocate(id, t.length, hashesOf(t, 1));
    }
    const dump = bm.dump();
    const seen = new Set<string>();
    for (const e of dump) {
      if (e === 'cleared' || !('stored' in e)) throw new Error('dump holds only stored events');
      if (e.stored.parentHash !== null) expect(seen.has(e.stored.parentHash)).toBe(true);
      for (const b of e.stored.blocks) seen.add(b.blockHash);
    }
    expect(seen).toEqual(bm.cachedHashes());
    expect(dump.length).toBe(4); // [1,2] then branches [3,4], [5] then [6,7], and [9]
  });

  it('refuses a sequence larger than the whole cache without changing anything', () => {
    const { bm, events } = setup(2, 2);
    expect(bm.allocate('s', 5, hashesOf([1, 2, 3, 4, 5], 2))).toBe(false);
    expect(events).toEqual([]);
    expect(bm.freeBlocks).toBe(2);
    expect(bm.heldTokens('s')).toBe(0);
  });
});

describe('BlockManager imports', () => {
  it('holds imported blocks pending, unannounced and never a hit, until commit caches them', () => {
    const { bm, events } = setup(8, 2);
    bm.allocate('a', 4, hashesOf([1, 2, 3, 4], 2));
    bm.free('a');
    events.length = 0;
    const h = hashesOf([1, 2, 3, 4, 5, 6, 7, 8, 9], 2);
    // The first two blocks are cached here; two full blocks and the tail are not.
    expect(bm.allocateForImport('imp', 9, h)).toEqual([2, 3]);
    expect(events).toEqual([]);
    expect(bm.activeBlocks).toBe(5);
    expect(bm.matchPrefix(h.sequence)).toBe(2);
    const grown = hashesOf([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 2);
    expect(() => bm.allocate('imp', 10, grown)).toThrow(/pending/);
    // Another sequence computing block 2 meanwhile gets its own block, announced as usual.
    expect(bm.allocate('other', 6, h)).toBe(true);
    expect(events).toEqual([
      {
        stored: { parentHash: h.sequence[1], blocks: [{ blockHash: h.sequence[2], tokensHash: h.local[2] }] },
      },
    ]);
    events.length = 0;
    // Commit caches the rest; the import keeps its copy of block 2 privately.
    expect(bm.commit('imp')).toEqual([3]);
    expect(events).toEqual([
      {
        stored: { parentHash: h.sequence[2], blocks: [{ blockHash: h.sequence[3], tokensHash: h.local[3] }] },
      },
    ]);
    expect(bm.commit('imp')).toEqual([]);
    expect(bm.activeBlocks).toBe(6);
    expect(bm.allocate('imp', 10, grown)).toBe(true);
    bm.free('imp');
    bm.free('other');
    expect(bm.activeBlocks).toBe(0);
    expect(bm.freeBlocks + bm.cachedBlocks).toBe(8);
  });

  it('a commit after clear keeps private the blocks whose shared parent the clear dropped', () => {
    const { bm, events, router } = setup(8, 2);
    const h = hashesOf([1, 2, 3, 4, 5, 6, 7, 8], 2);
    bm.allocate('a', 4, h);
    expect(bm.allocateForImport('imp', 8, h)).toEqual([2, 3]);
    bm.clear();
    events.length = 0;
    expect(bm.commit('imp')).toEqual([]);
    expect(events).toEqual([]);
    expect(bm.cachedHashes()).toEqual(new Set());
    expect(router.anomalies).toEqual([]);
    bm.free('a');
    bm.free('imp');
    expect(bm.freeBlocks + bm.cachedBlocks).toBe(8);
  });

  it('treats as missing the cached blocks named in notHits, and frees uncommitted blocks unannounced', () => {
    const { bm, events } = setup(4, 2);
    const h = hashesOf([1, 2, 3, 4], 2);
    bm.allocate('computing', 4, h);
    events.length = 0;
    expect(bm.allocateForImport('imp', 4, h, new Set([h.sequence[1] as string]))).toEqual([1]);
    expect(bm.activeBlocks).toBe(3);
    bm.free('imp');
    expect(events).toEqual([]);
    expect(bm.activeBlocks).toBe(2);
    expect(bm.allocateForImport('big', 8, hashesOf([5, 6, 7, 8, 9, 9, 9, 9], 2))).toBeUndefined();
    expect(bm.heldTokens('big')).toBe(0);
  });
});

type Op = { kind: 'allocate'; seq: number; add: number } | { kind: 'free'; seq: number } | { kind: 'clear' };

describe('BlockManager properties', () => {
  const B = 2;
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({ kind: fc.constant('allocate' as const), seq: fc.nat(5), add: fc.nat(6) }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('free' as const), seq: fc.nat(5) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  );
  // Small alphabet and short prompts: prefixes collide often, and 10 blocks run out quickly.
  const promptsArb = fc.array(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 12 }), {
    minLength: 6,
    maxLength: 6,
  });

  it('events describe exactly the cached set, a router index takes them without anomaly, and no held block is ever evicted', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        promptsArb,
        fc.array(opArb, { maxLength: 60 }),
        (total, prompts, ops) => {
          // Each held full block by physical identity, `${n}:${hash}` with n unique per block;
          // `cachedKey` names the physical block cached under a hash.
          const live = new Map<number, { tokens: number; keys: string[] }>();
          const cachedKey = new Map<string, string>();
          let n = 0;
          const implied = new Set<string>();
          const router = routerOf();
          const bm = new BlockManager({
            totalBlocks: total,
            blockSize: B,
            onEvent: (e) => {
              if (e === 'cleared') cachedKey.clear();
              else if ('removed' in e) {
                for (const s of live.values()) {
                  // A held block that is the cached one is referenced: never evicted.
                  for (const key of s.keys) {
                    const hash = key.slice(key.indexOf(':') + 1);
                    if (cachedKey.get(hash) === key) expect(e.removed.blockHashes).not.toContain(hash);
                  }
                }
                for (const h of e.removed.blockHashes) cachedKey.delete(h);
              } else {
                // Stored: always a new physical block.
                for (const b of e.stored.blocks) cachedKey.set(b.blockHash, `${n++}:${b.blockHash}`);
              }
              applyEvents(implied, [e]);
              router.feed(e);
            },
          });
          for (const op of ops) {
            if (op.kind === 'clear') {
              bm.clear();
            } else if (op.kind === 'free') {
              bm.free(String(op.seq));
              live.delete(op.seq);
            } else {
              const tokens = prompts[op.seq] as number[];
              const s = live.get(op.seq) ?? { tokens: 0, keys: [] };
              const want = Math.min(tokens.length, s.tokens + op.add);
              const h = hashesOf(tokens, B);
              const before = bm.cachedHashes();
              if (bm.allocate(String(op.seq), want, h)) {
                // A new full block is the cached one (a hit, or new and announced) or, grown on a
                // parent the last clear dropped, a private one.
                while (s.keys.length < Math.floor(want / B)) {
                  const hash = h.sequence[s.keys.length] as string;
                  s.keys.push(cachedKey.get(hash) ?? `${n++}:${hash}`);
                }
                s.tokens = want;
                live.set(op.seq, s);
              } else {
                expect(bm.cachedHashes()).toEqual(before);
              }
            }
            expect(bm.cachedHashes()).toEqual(implied);
            expect(router.anomalies).toEqual([]);
            expect(router.resyncs).toEqual([]);
            // Active blocks: distinct physical blocks held, plus one per partial tail.
            const held = new Set<string>();
            let partials = 0;
            for (const s of live.values()) {
              for (const key of s.keys) held.add(key);
              if (s.tokens % B > 0) partials++;
            }
            expect(bm.activeBlocks).toBe(held.size + partials);
            expect(bm.freeBlocks).toBeGreaterThanOrEqual(0);
            expect(bm.activeBlocks + bm.cachedBlocks).toBeLessThanOrEqual(total + held.size);
          }
          // The dump rebuilds the same set.
          const rebuilt = new Set<string>();
          applyEvents(rebuilt, bm.dump());
          expect(rebuilt).toEqual(bm.cachedHashes());
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a sequence that fits the whole cache always fits once the others are freed', () => {
    fc.assert(
      fc.property(promptsArb, fc.array(opArb, { maxLength: 30 }), (prompts, ops) => {
        const total = 6;
        const bm = new BlockManager({ totalBlocks: total, blockSize: B });
        for (const op of ops) {
          if (op.kind === 'clear') bm.clear();
          else if (op.kind === 'free') bm.free(String(op.seq));
          else {
            const tokens = prompts[op.seq] as number[];
            bm.allocate(
              String(op.seq),
              Math.min(tokens.length, bm.heldTokens(String(op.seq)) + op.add),
              hashesOf(tokens, B),
            );
          }
        }
        for (let s = 0; s < 6; s++) bm.free(String(s));
        expect(bm.activeBlocks).toBe(0);
        const big = Array.from({ length: total * B }, (_, i) => 3 + i);
        expect(bm.allocate('big', big.length, hashesOf(big, B))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
