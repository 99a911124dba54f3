import { describe, expect, it } from 'vitest';
import type { InstanceId } from '../../../src/api/index.js';
import { ApproxTracker } from '../../../src/router/approx-tracker.js';
import { hashesFromHex, type RequestHashes } from '../../../src/router/block-hashes.js';
import { KvIndexer } from '../../../src/router/indexer.js';

const A = '000000000000000a' as InstanceId;
const B = '000000000000000b' as InstanceId;

const req = (family: number, n: number): RequestHashes => ({
  local: hashesFromHex(
    Array.from(
      { length: n },
      (_, i) => `${family.toString(16).padStart(8, '0')}${i.toString(16).padStart(8, '0')}`,
    ),
  ),
  sequence: hashesFromHex(
    Array.from(
      { length: n },
      (_, i) => `f${family.toString(16).padStart(7, '0')}${i.toString(16).padStart(8, '0')}`,
    ),
  ),
});

describe('ApproxTracker', () => {
  it('indexes decisions, refreshes re-routed blocks, and expires them after the TTL', () => {
    const idx = new KvIndexer();
    const t = new ApproxTracker(idx, { ttlMs: 100, maxBlocks: 1000 });
    t.record(A, req(1, 4), 4, 0);
    t.record(B, req(1, 4), 2, 10);
    expect(idx.findMatches(req(1, 4)).toMap()).toEqual(
      new Map([
        [A, 4],
        [B, 2],
      ]),
    );
    expect(t.size).toBe(6);
    // A's first two blocks are routed again at 60: they live until 160, the rest until 100.
    t.record(A, req(1, 4), 2, 60);
    expect(t.size).toBe(6);
    t.prune(105);
    expect(idx.findMatches(req(1, 4)).toMap()).toEqual(
      new Map([
        [A, 2],
        [B, 2],
      ]),
    );
    t.prune(111);
    expect(idx.findMatches(req(1, 4)).toMap()).toEqual(new Map([[A, 2]]));
    t.prune(160);
    expect(idx.findMatches(req(1, 4)).size).toBe(0);
    expect(t.size).toBe(0);
    expect(idx.stats().nodes).toBe(0);
  });

  it('keeps at most maxBlocks, dropping the oldest; forgets a removed worker', () => {
    const idx = new KvIndexer();
    const t = new ApproxTracker(idx, { ttlMs: 1e9, maxBlocks: 5 });
    t.record(A, req(1, 4), 4, 0);
    t.record(B, req(2, 3), 3, 1);
    expect(t.size).toBe(5);
    // Leaves go first within a decision: A keeps its first two blocks.
    expect(idx.findMatches(req(1, 4)).toMap()).toEqual(new Map([[A, 2]]));
    t.removeWorker(B);
    idx.removeWorker(B);
    expect(t.size).toBe(2);
    t.record(B, req(2, 3), 3, 2);
    expect(idx.findMatches(req(2, 3)).toMap()).toEqual(new Map([[B, 3]]));
  });
});
