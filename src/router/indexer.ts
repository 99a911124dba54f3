// The KV indexer: which worker caches which blocks (DESIGN §6). Pure — no I/O, no clock.
//
// A radix tree of blocks keyed by the local hashes along the path from the root. A path is named by
// its last block's sequence hash (DESIGN §6 chains the local hashes along the path into it), so the
// tree is stored flat: one open-addressing table from sequence hash to the node's record — its parent's
// and its own local hash (checked on every step, so a walk follows exactly one path) and the set of
// workers caching it, as a bitset over worker slots. Each worker also keeps the set of sequence hashes
// it holds, because its events name blocks (and parents) by sequence hash.
//
//   request: l0 l1 l2 …  (local)   s0 s1 s2 …  (sequence)
//   table:   s0 → {parent: root, local: l0, workers: {w0, w3}}
//            s1 → {parent: s0,   local: l1, workers: {w3}}      overlap: w0 = 1, w3 = 2
//
// Why flat: one table probe (one cache line) per block, and the probes of consecutive blocks do not
// depend on each other, so the CPU overlaps their cache misses; a tree of pointers keyed by (parent
// node, local hash) serializes them and needs a second memory access per node. A node no worker holds
// is deleted at once: its descendants are unreachable anyway, since a walk stops where no worker is.
//
// Consistency: events carry an eventId rising by one per worker. The indexer tracks the last id per
// worker; an event from an unknown worker, a gap, or a stored event whose parent the worker never stored
// puts the worker into resync: its later events are buffered and the caller fetches a dump
// (`applyDump`), which rebuilds the worker's part and replays the buffered events past the dump.
import type { InstanceId, KvDump, KvEvent, KvEventData } from '../api/index.js';
import { hexHi, hexLo, type RequestHashes } from './block-hashes.js';
import { BITS, BlockTable, LOCAL_LO, PARENT_LO } from './block-table.js';
import { PairTable } from './hash-tables.js';

/** Leading blocks of a request cached per worker; workers with no overlap are absent (undefined). */
export interface OverlapScores {
  get(worker: InstanceId): number | undefined;
  /** Workers with an overlap. */
  readonly size: number;
}

/**
 * findMatches' answer: depths by worker slot, and the id → slot map as it was when the query ran (the
 * indexer replaces, never mutates, that map). Filling a fresh Map instead cost a third of a query's
 * time with 64 workers: one insertion (and rehashes) per worker on every request.
 */
export class MatchScores implements OverlapScores {
  constructor(
    private readonly slots: ReadonlyMap<InstanceId, number>,
    private readonly depths: Int32Array,
    readonly size: number,
  ) {}

  get(worker: InstanceId): number | undefined {
    const slot = this.slots.get(worker);
    const depth = slot === undefined ? 0 : (this.depths[slot] ?? 0);
    return depth === 0 ? undefined : depth;
  }

  toMap(): Map<InstanceId, number> {
    const out = new Map<InstanceId, number>();
    for (const [id, slot] of this.slots) {
      const depth = this.depths[slot] ?? 0;
      if (depth > 0) out.set(id, depth);
    }
    return out;
  }
}

/**
 * What applyEvent did. `resync`: the caller must fetch the worker's dump and call applyDump (the
 * indexer buffers the worker's events meanwhile). `buffered`: held until that dump arrives. `stale`:
 * at or below the last applied eventId (a duplicate or a late event), ignored.
 */
export type ApplyResult = 'applied' | 'resync' | 'buffered' | 'stale';

/** parentLo of a block stored at the root (a real parent hash's low half is 0 with probability 2^-32). */
const ROOT = 0;
/**
 * Blocks whose table slots are loaded ahead of the walk: JS has no prefetch instruction, but reading
 * the home slots of the next blocks together lets their cache misses overlap instead of queueing.
 */
const PREFETCH = 32;
/** Buffered events per worker while its dump is in flight; past this, the oldest are dropped (the dump covers them). */
const MAX_BUFFERED = 100_000;

interface WorkerState {
  readonly id: InstanceId;
  readonly slot: number;
  /** The sequence hashes it holds (value 1). */
  readonly blocks: PairTable;
  lastEventId: number;
  /** Non-null while the worker awaits a dump: its events since. */
  pending: KvEvent[] | null;
}

export interface IndexerStats {
  nodes: number;
  workers: number;
  /** (worker, block) pairs indexed. */
  blocks: number;
  /** Removed events naming a block the worker never stored (counted, then ignored). */
  unknownRemovals: number;
}

export class KvIndexer {
  private readonly table: BlockTable;
  private readonly workers = new Map<InstanceId, WorkerState>();
  private slotWorkers: (InstanceId | undefined)[] = [];
  /** Worker id → slot; replaced (never mutated) when workers come and go, so answers can keep it. */
  private slotIndex: ReadonlyMap<InstanceId, number> = new Map();
  private readonly freeSlots: number[] = [];
  /** Scratch bitset for findMatches (length = words). */
  private active = new Int32Array(2);
  private unknownRemovals = 0;

