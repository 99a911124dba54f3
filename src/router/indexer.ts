// The KV indexer: which worker caches which blocks (DESIGN §6). Pure — no I/O, no clock.
//
// A radix tree of blocks keyed by the local hashes along the path from the root. A path is named by
// its last block's sequence hash (DESIGN §6 chains the local hashes along the path into it), so the
// tree is stored flat: one open-addressing table from sequence hash (the node's *key*) to the node's
// record — its parent's and its own local hash (checked on every step, so a walk follows exactly one
// path) and the set of workers caching it, as a bitset over worker slots.
//
//   request: l0 l1 l2 …  (local)   s0 s1 s2 …  (sequence, computed by the router from the tokens)
//   table:   s0 → {parent: root, local: l0, workers: {w0, w3}}
//            s1 → {parent: s0,   local: l1, workers: {w3}}      overlap: w0 = 1, w3 = 2
//
// Engine block ids are opaque. A stored event names each block by the engine's own id (`blockHash`)
// and its local hash (`tokensHash`), under a parent named by engine id: the indexer resolves the
// parent's id to its key and computes each block's key from its parent's key and its local hash
// (sequence-hash.ts). Removals name engine ids only. One more table, for all workers, resolves them:
//   ids  (worker slot, engine id) → [children, has parent, parent's engine id, key]
// Our own workers name blocks by sequence hash (id = key); vLLM, SGLang and TensorRT-LLM by ids of
// their own. Several ids of a worker may name one key (an engine caching the same content twice): the
// worker leaves the node when the last one goes (`dupes` counts the extra ones).
//
// Why flat: one table probe (one cache line) per block, and probes of different depths do not depend
// on each other; a tree of pointers keyed by (parent node, local hash) serializes them and needs a
// second memory access per node. A node no worker holds is deleted at once.
//
// Why a walk can skip ahead: a worker's blocks form a prefix-closed set — a stored block's parent is
// held (or the event is refused), and removing a block with children held is rare (engines evict
// leaves first). On a request's path, the set of workers holding depth d then only shrinks as d
// grows, so the next depth where an active worker drops out is found by galloping and bisection:
// O(log n) probes per distinct overlap instead of one per block. A worker whose set is not closed
// (a block removed under its children, a parent that vanished) is *holey* until its part is cleared
// or empties: a walk that includes it goes block by block, which is exact either way.
//
// Consistency: events carry an eventId rising by one per worker. The indexer tracks the last id per
// worker; an event from an unknown worker, a gap, or a stored event whose parent the worker does not
// hold puts the worker into resync: its later events are buffered and the caller fetches a dump
// (`applyDump`), which rebuilds the worker's part and replays the buffered events past the dump.
// Input that is wrong rather than late (see IndexAnomaly) is counted and handled without harm.
import type { InstanceId, KvDump, KvEvent, KvEventData, StoredBlock } from '../api/index.js';
import { hexHi, hexLo, type RequestHashes } from './block-hashes.js';
import { BITS, BlockTable, LOCAL_LO, PARENT_LO } from './block-table.js';
import { WorkerKeyTable } from './hash-tables.js';
import { sequenceHashStep } from './sequence-hash.js';

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

/**
 * Events that contradict what the worker told before, each counted (index health) and handled:
 *   unknown_parent      a stored event under a parent id the worker does not hold: its blocks cannot
 *                       be placed (skipped; a live event also starts a resync)
 *   unknown_removal     a removed id the worker does not hold: ignored
 *   duplicate_store     a stored id the worker holds already, same content: nothing changes
 *   inconsistent_store  a stored id the worker holds for other content (another parent or other
 *                       tokens: the chain forks inconsistently): the new word wins, the old block goes
 */
export const INDEX_ANOMALIES = [
  'unknown_parent',
  'unknown_removal',
  'duplicate_store',
  'inconsistent_store',
] as const;
export type IndexAnomaly = (typeof INDEX_ANOMALIES)[number];

/** parentLo of a block stored at the root (a real parent hash's low half is 0 with probability 2^-32). */
const ROOT = 0;
/**
 * Blocks whose table slots are loaded ahead of a block-by-block walk: JS has no prefetch instruction,
 * but reading the home slots of the next blocks together lets their cache misses overlap.
 */
const PREFETCH = 32;
/** Buffered events per worker while its dump is in flight; past this, the oldest are dropped (the dump covers them). */
const MAX_BUFFERED = 100_000;

