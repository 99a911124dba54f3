import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FinishReason, KvEventData } from '../../../src/api/index.js';
import { BlockManager } from '../../../src/engines/block-manager.js';
import { HashedSequence } from '../../../src/engines/hashed-sequence.js';
import {
  type ImportAdmission,
  Scheduler,
  type SchedulerRequest,
  type Step,
} from '../../../src/engines/scheduler.js';

interface TestRequest extends SchedulerRequest {
  readonly outputs: number[];
  cachedTokens: number | undefined;
  finished: { reason: FinishReason; message: string | undefined } | undefined;
  finishes: number;
}

interface Options {
  totalBlocks?: number;
  blockSize?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
}

function setup(o: Options = {}) {
  const events: KvEventData[] = [];
  const hookLog: string[] = [];
  const blocks = new BlockManager({
    totalBlocks: o.totalBlocks ?? 64,
    blockSize: o.blockSize ?? 4,
    onEvent: (e) => events.push(e),
  });
  const scheduler = new Scheduler<TestRequest>(
    blocks,
    { maxNumSeqs: o.maxNumSeqs ?? 8, maxNumBatchedTokens: o.maxNumBatchedTokens ?? 64 },
    {
      allocated: (req, n, pending) => hookLog.push(`allocated ${req.id} ${n} [${pending.join(',')}]`),
      committed: (req, cached) => hookLog.push(`committed ${req.id} [${cached.join(',')}]`),
      freed: (req) => hookLog.push(`freed ${req.id}`),
    },
  );
  const B = blocks.blockSize;
  /** Deterministic tokens: output k of a request is 100 + k, so a recompute samples the same. */
  const step = (): Step<TestRequest> | undefined => {
    const s = scheduler.schedule();
    if (s !== undefined) scheduler.complete(s, ({ req }) => 100 + req.seq.length - req.promptLength);
    return s;
  };
  return { blocks, scheduler, events, hookLog, step, B };
}

interface RequestOptions {
  maxOutputs?: number;
  stopIds?: number[];
  prefillOnly?: boolean;
  importKv?: { firstToken: number };
}