  constructor(expectedBlocks = 1024) {
    this.table = new BlockTable(expectedBlocks, 2);
  }

  // ---- queries ---------------------------------------------------------------------------------

  /**
   * For each worker, how many leading blocks of the request it caches. Walks the request's path from
   * the root intersecting worker sets, and stops early: when no worker remains, or once a single
   * worker remains — its run is then counted in its own (much smaller, cache-resident) set of
   * sequence hashes instead of the shared table.
   */
  findMatches(hashes: RequestHashes): MatchScores {
    const depths = new Int32Array(this.slotWorkers.length);
    const { local, sequence } = hashes;
    const n = Math.min(local.length, sequence.length) >>> 1;
    const table = this.table;
    const words = table.words;
    const active = this.active;
    let parentLo = ROOT;
    let depth = 0;
    let touched = 0;
    let found = 0;
    for (; depth < n; depth++) {
      if (depth === touched) touched = table.prefetch(sequence, depth, Math.min(n, depth + PREFETCH));
      const lo = (sequence[2 * depth] as number) | 0;
      const at = table.find(lo, (sequence[2 * depth + 1] as number) | 0);
      const s = table.slots;
      if (
        at < 0 ||
        s[at + PARENT_LO] !== parentLo ||
        s[at + LOCAL_LO] !== ((local[2 * depth] as number) | 0)
      ) {
        break;
      }
      let count = 0;
      let any = 0;
      for (let k = 0; k < words; k++) {
        const a = depth === 0 ? -1 : (active[k] as number);
        const b = a & (s[at + BITS + k] as number);
        if (depth > 0 && a !== b) found += this.record(depths, k, a & ~b, depth);
        active[k] = b;
        any |= b;
        if (b !== 0) count += (b & (b - 1)) === 0 ? 1 : 2;
      }
      if (any === 0) return new MatchScores(this.slotIndex, depths, found);
      parentLo = lo;
      if (count === 1) return this.finishSingle(depths, found, sequence, depth + 1, n);
    }
    for (let k = 0; depth > 0 && k < words; k++) {
      const a = active[k] as number;
      if (a !== 0) found += this.record(depths, k, a, depth);
    }
    return new MatchScores(this.slotIndex, depths, found);
  }

  /** The one worker left in `active` holds blocks [0, from): extend its run through its own set. */
  private finishSingle(
    depths: Int32Array,
    found: number,
    sequence: Uint32Array,
    from: number,
    n: number,
  ): MatchScores {
    let word = 0;
    while (this.active[word] === 0) word++;
    const bits = this.active[word] as number;
    const slot = (word << 5) + 31 - Math.clz32(bits & -bits);
    const id = this.slotWorkers[slot];
    const w = id === undefined ? undefined : this.workers.get(id);
    if (w === undefined) return new MatchScores(this.slotIndex, depths, found);
    let depth = from;
    let touched = from;
    while (depth < n) {
      if (depth === touched) touched = w.blocks.prefetch(sequence, depth, Math.min(n, depth + PREFETCH));
      if (w.blocks.get((sequence[2 * depth] as number) | 0, (sequence[2 * depth + 1] as number) | 0) === 0)
        break;
      depth++;
    }
    depths[slot] = depth;
    return new MatchScores(this.slotIndex, depths, found + 1);
  }

  /** Blocks the worker caches (the scheduler's tie-break: fewer cached blocks wins). */
  blockCount(worker: InstanceId): number {
    return this.workers.get(worker)?.blocks.size ?? 0;
  }

  hasWorker(worker: InstanceId): boolean {
    return this.workers.has(worker);
  }

  /** True while the worker awaits a dump. */
  isResyncing(worker: InstanceId): boolean {
    return this.workers.get(worker)?.pending != null;
  }

  stats(): IndexerStats {
    let blocks = 0;
    for (const w of this.workers.values()) blocks += w.blocks.size;
    return {
      nodes: this.table.size,
      workers: this.workers.size,
      blocks,
      unknownRemovals: this.unknownRemovals,
    };
  }

  // ---- events ----------------------------------------------------------------------------------

  applyEvent(event: KvEvent): ApplyResult {
    let w = this.workers.get(event.workerId);
    if (w === undefined) {
      // A worker met for the first time: its history before this event is unknown.
      w = this.addWorker(event.workerId);
      w.pending = [event];
      return 'resync';
    }
    if (w.pending !== null) {
      if (w.pending.length >= MAX_BUFFERED) w.pending.shift();
      w.pending.push(event);
      return 'buffered';
    }
    if (event.eventId <= w.lastEventId) return 'stale';
    if (event.eventId !== w.lastEventId + 1 || !this.applyData(w, event.data)) {
      w.pending = [event];
      return 'resync';
    }
    w.lastEventId = event.eventId;
    return 'applied';
  }