// A record of `ids`, at offsets from its slot: [idLo, idHi, worker slot, flags, parent's id, key].
// flags = children << 2 | HAS_PARENT | 1 (never 0: WorkerKeyTable's mark of a used slot).
const FLAGS = 3;
const PARENT_ID_LO = 4;
const PARENT_ID_HI = 5;
const KEY_LO = 6;
const KEY_HI = 7;
const USED = 1;
const HAS_PARENT = 2;
const CHILD = 4;

interface WorkerState {
  readonly id: InstanceId;
  readonly slot: number;
  /** Engine ids bound (records in `ids`). */
  bound: number;
  /** Distinct keys held. */
  held: number;
  lastEventId: number;
  /** Non-null while the worker awaits a dump: its events since. */
  pending: KvEvent[] | null;
}

export interface IndexerStats {
  nodes: number;
  workers: number;
  /** (worker, block) pairs indexed. */
  blocks: number;
  /** Removed events naming a block the worker does not hold (counted, then ignored). */
  unknownRemovals: number;
  anomalies: Record<IndexAnomaly, number>;
}

export class KvIndexer {
  private readonly table: BlockTable;
  /** (worker slot, engine block id) → [flags, parent's engine id, key]. */
  private readonly ids: WorkerKeyTable;
  /** (worker slot, key) → how many more ids name it (an engine caching the same content twice); rare. */
  private dupes: WorkerKeyTable | null = null;
  private readonly workers = new Map<InstanceId, WorkerState>();
  private slotWorkers: (InstanceId | undefined)[] = [];
  /** Worker id → slot; replaced (never mutated) when workers come and go, so answers can keep it. */
  private slotIndex: ReadonlyMap<InstanceId, number> = new Map();
  private readonly freeSlots: number[] = [];
  /** Scratch bitset for findMatches (length = words). */
  private active = new Int32Array(2);
  /** Worker slots whose blocks are not prefix-closed: walks that include them go block by block. */
  private holey = new Int32Array(2);
  private readonly anomalies: Record<IndexAnomaly, number> = {
    unknown_parent: 0,
    unknown_removal: 0,
    duplicate_store: 0,
    inconsistent_store: 0,
  };
  /** Scratch for a computed key (lo, hi). */
  private readonly key = new Int32Array(2);
  /** Scratch for a stored event: its blocks' engine ids and keys (pairs), and local hashes' low halves. */
  private idScratch = new Uint32Array(512);
  private keys = new Uint32Array(512);
  private locals = new Int32Array(256);

  /** `onAnomaly` hears each IndexAnomaly (the router counts them per worker). */
  constructor(
    expectedBlocks = 1024,
    private readonly onAnomaly?: (worker: InstanceId, kind: IndexAnomaly) => void,
  ) {
    this.table = new BlockTable(expectedBlocks, 2);
    this.ids = new WorkerKeyTable(5, expectedBlocks);
  }

  // ---- queries ---------------------------------------------------------------------------------

  /**
   * For each worker, how many leading blocks of the request it caches. Walks the request's path from
   * the root with the set of workers still matching; while none of them is holey it jumps to the next
   * depth where one drops out (gallop, then bisect), else it goes block by block.
   */
  findMatches(hashes: RequestHashes): MatchScores {
    const depths = new Int32Array(this.slotWorkers.length);
    const { local, sequence } = hashes;
    const n = Math.min(local.length, sequence.length) >>> 1;
    const table = this.table;
    const words = table.words;
    const active = this.active;
    let at = n === 0 ? -1 : this.node(local, sequence, 0);
    if (at < 0) return new MatchScores(this.slotIndex, depths, 0);
    let any = 0;
    let holey = 0;
    for (let k = 0; k < words; k++) {
      const b = table.slots[at + BITS + k] as number;
      active[k] = b;
      any |= b;
      holey |= b & (this.holey[k] as number);
    }
    if (any === 0) return new MatchScores(this.slotIndex, depths, 0);
    // Every active worker holds blocks [0, depth).
    let depth = 1;
    let found = 0;
    while (depth < n) {
      if (holey !== 0) return this.walk(depths, found, hashes, depth, n);
      const miss = this.gallop(local, sequence, depth - 1, n);
      if (miss === n) {
        depth = n;
        break;
      }
      at = this.node(local, sequence, miss);
      const s = table.slots;
      any = 0;
      for (let k = 0; k < words; k++) {
        const a = active[k] as number;
        const b = at < 0 ? 0 : a & (s[at + BITS + k] as number);
        if (a !== b) found += this.record(depths, k, a & ~b, miss);
        active[k] = b;
        any |= b;
      }
      if (any === 0) return new MatchScores(this.slotIndex, depths, found);
      depth = miss + 1;
    }
    for (let k = 0; k < words; k++) {
      const a = active[k] as number;
      if (a !== 0) found += this.record(depths, k, a, depth);
    }
    return new MatchScores(this.slotIndex, depths, found);
  }

