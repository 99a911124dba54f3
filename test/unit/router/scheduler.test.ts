import { describe, expect, it } from 'vitest';
import type { InstanceId } from '../../../src/api/index.js';
import { type Candidate, KvScheduler, softmaxWeights } from '../../../src/router/scheduler.js';

const A = '000000000000000a' as InstanceId;
const B = '000000000000000b' as InstanceId;
const C = '000000000000000c' as InstanceId;
const BS = 16;

const cands = (...ids: InstanceId[]): Candidate[] => ids.map((id) => ({ id, cachedBlocks: 0 }));
/** Sequence keys of a prompt family: blocks 0..n-1. */
const keys = (family: number, n: number) => Array.from({ length: n }, (_, i) => family * 10_000 + i);

function scheduler(opts: Partial<ConstructorParameters<typeof KvScheduler>[0]> = {}, random = () => 0) {
  return new KvScheduler(
    { blockSize: BS, overlapScoreWeight: 1, temperature: 0, busyThreshold: null, maxNumSeqs: 1000, ...opts },
    random,
  );
}

describe('KvScheduler', () => {
  it('computes DESIGN §7 costs: prefill minus overlap, decode with the new request', () => {
    const s = scheduler();
    // A holds one active request of 4 blocks (64 tokens), prefill pending.
    s.add('r0', A, { isl: 64, seqKeys: keys(1, 4) }, 0);
    const req = { isl: 100, seqKeys: keys(2, 6), overlaps: new Map([[B, 3]]) };
    const [ca, cb] = s.costs(cands(A, B), req);
    // A: prefill 64 + 100; decode 4 + 6 full + 1 partial.
    expect(ca).toMatchObject({ overlap: 0, prefillTokens: 164, decodeBlocks: 11 });
    expect(ca?.logit).toBeCloseTo(164 / 16 + 11);
    // B: prefill 100 - 3·16 = 52; decode 7.
    expect(cb).toMatchObject({ overlap: 3, prefillTokens: 52, decodeBlocks: 7 });
    expect(cb?.logit).toBeCloseTo(52 / 16 + 7);
    expect(s.select(cands(A, B), req)).toEqual({ kind: 'routed', instance: B, overlapBlocks: 3 });
  });

  it('weights the prefill term by overlapScoreWeight', () => {
    const req = { isl: 160, seqKeys: keys(1, 10), overlaps: new Map([[A, 10]]) };
    // A caches the prompt but is loaded with decode blocks; B is idle.
    const setup = (w: number) => {
      const s = scheduler({ overlapScoreWeight: w });
      s.add('r0', A, { isl: 16 * 12, seqKeys: keys(9, 12) }, 12);
      return s;
    };
    // Weight 1: A = 0 + 22, B = 10 + 10 → B. Weight 2: A = 22, B = 30 → A.
    expect(setup(1).select(cands(A, B), req)).toMatchObject({ instance: B });
    expect(setup(2).select(cands(A, B), req)).toMatchObject({ instance: A });
  });

  it('counts blocks shared by active requests once', () => {
    const s = scheduler();
    s.add('r1', A, { isl: 64, seqKeys: keys(1, 4) }, 0);
    s.add('r2', A, { isl: 96, seqKeys: [...keys(1, 4), 77, 78] }, 4);
    expect(s.activeBlocks(A)).toBe(6);
    // A new request sharing the 4-block prefix adds only its own blocks to A's decode cost.
    const [ca] = s.costs(cands(A), { isl: 80, seqKeys: [...keys(1, 4), 99], overlaps: new Map() });
    expect(ca?.decodeBlocks).toBe(6 + 1);
  });

  it('counts a prefix held by an active request on a worker as cached there (events may lag)', () => {
    const s = scheduler();
    s.add('r1', A, { isl: 64, seqKeys: keys(1, 4) }, 0);
    const req = { isl: 80, seqKeys: [...keys(1, 4), 5], overlaps: new Map() };
    const [ca, cb] = s.costs(cands(A, B), req);
    expect(ca).toMatchObject({ overlap: 4, prefillTokens: 64 + 16, decodeBlocks: 4 + 1 });
    expect(cb).toMatchObject({ overlap: 0, prefillTokens: 80, decodeBlocks: 5 });
  });

  it('frees prefill at the first token and blocks at completion', () => {
    const s = scheduler();
    s.add('r1', A, { isl: 70, seqKeys: keys(1, 4) }, 1);
    expect(s.activePrefillTokens(A)).toBe(70 - 16);
    expect(s.activeBlocks(A)).toBe(5);
    s.prefillDone('r1');
    s.prefillDone('r1');
    expect(s.activePrefillTokens(A)).toBe(0);
    expect(s.free('r1')).toBe(A);
    expect(s.free('r1')).toBeUndefined();
    expect(s.activeBlocks(A)).toBe(0);
    expect(s.activeRequests(A)).toBe(0);
  });

  it('breaks ties by fewer cached blocks, then at random', () => {
    const req = { isl: 32, seqKeys: keys(1, 2), overlaps: new Map() };
    const s = scheduler();
    expect(
      s.select(
        [
          { id: A, cachedBlocks: 50 },
          { id: B, cachedBlocks: 10 },
          { id: C, cachedBlocks: 30 },
        ],
        req,
      ),
    ).toMatchObject({ instance: B });
    const picks = new Set<InstanceId>();
    for (const r of [0, 0.34, 0.67, 0.99]) {
      const sel = scheduler({}, () => r).select(cands(A, B, C), req);
      if (sel.kind === 'routed') picks.add(sel.instance);
    }
    expect(picks).toEqual(new Set([A, B, C]));
  });

  it('samples by temperature: T > 0 spreads, low T concentrates on the cheapest', () => {
    expect(softmaxWeights([5, 5], 1)).toEqual([1, 1]);
    const w = softmaxWeights([0, 10], 0.5);
    expect(w[0]).toBe(1);
    expect(w[1]).toBeCloseTo(Math.exp(-2));
    const req = { isl: 160, seqKeys: keys(1, 10), overlaps: new Map([[A, 10]]) };
    const count = (temperature: number) => {
      let seed = 7;
      const random = () => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed / 2 ** 32;
      };
      const s = scheduler({ temperature }, random);
      let a = 0;
      for (let i = 0; i < 2000; i++) {
        const sel = s.select(cands(A, B), req);
        if (sel.kind === 'routed' && sel.instance === A) a++;
      }
      return a / 2000;
    };
    // logits: A = 10, B = 20 → p(A) = 1/(1+e^(-1/T)).
    expect(count(1)).toBeCloseTo(1 / (1 + Math.exp(-1)), 1);
    expect(count(0.1)).toBeGreaterThan(0.99);
    expect(count(0)).toBe(1);
  });

  it('a worker running its max sequences (times the threshold) is busy, whatever its KV use', () => {
    const s = scheduler({ busyThreshold: 0.5, maxNumSeqs: 4 });
    s.setCapacity(A, 1_000_000);
    s.add('r1', A, { isl: 1, seqKeys: [] }, 0);
    expect(s.isBusy(A)).toBe(false);
    s.add('r2', A, { isl: 1, seqKeys: [] }, 0);
    // ceil(0.5 · 4) = 2 active requests.
    expect(s.isBusy(A)).toBe(true);
    s.free('r2');
    expect(s.isBusy(A)).toBe(false);
    // Threshold off: never busy.
    const off = scheduler({ busyThreshold: null, maxNumSeqs: 1 });
    off.add('r1', A, { isl: 1, seqKeys: [] }, 0);
    off.add('r2', A, { isl: 1, seqKeys: [] }, 0);
    expect(off.isBusy(A)).toBe(false);
  });

  it('excludes busy workers and queues when all are busy', () => {
    const s = scheduler({ busyThreshold: 0.5 });
    s.setCapacity(A, 10);
    s.setCapacity(B, 10);
    const req = { isl: 16, seqKeys: keys(3, 1), overlaps: new Map([[A, 1]]) };
    s.add('r1', A, { isl: 80, seqKeys: keys(1, 5) }, 0);
    expect(s.isBusy(A)).toBe(true);
    expect(s.select(cands(A, B), req)).toMatchObject({ kind: 'routed', instance: B });
    // B reports its own load (e.g. requests from another frontend).
    s.reportLoad({
      workerId: B,
      activeBlocks: 6,
      totalBlocks: 10,
      waitingRequests: 0,
      runningRequests: 2,
      pendingPrefillTokens: 0,
    });
    expect(s.select(cands(A, B), req)).toEqual({ kind: 'queued' });
    s.free('r1');
    expect(s.select(cands(A, B), req)).toMatchObject({ kind: 'routed', instance: A });
    expect(s.select([], req)).toMatchObject({ kind: 'rejected' });
  });

  it('forgets a removed worker and its requests', () => {
    const s = scheduler();
    s.add('r1', A, { isl: 64, seqKeys: keys(1, 4) }, 0);
    s.removeWorker(A);
    expect(s.activeBlocks(A)).toBe(0);
    expect(s.free('r1')).toBeUndefined();
    expect(s.activeRequestCount).toBe(0);
  });
});