  /**
   * Replaces the worker's part of the index by its dump, then replays the events buffered since the
   * resync began that the dump does not include. Returns 'resync' when the replay found another gap.
   */
  applyDump(dump: KvDump): 'applied' | 'resync' {
    const w = this.workers.get(dump.workerId) ?? this.addWorker(dump.workerId);
    this.clearWorker(w);
    for (const data of dump.events) this.applyData(w, data);
    w.lastEventId = dump.lastEventId;
    const pending = (w.pending ?? []).sort((a, b) => a.eventId - b.eventId);
    w.pending = null;
    for (const event of pending) {
      if (this.applyEvent(event) === 'resync') {
        // Keep what followed the gap buffered for the next dump.
        const rest = pending.filter((e) => e.eventId > event.eventId);
        w.pending = [event, ...rest];
        return 'resync';
      }
    }
    return 'applied';
  }

  /**
   * Puts the worker (added if new) into resync: its events are buffered until applyDump. The caller
   * then fetches the dump (a worker met in discovery for the first time).
   */
  beginResync(worker: InstanceId): void {
    const w = this.workers.get(worker) ?? this.addWorker(worker);
    w.pending ??= [];
  }

  /** Forgets a worker entirely (it left discovery). */
  removeWorker(worker: InstanceId): void {
    const w = this.workers.get(worker);
    if (w === undefined) return;
    this.clearWorker(w);
    this.workers.delete(worker);
    this.slotWorkers[w.slot] = undefined;
    this.freeSlots.push(w.slot);
    const slots = new Map(this.slotIndex);
    slots.delete(worker);
    this.slotIndex = slots;
  }

  // ---- direct writes (approximate mode: the router records its own decisions) ------------------

  /** Records that the worker caches the chain of blocks (from the root). */
  storeChain(worker: InstanceId, hashes: RequestHashes, count: number): void {
    const { local, sequence } = hashes;
    const w = this.workers.get(worker) ?? this.addWorker(worker);
    let parentLo = ROOT;
    for (let i = 0; i < count; i++) {
      const lo = (sequence[2 * i] as number) | 0;
      this.storeBlock(w, parentLo, (local[2 * i] as number) | 0, lo, (sequence[2 * i + 1] as number) | 0);
      parentLo = lo;
    }
  }

  /** Removes one block (by sequence hash halves) from the worker; returns whether it was there. */
  removeBlock(worker: InstanceId, seqLo: number, seqHi: number): boolean {
    const w = this.workers.get(worker);
    if (w === undefined || w.blocks.delete(seqLo | 0, seqHi | 0) === 0) return false;
    this.table.remove(seqLo | 0, seqHi | 0, w.slot);
    return true;
  }

  // ---- internals -------------------------------------------------------------------------------

  private applyData(w: WorkerState, data: KvEventData): boolean {
    if (data === 'cleared') {
      this.clearWorker(w);
      return true;
    }
    if ('stored' in data) {
      const { parentHash, blocks } = data.stored;
      let parentLo = ROOT;
      if (parentHash !== null) {
        parentLo = hexLo(parentHash);
        // A parent this worker never stored: out of sync.
        if (w.blocks.get(parentLo, hexHi(parentHash)) === 0) return false;
      }
      for (const b of blocks) {
        const lo = hexLo(b.blockHash);
        this.storeBlock(w, parentLo, hexLo(b.tokensHash), lo, hexHi(b.blockHash));
        parentLo = lo;
      }
      return true;
    }
    for (const h of data.removed.blockHashes) {
      const lo = hexLo(h);
      const hi = hexHi(h);
      if (w.blocks.delete(lo, hi) === 0) this.unknownRemovals++;
      else this.table.remove(lo, hi, w.slot);
    }
    return true;
  }

  private storeBlock(w: WorkerState, parentLo: number, localLo: number, seqLo: number, seqHi: number): void {
    this.table.add(seqLo, seqHi, parentLo, localLo, w.slot);
    w.blocks.set(seqLo, seqHi, 1);
  }

  private clearWorker(w: WorkerState): void {
    w.blocks.forEach((lo, hi) => {
      this.table.remove(lo, hi, w.slot);
    });
    w.blocks.clear();
  }

  private addWorker(id: InstanceId): WorkerState {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.slotWorkers.length;
      this.slotWorkers.push(undefined);
      if (slot >= this.table.words * 32) {
        this.table.setWords(this.table.words * 2);
        this.active = new Int32Array(this.table.words);
      }
    }
    this.slotWorkers[slot] = id;
    this.slotIndex = new Map(this.slotIndex).set(id, slot);
    const w: WorkerState = { id, slot, blocks: new PairTable(), lastEventId: -1, pending: null };
    this.workers.set(id, w);
    return w;
  }

  /** Sets the depth of the workers in `mask` (bit word `word`); returns how many there were. */
  private record(depths: Int32Array, word: number, mask: number, depth: number): number {
    let m = mask;
    let n = 0;
    while (m !== 0) {
      const low = m & -m;
      const slot = (word << 5) + 31 - Math.clz32(low);
      if (this.slotWorkers[slot] !== undefined) {
        depths[slot] = depth;
        n++;
      }
      m ^= low;
    }
    return n;
  }
}