function request(id: string, prompt: readonly number[], o: RequestOptions = {}, B = 4): TestRequest {
  const req: TestRequest = {
    id,
    seq: new HashedSequence(prompt, B),
    promptLength: prompt.length,
    maxOutputs: o.maxOutputs ?? 4,
    stopIds: new Set(o.stopIds ?? []),
    ...(o.prefillOnly === undefined ? {} : { prefillOnly: o.prefillOnly }),
    ...(o.importKv === undefined ? {} : { importKv: o.importKv }),
    outputs: [],
    cachedTokens: undefined,
    finished: undefined,
    finishes: 0,
    sink: {
      token: (t, cached) => {
        if (req.finished !== undefined) throw new Error(`${id}: token after finish`);
        req.outputs.push(t);
        if (req.outputs.length === 1) req.cachedTokens = cached;
      },
      finish: (reason, message) => {
        req.finishes++;
        req.finished = { reason, message };
      },
    },
  };
  return req;
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const rows = (s: Step<TestRequest> | undefined) => s?.entries.map((e) => [e.req.id, e.computed, e.tokens]);
const storedHashes = (events: readonly KvEventData[]) =>
  events.flatMap((e) => (e !== 'cleared' && 'stored' in e ? e.stored.blocks.map((b) => b.blockHash) : []));

function impliedCache(events: readonly KvEventData[]): Set<string> {
  const set = new Set<string>();
  for (const e of events) {
    if (e === 'cleared') set.clear();
    else if ('stored' in e) for (const b of e.stored.blocks) set.add(b.blockHash);
    else for (const h of e.removed.blockHashes) set.delete(h);
  }
  return set;
}

describe('Scheduler: admission, budget, chunks', () => {
  it('admits first come first served within max-num-seqs; a finished request makes room', () => {
    const { scheduler, step } = setup({ maxNumSeqs: 2 });
    const [a, b, c] = [
      request('a', range(1, 5), { maxOutputs: 1 }),
      request('b', range(20, 5), { maxOutputs: 3 }),
      request('c', range(40, 5), { maxOutputs: 1 }),
    ];
    for (const r of [a, b, c]) scheduler.add(r);
    expect(rows(step())).toEqual([
      ['a', 0, 5],
      ['b', 0, 5],
    ]);
    expect(a.finished?.reason).toBe('length');
    expect(scheduler.waiting).toBe(1);
    // a left: c is admitted behind the running b.
    expect(rows(step())).toEqual([
      ['b', 5, 1],
      ['c', 0, 5],
    ]);
    expect(rows(step())).toEqual([['b', 6, 1]]);
    expect(b.outputs).toEqual([100, 101, 102]);
    expect(step()).toBeUndefined();
  });

  it('spends the token budget on running requests first, then admits in order while budget is left', () => {
    const { scheduler, step } = setup({ maxNumBatchedTokens: 10 });
    const [a, b, c] = [request('a', range(1, 6)), request('b', range(20, 6)), request('c', range(40, 3))];
    for (const r of [a, b, c]) scheduler.add(r);
    // b gets the 4 tokens a leaves; c waits behind it although it would fit.
    const first = step();
    expect(rows(first)).toEqual([
      ['a', 0, 6],
      ['b', 0, 4],
    ]);
    expect(first?.entries.map((e) => e.samples)).toEqual([true, false]);
    expect(first).toMatchObject({ prefillTokens: 10, decodes: 0 });
    const second = step();
    expect(rows(second)).toEqual([
      ['a', 6, 1],
      ['b', 4, 2],
      ['c', 0, 3],
    ]);
    expect(second).toMatchObject({ prefillTokens: 5, decodes: 1 });
  });

  it('prefills a long prompt in chunks of the budget and samples only after the last chunk', () => {
    const { scheduler, step } = setup({ maxNumBatchedTokens: 8 });
    const r = request('r', range(1, 25), { maxOutputs: 2 });
    scheduler.add(r);
    const plans = [step(), step(), step(), step(), step()];
    expect(plans.map((s) => [s?.entries[0]?.tokens, s?.entries[0]?.samples, s?.decodes])).toEqual([
      [8, false, 0],
      [8, false, 0],
      [8, false, 0],
      [1, true, 0],
      [1, true, 1],
    ]);
    expect(r.outputs).toEqual([100, 101]);
    expect(scheduler.pendingPrefillTokens).toBe(0);
  });

  it('reuses whole cached blocks, keeping at least one token to compute', () => {
    const { scheduler, step, events } = setup();
    scheduler.add(request('a', range(1, 12), { maxOutputs: 1 }));
    step();
    // 9 tokens share two blocks with a: those need no compute.
    const b = request('b', [...range(1, 8), 50], { maxOutputs: 1 });
    scheduler.add(b);
    expect(rows(step())).toEqual([['b', 8, 1]]);
    expect(b.cachedTokens).toBe(8);
    // a's whole prompt again: the last block is recomputed to sample from.
    const c = request('c', range(1, 12), { maxOutputs: 1 });
    scheduler.add(c);
    expect(rows(step())).toEqual([['c', 8, 4]]);
    expect(c.cachedTokens).toBe(8);
    expect(impliedCache(events).size).toBe(3);
  });

  it('never counts as cached the blocks that the same step is still computing', () => {
    const { scheduler, step } = setup();
    const a = request('a', range(1, 10), { maxOutputs: 1 });
    const b = request('b', range(1, 10), { maxOutputs: 1 });
    scheduler.add(a);
    scheduler.add(b);
    expect(rows(step())).toEqual([
      ['a', 0, 10],
      ['b', 0, 10],
    ]);
    expect(b.cachedTokens).toBe(0);
  });
});

describe('Scheduler: preemption and limits', () => {
  it('preempts the latest admitted request, which recomputes later and samples the same tokens', () => {
    // 3 requests of 6 + 6 tokens on 8 blocks of 4: all admitted, then decode growth runs out.
    const { scheduler, step, hookLog, blocks } = setup({ totalBlocks: 8 });
    const reqs = ['a', 'b', 'c'].map((id, k) => request(id, range(k * 100, 6), { maxOutputs: 6 }));
    for (const r of reqs) scheduler.add(r);
    const preempted: string[] = [];
    for (let i = 0; i < 100 && step() !== undefined; i++) {
      for (const line of hookLog.splice(0)) {
        const [verb, id] = line.split(' ');
        const r = reqs.find((q) => q.id === id);
        if (verb === 'freed' && r?.finished === undefined) preempted.push(id as string);
      }
    }
    expect(preempted[0]).toBe('c');
    expect(preempted).not.toContain('a');
    for (const r of reqs) {
      expect(r.finished?.reason).toBe('length');
      expect(r.outputs).toEqual(range(100, 6));
    }
    expect(blocks.activeBlocks).toBe(0);
  });

  it('does not admit in a step that had to preempt', () => {
    const { scheduler, step } = setup({ totalBlocks: 4, maxNumBatchedTokens: 100 });
    scheduler.add(request('a', range(1, 8), { maxOutputs: 9 }));
    scheduler.add(request('b', range(50, 8), { maxOutputs: 9 }));
    step(); // a and b: 2 full blocks each, the whole cache
    scheduler.add(request('c', range(90, 1), { maxOutputs: 1 }));
    // a's first decode needs a third block: b goes, and c, which would fit now, waits behind it.
    const s = step();
    expect(s?.preempted).toBe(1);
    expect(rows(s)).toEqual([['a', 8, 1]]);
    expect(scheduler.waiting).toBe(2);
    expect(rows(step())).toEqual([['a', 9, 1]]);
  });

  it('fails a request that needs more blocks than the cache holds, at admission or when it grows', () => {
    const { scheduler, step, blocks } = setup({ totalBlocks: 2 });
    const big = request('big', range(1, 9));
    const grows = request('grows', range(1, 7), { maxOutputs: 5 });
    scheduler.add(big);
    scheduler.add(grows);
    step();
    expect(big.finished).toEqual({
      reason: 'error',
      message: 'the sequence needs 3 KV blocks for 9 tokens; the cache holds 2',
    });
    for (let i = 0; i < 5; i++) step();
    expect(grows.outputs).toEqual([100, 101]); // 8 tokens fit, the 9th does not
    expect(grows.finished?.reason).toBe('error');
    expect(grows.finished?.message).toMatch(/needs 3 KV blocks/);
    expect(blocks.activeBlocks).toBe(0);
  });

  it('refuses an id in use and an import that is also prefill-only', () => {
    const { scheduler } = setup();
    scheduler.add(request('a', [1, 2]));
    expect(() => scheduler.add(request('a', [3]))).toThrow(/in use/);
    expect(() =>
      scheduler.add(request('x', [1], { prefillOnly: true, importKv: { firstToken: 3 } })),
    ).toThrow(/imports KV/);
  });
});

describe('Scheduler: prefill-only requests and pins', () => {
  it('finishes at the first token and keeps the prompt blocks pinned until releasePin', () => {
    const { scheduler, step, blocks, hookLog } = setup();
    const p = request('p', range(1, 10), { prefillOnly: true, maxOutputs: 50 });
    scheduler.add(p);
    step();
    expect(p.outputs).toEqual([100]);
    expect(p.finished?.reason).toBe('length');
    expect(scheduler.running).toBe(0);
    expect(scheduler.pinIds()).toEqual(['p']);
    expect(scheduler.pinned('p')).toBe(p);
    expect(blocks.activeBlocks).toBe(3); // two full blocks and the partial tail
    expect(blocks.heldTokens('p')).toBe(10);
    expect(hookLog).not.toContain('freed p');
    expect(() => scheduler.add(request('p', [1]))).toThrow(/in use/);
    expect(scheduler.releasePin('p')).toBe(true);
    expect(scheduler.releasePin('p')).toBe(false);
    expect(hookLog.filter((l) => l === 'freed p')).toHaveLength(1);
    expect(blocks.activeBlocks).toBe(0);
    expect(blocks.cachedBlocks).toBe(2);
  });

  it('reports stop for a stop token, and pins nothing when cancelled before its token', () => {
    const { scheduler, step, blocks } = setup();
    const p = request('p', range(1, 5), { prefillOnly: true, stopIds: [100] });
    scheduler.add(p);
    step();
    expect(p.finished?.reason).toBe('stop');
    expect(scheduler.pinIds()).toEqual(['p']);
    const q = request('q', range(1, 30), { prefillOnly: true });
    scheduler.add(q);
    scheduler.cancel('q');
    expect(q.finished?.reason).toBe('cancelled');
    expect(scheduler.pinIds()).toEqual(['p']);
    scheduler.releasePin('p');
    expect(blocks.activeBlocks).toBe(0);
  });

  it('never evicts pinned blocks; a request that does not fit beside a pin waits instead of failing', () => {
    const { scheduler, step, blocks, events } = setup({ totalBlocks: 4 });
    const p = request('p', range(1, 8), { prefillOnly: true });
    scheduler.add(p);
    step();
    const pinned = p.seq.sequence.slice(0, 2);
    const q = request('q', range(50, 12), { maxOutputs: 1 });
    scheduler.add(q);
    expect(step()).toBeUndefined();
    expect(q.finished).toBeUndefined();
    expect(scheduler.waiting).toBe(1);
    expect(blocks.cachedHashes()).toEqual(new Set(pinned));
    scheduler.releasePin('p');
    expect(rows(step())).toEqual([['q', 0, 12]]);
    expect(q.finished?.reason).toBe('length');
    // Released, p's blocks became evictable: q needed one of them, the leaf.
    expect(events.at(-2)).toEqual({ removed: { blockHashes: [pinned[1]] } });
  });
});

describe('Scheduler: imported KV', () => {
  /** A worker that cached a 2-block prefix; the import shares it and lacks 2 blocks (and a tail of 3). */
  function importSetup() {
    const t = setup();
    const shared = range(1, 8);
    t.scheduler.add(request('local', [...shared, 9], { maxOutputs: 1 }));
    t.step();
    t.events.length = 0;
    const prompt = [...shared, ...range(30, 8), 77, 78, 79];
    const imp = request('imp', prompt, { importKv: { firstToken: 555 }, maxOutputs: 3 });
    t.scheduler.add(imp);
    const s = t.step();
    return { ...t, imp, s, prompt };
  }

  it('allocates the full blocks only, reports the missing ones and takes no part in steps', () => {
    const { imp, s, scheduler, events, blocks, hookLog, step } = importSetup();
    expect(s?.entries).toEqual([]);
    const admission = s?.imports[0] as ImportAdmission<TestRequest>;
    expect(admission).toEqual({
      req: imp,
      missing: [2, 3],
      missingHashes: imp.seq.sequence.slice(2, 4),
      tailTokens: 3,
      cachedTokens: 8,
    });
    expect(hookLog).toContain('allocated imp 16 [2,3]');
    expect(scheduler.importing).toBe(1);
    expect(scheduler.pendingPrefillTokens).toBe(0);
    expect(blocks.activeBlocks).toBe(4);
    // Unfilled blocks are neither announced nor a prefix hit.
    expect(events).toEqual([]);
    expect(blocks.matchPrefix(imp.seq.sequence)).toBe(2);
    expect(step()).toBeUndefined();
  });

  it('importDone announces the blocks, emits the first token, then computes the tail and that token', () => {
    const { imp, scheduler, events, step, hookLog } = importSetup();
    expect(scheduler.importDone('imp')).toBe(true);
    expect(scheduler.importDone('imp')).toBe(false);
    expect(hookLog).toContain('committed imp [2,3]');
    expect(storedHashes(events)).toEqual(imp.seq.sequence.slice(2, 4));
    expect(events[0]).toMatchObject({ stored: { parentHash: imp.seq.sequence[1] } });
    expect(imp.outputs).toEqual([555]);
    expect(imp.cachedTokens).toBe(8);
    // The partial tail (3 tokens) and the first token are computed here, sampling the second token.
    const tail = step();
    expect(rows(tail)).toEqual([['imp', 16, 4]]);
    expect(tail?.entries[0]?.samples).toBe(true);
    expect(rows(step())).toEqual([['imp', 20, 1]]);
    expect(imp.outputs).toEqual([555, 101, 102]);
    expect(imp.finished?.reason).toBe('length');
    // Another request now finds the imported blocks cached.
    const again = request('again', [...imp.seq.tokens.slice(0, 16), 1]);
    scheduler.add(again);
    step();
    expect(again.cachedTokens).toBe(16);
  });

  it('a first token that ends the request finishes it at importDone', () => {
    const t = setup();
    const imp = request('imp', range(1, 5), { importKv: { firstToken: 9 }, stopIds: [9] });
    t.scheduler.add(imp);
    t.step();
    t.scheduler.importDone('imp');
    expect(imp.finished?.reason).toBe('stop');
    expect(t.blocks.activeBlocks).toBe(0);
    expect(t.blocks.cachedBlocks).toBe(1);
  });

  it('importFailed and cancel free the blocks without announcing them', () => {
    for (const end of ['failed', 'cancelled'] as const) {
      const { imp, scheduler, blocks, events } = importSetup();
      if (end === 'failed') expect(scheduler.importFailed('imp', 'prefill worker gone')).toBe(true);
      else expect(scheduler.cancel('imp')).toBe(true);
      expect(imp.finished).toEqual({
        reason: end === 'failed' ? 'error' : 'cancelled',
        message: end === 'failed' ? 'prefill worker gone' : undefined,
      });
      expect(scheduler.importing).toBe(0);
      expect(scheduler.importDone('imp')).toBe(false);
      expect(blocks.activeBlocks).toBe(0);
      expect(events).toEqual([]);
      expect(blocks.freeBlocks + blocks.cachedBlocks).toBe(blocks.totalBlocks);
    }
  });

  it('a block computed locally while importing stays the cached one; the import keeps a private copy', () => {
    const { imp, scheduler, step, events, blocks, prompt } = importSetup();
    const local = request('l', prompt.slice(0, 13), { maxOutputs: 1 });
    scheduler.add(local);
    step();
    expect(storedHashes(events)).toEqual(imp.seq.sequence.slice(2, 3));
    events.length = 0;
    scheduler.importDone('imp');
    expect(storedHashes(events)).toEqual(imp.seq.sequence.slice(3, 4));
    expect(impliedCache(events)).toEqual(new Set(imp.seq.sequence.slice(3, 4)));
    scheduler.cancel('imp');
    expect(blocks.activeBlocks).toBe(0);
    expect(blocks.freeBlocks + blocks.cachedBlocks).toBe(blocks.totalBlocks);
  });

  it('waits in order for blocks and max-num-seqs like any request', () => {
    const t = setup({ totalBlocks: 3, maxNumSeqs: 1 });
    const a = request('a', range(1, 5), { maxOutputs: 1 });
    const imp = request('imp', range(50, 9), { importKv: { firstToken: 1 } });
    t.scheduler.add(a);
    t.scheduler.add(imp);
    expect(t.step()?.imports).toEqual([]);
    const s = t.step();
    expect(s?.imports.map((i) => i.req.id)).toEqual(['imp']);
  });
});

type Op =
  | { kind: 'add'; prompt: number; mode: 'plain' | 'prefill' | 'import'; maxOutputs: number }
  | { kind: 'step' }
  | { kind: 'cancel'; which: number }
  | { kind: 'release'; which: number }
  | { kind: 'importDone'; which: number }
  | { kind: 'importFailed'; which: number };

describe('Scheduler properties', () => {
  const B = 2;
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('add' as const),
        prompt: fc.nat(5),
        mode: fc.constantFrom('plain' as const, 'prefill' as const, 'import' as const),
        maxOutputs: fc.integer({ min: 1, max: 5 }),
      }),
    },
    { weight: 6, arbitrary: fc.constant({ kind: 'step' as const }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), which: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), which: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('importDone' as const), which: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('importFailed' as const), which: fc.nat() }) },
  );
  // A two-token alphabet and short prompts: prefixes collide often, and a few blocks run out quickly.
  const promptsArb = fc.array(fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 11 }), {
    minLength: 6,
    maxLength: 6,
  });

  it('no block leaks, events match the cache, and no step reads KV nobody wrote', () => {
    fc.assert(
      fc.property(
        fc.record({
          totalBlocks: fc.integer({ min: 2, max: 10 }),
          maxNumSeqs: fc.integer({ min: 1, max: 4 }),
          maxNumBatchedTokens: fc.integer({ min: 1, max: 9 }),
        }),
        promptsArb,
        fc.array(opArb, { maxLength: 60 }),
        fc.constantFrom('cancel' as const, 'drain' as const),
        (options, prompts, ops, end) => {
          const events: KvEventData[] = [];
          // Hashes of cached blocks whose KV exists: written by a completed step or an import.
          const written = new Set<string>();
          const blocks = new BlockManager({
            totalBlocks: options.totalBlocks,
            blockSize: B,
            onEvent: (e) => {
              events.push(e);
              if (e !== 'cleared' && 'removed' in e) for (const h of e.removed.blockHashes) written.delete(h);
            },
          });
          // Requests holding blocks they computed or imported themselves (running, or importDone).
          const holding = new Set<string>();
          const scheduler = new Scheduler<TestRequest>(blocks, options, {
            freed: (req) => holding.delete(req.id),
          });
          const all: TestRequest[] = [];
          const importing: TestRequest[] = [];
          let next = 0;

          const step = (): boolean => {
            const s = scheduler.schedule();
            if (s === undefined) return false;
            for (const e of s.entries) {
              if (holding.has(e.req.id)) continue;
              // Admitted in this step: the cached blocks it starts from hold KV already.
              for (let i = 0; i < Math.floor(e.computed / B); i++) {
                expect(written.has(e.req.seq.sequence[i] as string)).toBe(true);
              }
              holding.add(e.req.id);
            }
            for (const a of s.imports) {
              const full = Math.floor(a.req.promptLength / B);
              for (let i = 0; i < full; i++) {
                expect(written.has(a.req.seq.sequence[i] as string) || a.missing.includes(i)).toBe(true);
              }
              importing.push(a.req);
            }
            scheduler.complete(s, ({ req }) => (req.seq.length - req.promptLength) % 2);
            for (const e of s.entries) {
              for (let i = 0; i < Math.floor((e.computed + e.tokens) / B); i++) {
                written.add(e.req.seq.sequence[i] as string);
              }
            }
            return true;
          };
          const pick = <T>(list: readonly T[], which: number): T | undefined => list[which % list.length];
          const finishImport = (req: TestRequest, ok: boolean): void => {
            importing.splice(importing.indexOf(req), 1);
            if (!ok) scheduler.importFailed(req.id, 'failed');
            else if (scheduler.importDone(req.id)) {
              if (req.finished === undefined) holding.add(req.id);
              const cached = blocks.cachedHashes();
              const full = Math.floor(req.promptLength / B);
              for (let i = 0; i < full; i++) {
                const hash = req.seq.sequence[i] as string;
                if (cached.has(hash)) written.add(hash);
              }
            }
          };

          for (const op of ops) {
            if (op.kind === 'add') {
              const req = request(
                `r${next++}`,
                prompts[op.prompt] as number[],
                {
                  maxOutputs: op.maxOutputs,
                  ...(op.mode === 'prefill' ? { prefillOnly: true } : {}),
                  ...(op.mode === 'import' ? { importKv: { firstToken: 1 } } : {}),
                },
                B,
              );
              all.push(req);
              scheduler.add(req);
            } else if (op.kind === 'step') step();
            else if (op.kind === 'cancel') {
              const live = all.filter((r) => r.finished === undefined);
              const victim = pick(live, op.which);
              if (victim !== undefined) {
                scheduler.cancel(victim.id);
                const i = importing.indexOf(victim);
                if (i >= 0) importing.splice(i, 1);
              }
            } else if (op.kind === 'release') {
              const id = pick(scheduler.pinIds(), op.which);
              if (id !== undefined) {
                expect(scheduler.releasePin(id)).toBe(true);
                expect(scheduler.releasePin(id)).toBe(false);
              }
            } else {
              const req = pick(importing, op.which);
              if (req !== undefined) finishImport(req, op.kind === 'importDone');
            }
            expect(blocks.cachedHashes()).toEqual(impliedCache(events));
            expect(blocks.freeBlocks).toBeGreaterThanOrEqual(0);
            expect(scheduler.running + scheduler.importing).toBeLessThanOrEqual(options.maxNumSeqs);
          }

          if (end === 'cancel') {
            scheduler.cancelAll();
          } else {
            // Everything finishes once imports end and pins are released: nothing waits forever.
            for (let guard = 0; ; guard++) {
              expect(guard).toBeLessThan(10_000);
              for (const req of [...importing]) finishImport(req, true);
              for (const id of scheduler.pinIds()) scheduler.releasePin(id);
              if (!step() && importing.length === 0 && scheduler.pinIds().length === 0) break;
            }
            expect(scheduler.waiting + scheduler.running + scheduler.importing).toBe(0);
          }
          for (const id of scheduler.pinIds()) scheduler.releasePin(id);
          for (const r of all) expect(r.finishes).toBe(1);
          expect(blocks.activeBlocks).toBe(0);
          expect(blocks.freeBlocks + blocks.cachedBlocks).toBe(blocks.totalBlocks);
          expect(blocks.cachedHashes()).toEqual(impliedCache(events));
        },
      ),
      { numRuns: 500 },
    );
  });
});
