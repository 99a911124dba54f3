// The pending-prefill term of the design cost (issue 20: kv piled requests onto a worker still
// prefilling), the `dynamo` cost (Dynamo's current selector) and the time cost with its near-tie
// rule, on hand-computed numbers.
import { describe, expect, it } from 'vitest';
import type { InstanceId } from '../../../src/api/index.js';
import {
  type Candidate,
  KvScheduler,
  type SchedulerOptions,
  TIE_MARGIN_STEPS,
} from '../../../src/router/scheduler.js';

const A = '000000000000000a' as InstanceId;
const B = '000000000000000b' as InstanceId;
const BS = 16;
const keys = (family: number, n: number) => Array.from({ length: n }, (_, i) => family * 10_000 + i);

function scheduler(opts: Partial<SchedulerOptions> = {}, random = () => 0, now?: () => number) {
  return new KvScheduler(
    { blockSize: BS, overlapScoreWeight: 1, temperature: 0, busyThreshold: null, maxNumSeqs: 1000, ...opts },
    random,
    now,
  );
}

describe('design cost: requests still prefilling', () => {
  // Both workers cache the 4-block prefix; A (fewer cached blocks: it wins ties) is prefilling a
  // request that hit it in full, so that request adds no prefill tokens to A.
  const cands: Candidate[] = [
    { id: A, cachedBlocks: 4 },
    { id: B, cachedBlocks: 40 },
  ];
  const next = {
    isl: 80,
    seqKeys: [...keys(1, 4), 5],
    overlaps: new Map([
      [A, 4],
      [B, 4],
    ]),
  };
  const setup = (pendingPrefillBlocks: number) => {
    const s = scheduler({ pendingPrefillBlocks });
    s.add('r0', A, { isl: 64, seqKeys: keys(1, 4) }, 4);
    return s;
  };

  it('sends the next request with equal overlap to the worker that is not prefilling', () => {
    const s = setup(32);
    expect(s.pendingPrefills(A)).toBe(1);
    const [ca, cb] = s.costs(cands, next);
    // A: prefill 16 tokens (1 block) + decode 4 + 1 + 32 pending; B: 1 + 5.
    expect(ca?.logit).toBeCloseTo(1 + 5 + 32);
    expect(cb?.logit).toBeCloseTo(1 + 5);
    expect(s.select(cands, next)).toMatchObject({ instance: B });
  });

  it('without the term the tie goes to the prefilling worker (the pile-on)', () => {
    expect(setup(0).select(cands, next)).toMatchObject({ instance: A });
  });

  it('stops counting a request at its first token, and at its end if it never had one', () => {
    const s = setup(32);
    s.prefillDone('r0');
    s.prefillDone('r0');
    expect(s.pendingPrefills(A)).toBe(0);
    expect(s.select(cands, next)).toMatchObject({ instance: A });
    s.add('r1', A, { isl: 64, seqKeys: keys(1, 4) }, 4);
    expect(s.pendingPrefills(A)).toBe(1);
    s.free('r1');
    s.free('r0');
    expect(s.pendingPrefills(A)).toBe(0);
  });

  it('still prefers a long cached prefix over a worker that is only idle', () => {
    // A caches 64 blocks of the prompt and is prefilling one request; B would compute all of them.
    const s = setup(32);
    const long = { isl: 64 * BS, seqKeys: keys(3, 64), overlaps: new Map([[A, 64]]) };
    expect(s.select(cands, long)).toMatchObject({ instance: A });
  });
});

