// Numbers a worker's KV events (eventId rising by one, from 0) and publishes them on the event plane;
// answers kv_dump with the state that matches the last number. A router that sees a gap, or meets the
// worker for the first time, asks for the dump and drops buffered events at or below its lastEventId.
//
// Consistency: the engine emits events and builds its dump synchronously on the one JS thread, so
// `lastEventId` read next to `dumpKvState()` describes exactly the state dumped.
import type { InstanceId, KvDump, KvEventData } from '../api/index.js';
import type { Engine } from '../engines/engine.js';
import { type ComponentScope, type EventPlane, KV_EVENTS } from '../runtime/index.js';

/** Blocks per kv_dump frame: keeps a frame of a large cache well below the payload limit (NATS: 1 MiB). */
export const KV_DUMP_BLOCKS_PER_FRAME = 4096;

export class KvEventPublisher {
  #next = 0;
  readonly #unsubscribe: () => void;

  constructor(
    private readonly workerId: InstanceId,
    private readonly engine: Engine,
    eventPlane: EventPlane,
    scope: ComponentScope,
  ) {
    this.#unsubscribe = engine.onKvEvent((data: KvEventData) => {
      eventPlane.publish(KV_EVENTS, scope, { workerId, eventId: this.#next++, data });
    });
  }

  /** The eventId of the last event published; -1 before the first. */
  get lastEventId(): number {
    return this.#next - 1;
  }

  /**
   * The whole cache state as kv_dump frames: one or more KvDump with the same workerId and lastEventId,
   * whose `events` concatenated (in order, parents first) rebuild the state.
   */
  dumpFrames(): KvDump[] {
    const lastEventId = this.lastEventId;
    const frames: KvDump[] = [];
    let slice: KvEventData[] = [];
    let room = KV_DUMP_BLOCKS_PER_FRAME;
    const flush = () => {
      frames.push({ workerId: this.workerId, lastEventId, events: slice });
      slice = [];
      room = KV_DUMP_BLOCKS_PER_FRAME;
    };
    for (const event of this.engine.dumpKvState()) {
      if (event === 'cleared' || !('stored' in event)) continue; // a dump holds stored events only
      // A long chain is cut into pieces, each chained onto the last block of the one before.
      let { parentHash } = event.stored;
      const { blocks } = event.stored;
      for (let at = 0; at < blocks.length; ) {
        if (room === 0) flush();
        const piece = blocks.slice(at, at + room);
        slice.push({ stored: { parentHash, blocks: piece } });
        room -= piece.length;
        at += piece.length;
        parentHash = piece[piece.length - 1]?.blockHash ?? parentHash;
      }
    }
    if (slice.length > 0 || frames.length === 0) flush();
    return frames;
  }

  close(): void {
    this.#unsubscribe();
  }
}
