// The router's model of each worker's prefill queue (the 'time' cost): a batch in flight, the
// requests queued behind it, and the ms-per-token-equivalent rate learned from finished batches.
import { describe, expect, it } from 'vitest';
import type { InstanceId } from '../../../src/api/index.js';
import { PrefillQueues } from '../../../src/router/prefill-queue.js';

const A = '000000000000000a' as InstanceId;
const B = '000000000000000b' as InstanceId;
const STEP = 100;

function queues() {
  const clock = { now: 0 };
  return { clock, q: new PrefillQueues(STEP, () => clock.now) };
}

describe('PrefillQueues', () => {
  it('starts a batch on an idle worker and queues the next requests behind it', () => {
    const { q } = queues();
    expect(q.wait(A)).toBe(0);
    q.add('r0', A, 100);
    // No rate learned yet: the whole batch in flight is ahead (its step and its tokens).
    expect(q.wait(A)).toBe(STEP + 100);
    q.add('r1', A, 50);
    q.add('r2', A, 30);
    expect(q.wait(A)).toBe(STEP + 100 + 80);
    expect(q.wait(B)).toBe(0);
  });

  it('learns the rate from a finished batch and counts down the next one on the clock', () => {
    const { clock, q } = queues();
    q.add('r0', A, 100);
    clock.now = 5;
    q.add('r1', A, 50);
    clock.now = 20;
    q.prefilled('r0'); // 20 ms for 100 + 100 → 0.1 ms per token-equivalent; r1 is in flight now
    expect(q.wait(A)).toBeCloseTo(STEP + 50);
    clock.now = 30; // 100 of its 150 done
    expect(q.wait(A)).toBeCloseTo(50);
    clock.now = 60; // late: nothing left to wait for, though its first token has not come yet
    expect(q.wait(A)).toBe(0);
    q.prefilled('r1');
    expect(q.wait(A)).toBe(0);
    // r1's batch (40 ms for 150) moved the rate a fifth of the way; it holds for every worker.
    const rate = 0.1 + 0.2 * (40 / 150 - 0.1);
    q.add('r2', B, 100);
    clock.now = 70;
    expect(q.wait(B)).toBeCloseTo(STEP + 100 - 10 / rate);
  });

  it('ends a batch at the first token of any of its requests, once', () => {
    const { clock, q } = queues();
    q.add('r0', A, 100);
    q.add('r1', A, 10);
    q.add('r2', A, 20);
    clock.now = 20;
    q.prefilled('r0');
    q.add('r3', A, 40); // queued behind r1 + r2
    clock.now = 30;
    q.prefilled('r1'); // r1 and r2 were one batch: r3 starts now
    q.prefilled('r2'); // changes nothing
    expect(q.wait(A)).toBeCloseTo(STEP + 40);
  });

  it('takes a queued request served first as the end of the batch in flight', () => {
    const { q } = queues();
    q.add('r0', A, 100);
    q.add('r1', A, 10);
    q.prefilled('r1');
    expect(q.wait(A)).toBe(0);
    q.prefilled('r0');
    expect(q.wait(A)).toBe(0);
  });

  it('forgets requests that end without a first token, and workers that leave', () => {
    const { q } = queues();
    q.add('r0', A, 100);
    q.add('r1', A, 10);
    q.remove('r1');
    expect(q.wait(A)).toBe(STEP + 100);
    q.add('r2', A, 30);
    q.remove('r0'); // the batch in flight is empty: the queued one starts
    expect(q.wait(A)).toBe(STEP + 30);
    q.remove('r2');
    expect(q.wait(A)).toBe(0);
    q.add('r3', B, 10);
    q.removeWorker(B);
    expect(q.wait(B)).toBe(0);
    q.prefilled('r3');
    q.remove('r3');
    expect(q.wait(B)).toBe(0);
  });
});