describe('dynamo cost', () => {
  const cands: Candidate[] = [
    { id: A, cachedBlocks: 0 },
    { id: B, cachedBlocks: 0 },
  ];
  const loaded = (opts: Partial<SchedulerOptions>) => {
    const s = scheduler({ cost: 'dynamo', pendingPrefillBlocks: 32, ...opts });
    // A: one active request of 4 blocks, 64 prefill tokens pending.
    s.add('r0', A, { isl: 64, seqKeys: keys(1, 4) }, 0);
    return s;
  };
  const req = (overlaps: [InstanceId, number][]) => ({
    isl: 100,
    seqKeys: keys(2, 6),
    overlaps: new Map(overlaps),
  });

  it('is prefill load scale · max(0, raw prefill blocks − credit) + decode blocks, no pending term', () => {
    const [ca, cb] = loaded({}).costs(cands, req([[B, 3]]));
    // A: (64 + 100)/16 = 10.25 raw, no credit; decode 4 + 6 + 1 = 11.
    expect(ca?.logit).toBeCloseTo(10.25 + 11);
    // B: 100/16 − 3 = 3.25; decode 7.
    expect(cb?.logit).toBeCloseTo(3.25 + 7);
    const [sa, sb] = loaded({ overlapScoreWeight: 2 }).costs(cands, req([[B, 3]]));
    expect(sa?.logit).toBeCloseTo(2 * 10.25 + 11);
    expect(sb?.logit).toBeCloseTo(2 * 3.25 + 7);
  });

  it('scales the credit, and fades it with excess prefill load (decay)', () => {
    const [, cb] = loaded({ overlapScoreCredit: 0.5 }).costs(cands, req([[B, 3]]));
    expect(cb?.logit).toBeCloseTo(100 / 16 - 1.5 + 7);
    // A's excess over B: 64 tokens = 4 blocks, over a 7-block request: decay 1/(1 + 4/7).
    const [ca] = loaded({ overlapScoreCreditDecay: 1 }).costs(cands, req([[A, 3]]));
    expect(ca?.logit).toBeCloseTo(10.25 - 3 / (1 + 4 / 7) + 11);
  });

  it('adds decodeActiveRequestWeight per active request', () => {
    const [ca, cb] = loaded({ decodeActiveRequestWeight: 10 }).costs(cands, req([]));
    expect(ca?.logit).toBeCloseTo(10.25 + 11 + 10);
    expect(cb?.logit).toBeCloseTo(100 / 16 + 7);
  });

  it('breaks ties at random, not by cached blocks', () => {
    const tie: Candidate[] = [
      { id: A, cachedBlocks: 9 },
      { id: B, cachedBlocks: 0 },
    ];
    const r = { isl: 32, seqKeys: keys(4, 2), overlaps: new Map() };
    expect(scheduler({ cost: 'dynamo' }, () => 0).select(tie, r)).toMatchObject({ instance: A });
    expect(scheduler({ cost: 'dynamo' }, () => 0.99).select(tie, r)).toMatchObject({ instance: B });
    expect(scheduler({}, () => 0).select(tie, r)).toMatchObject({ instance: B });
  });
});

