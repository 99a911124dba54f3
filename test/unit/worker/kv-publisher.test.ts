import { describe, expect, it } from 'vitest';
import type { KvEvent, KvEventData } from '../../../src/api/index.js';
import { instanceIdSchema } from '../../../src/api/index.js';
import { BlockManager } from '../../../src/engines/block-manager.js';
import type { Engine } from '../../../src/engines/engine.js';
import { createRuntime, KV_EVENTS } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { KV_DUMP_BLOCKS_PER_FRAME, KvEventPublisher } from '../../../src/worker/kv-publisher.js';

const hex = (n: number) => n.toString(16).padStart(16, '0');
const workerId = instanceIdSchema.parse('00000000000000aa');
const scope = { namespace: 'test', component: 'backend' };

/** A block manager behind the two Engine members the publisher uses. */
function engineOver(bm: BlockManager, listeners: ((e: KvEventData) => void)[]): Engine {
  return {
    onKvEvent: (l: (e: KvEventData) => void) => {
      listeners.push(l);
      return () => listeners.splice(listeners.indexOf(l), 1);
    },
    dumpKvState: () => bm.dump(),
  } as Partial<Engine> as Engine;
}

describe('KvEventPublisher', () => {
  it('numbers events from 0 and splits a large dump into chained frames of bounded size', async () => {
    const runtime = await createRuntime({ log: createLogger({ level: 'silent' }) });
    const published: KvEvent[] = [];
    await runtime.eventPlane.subscribe(KV_EVENTS, scope, (e) => published.push(e));
    const listeners: ((e: KvEventData) => void)[] = [];
    const bm = new BlockManager({
      totalBlocks: 20_000,
      blockSize: 1,
      onEvent: (e) => {
        for (const l of listeners) l(e);
      },
    });
    const publisher = new KvEventPublisher(workerId, engineOver(bm, listeners), runtime.eventPlane, scope);
    expect(publisher.lastEventId).toBe(-1);
    // One chain of 10,000 blocks and a branch of 5 off its block 99.
    const n = 10_000;
    const chain = {
      local: Array.from({ length: n }, (_, i) => hex(i)),
      sequence: Array.from({ length: n }, (_, i) => hex(i + 1)),
    };
    bm.allocate('a', n, chain);
    const branch = {
      local: [...chain.local.slice(0, 100), ...Array.from({ length: 5 }, (_, i) => hex(50_000 + i))],
      sequence: [...chain.sequence.slice(0, 100), ...Array.from({ length: 5 }, (_, i) => hex(60_000 + i))],
    };
    bm.allocate('b', 105, branch);
    await new Promise((r) => setImmediate(r));
    expect(published.map((e) => e.eventId)).toEqual([0, 1]);
    expect(publisher.lastEventId).toBe(1);

    const frames = publisher.dumpFrames();
    expect(frames.length).toBe(Math.ceil((n + 5) / KV_DUMP_BLOCKS_PER_FRAME));
    const known = new Set<string>();
    for (const frame of frames) {
      expect(frame).toMatchObject({ workerId, lastEventId: 1 });
      let blocks = 0;
      for (const e of frame.events) {
        if (e === 'cleared' || !('stored' in e)) throw new Error('a dump holds stored events only');
        if (e.stored.parentHash !== null) expect(known.has(e.stored.parentHash)).toBe(true);
        for (const b of e.stored.blocks) known.add(b.blockHash);
        blocks += e.stored.blocks.length;
      }
      expect(blocks).toBeLessThanOrEqual(KV_DUMP_BLOCKS_PER_FRAME);
    }
    expect(known).toEqual(bm.cachedHashes());
    publisher.close();
    await runtime.close();
  });
});
