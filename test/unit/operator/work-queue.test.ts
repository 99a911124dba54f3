import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../../src/operator/work-queue.js';

describe('WorkQueue', () => {
  it('queues a key once however often it is added', async () => {
    const q = new WorkQueue<string>();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.depth).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('never hands a key being processed to a second worker, and requeues it when done if it changed', async () => {
    const q = new WorkQueue<string>();
    q.add('a');
    const key = await q.get();
    q.add('a'); // an event while processing
    expect(q.depth).toBe(0);
    q.done(key ?? '');
    expect(q.depth).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('backs off exponentially per key and forgets on success', () => {
    const q = new WorkQueue<string>({ baseDelayMs: 10, maxDelayMs: 50 });
    expect([
      q.addRateLimited('a'),
      q.addRateLimited('a'),
      q.addRateLimited('a'),
      q.addRateLimited('a'),
    ]).toEqual([10, 20, 40, 50]);
    expect(q.retries('a')).toBe(4);
    q.forget('a');
    expect(q.retries('a')).toBe(0);
    expect(q.addRateLimited('a')).toBe(10);
    q.shutDown();
  });

  it('delivers a delayed key, the earlier of two delays winning', async () => {
    const q = new WorkQueue<string>();
    q.addAfter('a', 60_000);
    q.addAfter('a', 5);
    expect(await q.get()).toBe('a');
    q.shutDown();
  });

  it('wakes a waiting worker on add and releases waiters on shutdown', async () => {
    const q = new WorkQueue<string>();
    const waiting = q.get();
    q.add('x');
    expect(await waiting).toBe('x');
    const idle = q.get();
    q.shutDown();
    expect(await idle).toBeUndefined();
  });
});