describe('time cost: predicted wait', () => {
  const STEP_BLOCKS = 16;
  const time = (random = () => 0, now?: () => number) =>
    scheduler({ cost: 'time', pendingPrefillBlocks: STEP_BLOCKS }, random, now);
  const cands: Candidate[] = [
    { id: A, cachedBlocks: 4 },
    { id: B, cachedBlocks: 40 },
  ];
  const request = (isl: number, overlapOnA: number) => ({
    isl,
    seqKeys: keys(1, Math.floor(isl / BS)),
    overlaps: new Map([[A, overlapOnA]]),
  });

  it('weighs a busy holder of the prefix against an idle worker by the prefill it saves', () => {
    const s = time();
    s.add('r0', A, { isl: 64, seqKeys: keys(2, 4) }, 4);
    s.prefillDone('r0'); // A decodes r0
    // Short prompt: A computes 1 block but is busy (one step more); B computes all 5.
    const [ca, cb] = s.costs(cands, request(80, 4));
    expect(ca).toMatchObject({ overlap: 4, prefillTokens: 16, logit: 1 + STEP_BLOCKS });
    expect(cb).toMatchObject({ overlap: 0, prefillTokens: 80, logit: 5 });
    expect(s.select(cands, request(80, 4))).toMatchObject({ instance: B });
    // Long prompt: the 48 cached blocks outweigh the busy worker's step.
    expect(s.select(cands, request(800, 48))).toMatchObject({ instance: A });
  });

  it('counts the batch a worker is prefilling and the requests queued behind it, until its first token', () => {
    let now = 0;
    const s = time(
      () => 0,
      () => now,
    );
    s.add('r0', A, { isl: 160, seqKeys: keys(3, 10) }, 0); // 160 tokens in flight on A
    s.add('r1', A, { isl: 32, seqKeys: keys(4, 2) }, 0); // queued behind it
    const next = { isl: 16, seqKeys: keys(5, 1), overlaps: new Map() };
    const [ca] = s.costs(cands, next);
    // Wait: the step (16 blocks) + 160 tokens in flight + 32 queued; then its own 16 tokens.
    expect(ca?.prefillTokens).toBe(STEP_BLOCKS * BS + 160 + 32 + 16);
    expect(ca?.logit).toBeCloseTo(STEP_BLOCKS + 10 + 2 + 1 + STEP_BLOCKS);
    expect(s.select(cands, next)).toMatchObject({ instance: B });
    now = 50;
    s.prefillDone('r0'); // r1's batch starts: 32 tokens and a step ahead of a newcomer
    expect(s.costs(cands, next)[0]?.prefillTokens).toBe(STEP_BLOCKS * BS + 32 + 16);
    s.free('r1');
    s.free('r0');
    expect(s.costs(cands, next)[0]).toMatchObject({ prefillTokens: 16, logit: 1 });
  });

  it('treats logits within the near-tie margin as equal: an idle holder of the prompt, then fewer cached blocks, then round-robin order', () => {
    const C = '000000000000000c' as InstanceId;
    const margin = TIE_MARGIN_STEPS * STEP_BLOCKS; // 6 blocks
    const three = (cached: [number, number, number]): Candidate[] =>
      [A, B, C].map((id, i) => ({ id, cachedBlocks: cached[i] as number }));
    expect(margin).toBe(6);
    // A, idle, caches the first 6 blocks of a 10-block prompt (logit 4), B and C nothing (logit 10):
    // within the margin, but A's cache hit costs nothing, so A wins despite caching the most.
    const near = { isl: 160, seqKeys: keys(6, 10), overlaps: new Map([[A, 6]]) };
    expect(time().select(three([50, 20, 30]), near)).toMatchObject({ instance: A });
    // A busy (decoding one request: the step term, 16) holds the whole prompt (logit 16), B and C
    // idle (logit 10): a near-tie in which A's overlap does not count, so fewer cached blocks wins — the
    // prefix spreads instead of queueing behind A.
    const busy = time();
    busy.add('r0', A, { isl: 16, seqKeys: keys(9, 1) }, 0);
    busy.prefillDone('r0');
    const whole = { isl: 160, seqKeys: keys(6, 10), overlaps: new Map([[A, 10]]) };
    const [ca, cb] = busy.costs(three([50, 20, 30]), whole);
    expect((ca?.logit ?? 0) - (cb?.logit ?? 0)).toBeCloseTo(margin);
    expect(busy.select(three([50, 20, 30]), whole)).toMatchObject({ instance: B });
    // All equal: each decision starts one worker further, as round-robin does; no randomness used.
    const s = time(() => {
      throw new Error('random must not be drawn');
    });
    const even = { isl: 160, seqKeys: keys(7, 10), overlaps: new Map() };
    const picks = [0, 1, 2, 3].map(
      () => (s.select(three([0, 0, 0]), even) as { instance: InstanceId }).instance,
    );
    expect(picks).toEqual([A, B, C, A]);
  });

  it("counts a busy worker's overlap in a near-tie only where it runs past what its active requests share: the request's own continuation", () => {
    // A chat: an 8-block system prompt, 11 blocks of its own history, 2 new blocks. A caches all 19
    // (it served the previous turn); B, idle, only the system prompt. A is busy decoding (the step
    // term), so its logit (2 + 16) is within the margin of B's (13).
    const system = keys(20, 8);
    const chat = [...system, ...keys(21, 11), ...keys(22, 2)];
    const turn = {
      isl: chat.length * BS,
      seqKeys: chat,
      overlaps: new Map([
        [A, 19],
        [B, 8],
      ]),
    };
    const cands: Candidate[] = [
      { id: A, cachedBlocks: 100 },
      { id: B, cachedBlocks: 10 },
    ];
    const busyWith = (running: number[]) => {
      const s = time();
      s.add('r0', A, { isl: running.length * BS, seqKeys: running }, 0);
      s.prefillDone('r0');
      return s;
    };
    // A's running request shares the system prompt: the history past it is this chat's alone, so A's
    // 19 blocks count and the chat stays where its history is.
    const sharing = busyWith([...system, ...keys(23, 3)]);
    const [ca, cb] = sharing.costs(cands, turn);
    expect(ca).toMatchObject({ overlap: 19, activeOverlap: 8, logit: 2 + STEP_BLOCKS });
    expect(cb).toMatchObject({ overlap: 8, activeOverlap: 0, logit: 13 });
    expect(sharing.select(cands, turn)).toMatchObject({ instance: A });
    // Nothing of the prompt in use on A: a prefix merely held there does not count (it spreads).
    expect(busyWith(keys(24, 3)).select(cands, turn)).toMatchObject({ instance: B });
    // A's running request holds the whole prefix (a popular one, in use): it does not count either.
    expect(busyWith(chat.slice(0, 19)).select(cands, turn)).toMatchObject({ instance: B });
    // A has a prefill pending, even one the queue model thinks done by now: chats that finished in the
    // same step would all go back to A together, so its overlap does not count.
    let now = 0;
    const pending = time(
      () => 0,
      () => now,
    );
    pending.add('r0', A, { isl: 11 * BS, seqKeys: [...system, ...keys(23, 3)] }, 0);
    now = 10;
    pending.prefillDone('r0'); // A decodes r0; the rate is learned
    pending.add('r1', A, { isl: 10 * BS, seqKeys: [...system, ...keys(25, 2)] }, 8);
    now = 1_000; // far past r1's predicted prefill: no wait left in the model, r1 still pending
    const [pa, pb] = pending.costs(cands, turn);
    expect(pa).toMatchObject({ overlap: 19, activeOverlap: 8, pendingPrefills: 1, logit: 2 + STEP_BLOCKS });
    expect(pb?.logit).toBe(13);
    expect(pending.select(cands, turn)).toMatchObject({ instance: B });
  });
});