  /** The offset of depth d's node on the request's path, or -1. */
  private node(local: Uint32Array, sequence: Uint32Array, d: number): number {
    const at = this.table.find((sequence[2 * d] as number) | 0, (sequence[2 * d + 1] as number) | 0);
    if (at < 0) return -1;
    const s = this.table.slots;
    const parentLo = d === 0 ? ROOT : (sequence[2 * d - 2] as number) | 0;
    return s[at + PARENT_LO] === parentLo && s[at + LOCAL_LO] === ((local[2 * d] as number) | 0) ? at : -1;
  }

  /** Whether every active worker holds depth d of the path. */
  private holdsAll(local: Uint32Array, sequence: Uint32Array, d: number): boolean {
    const at = this.node(local, sequence, d);
    if (at < 0) return false;
    const s = this.table.slots;
    for (let k = 0; k < this.table.words; k++) {
      if (((this.active[k] as number) & ~(s[at + BITS + k] as number)) !== 0) return false;
    }
    return true;
  }

  /**
   * The first depth in (known, n) some active worker lacks, or n; every active worker holds `known`
   * and none is holey (membership only shrinks along the path).
   */
  private gallop(local: Uint32Array, sequence: Uint32Array, known: number, n: number): number {
    // The gallop's probes do not depend on each other's results: load them together.
    this.table.prefetchGallop(sequence, known, n);
    let lo = known;
    let hi = n;
    for (let step = 1; lo + step < n; step *= 2) {
      if (!this.holdsAll(local, sequence, lo + step)) {
        hi = lo + step;
        break;
      }
      lo += step;
    }
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (this.holdsAll(local, sequence, mid)) lo = mid;
      else hi = mid;
    }
    return hi;
  }

  /** Block by block from `from` (a holey worker is active): exact for any set of blocks. */
  private walk(
    depths: Int32Array,
    found: number,
    hashes: RequestHashes,
    from: number,
    n: number,
  ): MatchScores {
    const { local, sequence } = hashes;
    const table = this.table;
    const words = table.words;
    const active = this.active;
    let total = found;
    let depth = from;
    let touched = from;
    for (; depth < n; depth++) {
      if (depth === touched) touched = table.prefetch(sequence, depth, Math.min(n, depth + PREFETCH));
      const at = this.node(local, sequence, depth);
      const s = table.slots;
      let any = 0;
      for (let k = 0; k < words; k++) {
        const a = active[k] as number;
        const b = at < 0 ? 0 : a & (s[at + BITS + k] as number);
        if (a !== b) total += this.record(depths, k, a & ~b, depth);
        active[k] = b;
        any |= b;
      }
      if (any === 0) return new MatchScores(this.slotIndex, depths, total);
    }
    for (let k = 0; k < words; k++) {
      const a = active[k] as number;
      if (a !== 0) total += this.record(depths, k, a, depth);
    }
    return new MatchScores(this.slotIndex, depths, total);
  }

  /** Blocks the worker caches (the scheduler's tie-break: fewer cached blocks wins). */
  blockCount(worker: InstanceId): number {
    return this.workers.get(worker)?.held ?? 0;
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
    for (const w of this.workers.values()) blocks += w.held;
    return {
      nodes: this.table.size,
      workers: this.workers.size,
      blocks,
      unknownRemovals: this.anomalies.unknown_removal,
      anomalies: { ...this.anomalies },
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
   * A dumped chain under a parent the worker no longer holds is skipped (counted): no walk reaches it.
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

  /** Records that the worker caches the chain of blocks (from the root), named by sequence hash. */
  storeChain(worker: InstanceId, hashes: RequestHashes, count: number): void {
    const { local, sequence } = hashes;
    const w = this.workers.get(worker) ?? this.addWorker(worker);
    for (let i = 0; i < count; i++) {
      const lo = (sequence[2 * i] as number) | 0;
      const hi = (sequence[2 * i + 1] as number) | 0;
      const pLo = i === 0 ? 0 : (sequence[2 * i - 2] as number) | 0;
      const pHi = i === 0 ? 0 : (sequence[2 * i - 1] as number) | 0;
      this.bind(w, lo, hi, lo, hi, i > 0, pLo, pHi, pLo, pHi, (local[2 * i] as number) | 0, false);
    }
  }

  /** Removes one block (by sequence hash halves) from the worker; returns whether it was there. */
  removeBlock(worker: InstanceId, seqLo: number, seqHi: number): boolean {
    const w = this.workers.get(worker);
    return w !== undefined && this.unbind(w, seqLo | 0, seqHi | 0);
  }

  // ---- internals -------------------------------------------------------------------------------

  /** Applies one cache change; false when a stored event's parent is unknown (out of sync). */
  private applyData(w: WorkerState, data: KvEventData): boolean {
    if (data === 'cleared') {
      this.clearWorker(w);
      return true;
    }
    if ('stored' in data) return this.applyStored(w, data.stored.parentHash, data.stored.blocks);
    for (const h of data.removed.blockHashes) {
      if (!this.unbind(w, hexLo(h), hexHi(h))) this.anomaly(w, 'unknown_removal');
    }
    return true;
  }

  private applyStored(w: WorkerState, parentHash: string | null, blocks: readonly StoredBlock[]): boolean {
    const table = this.ids;
    let parentIdLo = 0;
    let parentIdHi = 0;
    let parentLo = 0;
    let parentHi = 0;
    if (parentHash !== null) {
      parentIdLo = hexLo(parentHash);
      parentIdHi = hexHi(parentHash);
      const at = table.find(w.slot, parentIdLo, parentIdHi);
      if (at < 0) {
        this.anomaly(w, 'unknown_parent');
        return false;
      }
      parentLo = table.slots[at + KEY_LO] as number;
      parentHi = table.slots[at + KEY_HI] as number;
    }
    // First the keys (a chain: each from the one before), then the table writes, whose cache misses
    // overlap once their slots are loaded together.
    const n = blocks.length;
    if (this.locals.length < n) {
      this.idScratch = new Uint32Array(2 * n);
      this.keys = new Uint32Array(2 * n);
      this.locals = new Int32Array(n);
    }
    const { idScratch: ids, keys, locals, key } = this;
    let lo = parentLo;
    let hi = parentHi;
    for (let i = 0; i < n; i++) {
      const b = blocks[i] as StoredBlock;
      const localLo = hexLo(b.tokensHash);
      const localHi = hexHi(b.tokensHash);
      if (i > 0 || parentHash !== null) {
        sequenceHashStep(lo, hi, localLo, localHi, key);
        lo = key[0] as number;
        hi = key[1] as number;
      } else {
        lo = localLo;
        hi = localHi;
      }
      keys[2 * i] = lo;
      keys[2 * i + 1] = hi;
      ids[2 * i] = hexLo(b.blockHash);
      ids[2 * i + 1] = hexHi(b.blockHash);
      locals[i] = localLo;
    }
    this.table.prefetch(keys, 0, n);
    table.prefetch(w.slot, ids, 0, n);
    let hasParent = parentHash !== null;
    for (let i = 0; i < n; i++) {
      const idLo = (ids[2 * i] as number) | 0;
      const idHi = (ids[2 * i + 1] as number) | 0;
      const keyLo = (keys[2 * i] as number) | 0;
      const keyHi = (keys[2 * i + 1] as number) | 0;
      const localLo = locals[i] as number;
      this.bind(
        w,
        idLo,
        idHi,
        keyLo,
        keyHi,
        hasParent,
        parentIdLo,
        parentIdHi,
        parentLo,
        parentHi,
        localLo,
        true,
      );
      hasParent = true;
      parentIdLo = idLo;
      parentIdHi = idHi;
      parentLo = keyLo;
      parentHi = keyHi;
    }
    return true;
  }

  /**
   * Binds the worker's engine id to a key (a stored block under the parent named by its engine id and
   * key). `report`: count a duplicate (approximate mode re-stores on purpose).
   */
  private bind(
    w: WorkerState,
    idLo: number,
    idHi: number,
    keyLo: number,
    keyHi: number,
    hasParent: boolean,
    parentIdLo: number,
    parentIdHi: number,
    parentLo: number,
    parentHi: number,
    localLo: number,
    report: boolean,
  ): void {
    const ids = this.ids;
    const flags = USED | (hasParent ? HAS_PARENT : 0);
    let at = ids.upsert(w.slot, idLo, idHi, flags);
    if (!ids.created) {
      if (ids.slots[at + KEY_LO] === keyLo && ids.slots[at + KEY_HI] === keyHi) {
        if (report) this.anomaly(w, 'duplicate_store');
        return;
      }
      // The id named other content: the engine's latest word wins.
      this.anomaly(w, 'inconsistent_store');
      this.drop(w, at, idLo, idHi);
      at = ids.upsert(w.slot, idLo, idHi, flags);
    }
    w.bound++;
    const s = ids.slots;
    s[at + PARENT_ID_LO] = parentIdLo;
    s[at + PARENT_ID_HI] = parentIdHi;
    s[at + KEY_LO] = keyLo;
    s[at + KEY_HI] = keyHi;
    if (hasParent) {
      const p = ids.find(w.slot, parentIdLo, parentIdHi);
      if (p >= 0 && s[p + KEY_LO] === parentLo && s[p + KEY_HI] === parentHi)
        s[p + FLAGS] = (s[p + FLAGS] as number) + CHILD;
      // Its parent went (an id rebound earlier in the chain): the worker's set is no longer closed.
      else this.setHoley(w, true);
    }
    if (this.table.add(keyLo, keyHi, hasParent ? parentLo : ROOT, localLo, w.slot)) w.held++;
    else {
      // The worker holds this content under another id already.
      this.dupes ??= new WorkerKeyTable(1);
      const d = this.dupes.upsert(w.slot, keyLo, keyHi, 1);
      if (!this.dupes.created) this.dupes.slots[d + 3] = (this.dupes.slots[d + 3] as number) + 1;
    }
  }

  /** Drops the worker's binding of an engine id; false when it holds no such id. */
  private unbind(w: WorkerState, idLo: number, idHi: number): boolean {
    const at = this.ids.find(w.slot, idLo, idHi);
    if (at < 0) return false;
    this.drop(w, at, idLo, idHi);
    return true;
  }

  /** Drops the binding at `at` of `ids`; the key's last id takes the worker off its node. */
  private drop(w: WorkerState, at: number, idLo: number, idHi: number): void {
    const ids = this.ids;
    const s = ids.slots;
    const flags = s[at + FLAGS] as number;
    const keyLo = s[at + KEY_LO] as number;
    const keyHi = s[at + KEY_HI] as number;
    // Children left behind are unreachable for this worker: its set has a hole.
    if (flags >= CHILD) this.setHoley(w, true);
    if ((flags & HAS_PARENT) !== 0) {
      const p = ids.find(w.slot, s[at + PARENT_ID_LO] as number, s[at + PARENT_ID_HI] as number);
      if (p >= 0 && (s[p + FLAGS] as number) >= CHILD) s[p + FLAGS] = (s[p + FLAGS] as number) - CHILD;
    }
    ids.remove(w.slot, idLo, idHi);
    w.bound--;
    const dupes = this.dupes;
    const d = dupes === null || dupes.size === 0 ? -1 : dupes.find(w.slot, keyLo, keyHi);
    if (dupes !== null && d >= 0) {
      const more = (dupes.slots[d + 3] as number) - 1;
      if (more === 0) dupes.remove(w.slot, keyLo, keyHi);
      else dupes.slots[d + 3] = more;
    } else {
      this.table.remove(keyLo, keyHi, w.slot);
      w.held--;
    }
    if (w.bound === 0) this.setHoley(w, false);
  }

  private clearWorker(w: WorkerState): void {
    if (w.bound > 0) {
      const s = this.ids.slots;
      this.ids.removeWorker(w.slot, (at) => {
        this.table.remove(s[at + KEY_LO] as number, s[at + KEY_HI] as number, w.slot);
      });
      this.dupes?.removeWorker(w.slot, () => {});
    }
    w.bound = 0;
    w.held = 0;
    this.setHoley(w, false);
  }

  private setHoley(w: WorkerState, on: boolean): void {
    const k = w.slot >>> 5;
    const bit = 1 << (w.slot & 31);
    this.holey[k] = on ? (this.holey[k] as number) | bit : (this.holey[k] as number) & ~bit;
  }

  private anomaly(w: WorkerState, kind: IndexAnomaly): void {
    this.anomalies[kind]++;
    this.onAnomaly?.(w.id, kind);
  }

  private addWorker(id: InstanceId): WorkerState {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.slotWorkers.length;
      this.slotWorkers.push(undefined);
      if (slot >= this.table.words * 32) {
        this.table.setWords(this.table.words * 2);
        this.active = new Int32Array(this.table.words);
        const holey = new Int32Array(this.table.words);
        holey.set(this.holey);
        this.holey = holey;
      }
    }
    this.slotWorkers[slot] = id;
    this.slotIndex = new Map(this.slotIndex).set(id, slot);
    const w: WorkerState = {
      id,
      slot,
      bound: 0,
      held: 0,
      lastEventId: -1,
      pending: null,
    };
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
