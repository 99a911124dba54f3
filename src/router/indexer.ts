// The KV indexer: which worker caches which blocks (DESIGN §6). Pure — no I/O, no clock.
//
// A radix tree of blocks: a node is a block at the end of a path of local hashes from the root; each
// node holds the set of workers that cache it as a bitset over worker slots. Each worker also has a
// map from sequence hash to node, because its events name blocks (and parents) by sequence hash.
//
//   root ──l0──▶ n1 {w0,w3} ──l1──▶ n2 {w3} ──l2──▶ ...
//   worker w3: seq(s0)→n1, seq(s1)→n2
//
// Child links are indexed by the child's sequence hash — which is the hash of the local hashes along
// its path (DESIGN §6's chain), so it names exactly one path — and each node keeps its local hash and
// parent, checked on every step. Why: walking a request then costs one lookup per block that does not
// depend on the previous step's result, so the CPU overlaps the cache misses of consecutive levels;
// a (parent node, local hash) key would serialize them (4× slower on a million blocks).
//
// Nodes live in typed arrays (struct of arrays), the links in open-addressing tables over int32
// halves of the hashes: a million blocks cost a few tens of MB and no GC pressure.
//
// Consistency: events carry an eventId rising by one per worker. The indexer tracks the last id per
// worker; an event from an unknown worker, a gap, or a stored event whose parent the worker never stored
// puts the worker into resync: its later events are buffered and the caller fetches a dump
// (`applyDump`), which rebuilds the worker's part and replays the buffered events past the dump.
import type { InstanceId, KvDump, KvEvent, KvEventData } from '../api/index.js';
import { hexHi, hexLo, type RequestHashes } from './block-hashes.js';
import { PairTable } from './hash-tables.js';

/** Leading blocks of a request cached per worker; workers with no overlap are absent. */
export type OverlapScores = Map<InstanceId, number>;

/**
 * What applyEvent did. `resync`: the caller must fetch the worker's dump and call applyDump (the
 * indexer buffers the worker's events meanwhile). `buffered`: held until that dump arrives. `stale`:
 * at or below the last applied eventId (a duplicate or a late event), ignored.
 */
export type ApplyResult = 'applied' | 'resync' | 'buffered' | 'stale';

const ROOT = 0;
/** parent[] of a node on the free list (a node may be offered for freeing more than once). */
const FREED = -1;
/** Buffered events per worker while its dump is in flight; past this, the oldest are dropped (the dump covers them). */
const MAX_BUFFERED = 100_000;

interface WorkerState {
  readonly id: InstanceId;
  readonly slot: number;
  /** sequence hash → node. */
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

// A node's record in `nodes`: one cache line or two per node, so a step of the walk touches the link
// table and the record only.
const PARENT = 0;
const LOCAL_LO = 1;
const LOCAL_HI = 2;
const SEQ_LO = 3;
const SEQ_HI = 4;
const CHILDREN = 5;
/** Then `words` int32 of worker bits: bit s set ⇔ the worker in slot s caches the node. */
const BITS = 6;

export class KvIndexer {
  /** Node records, `stride` int32 each; node 0 is the root. */
  private nodes: Int32Array;
  private words = 2;
  private stride = BITS + 2;
  private capacity: number;
  private nodeCount = 1;
  private readonly freeNodes: number[] = [];
  /** Sequence hash → node: the tree's links (see the header). */
  private readonly links: PairTable;

  private readonly workers = new Map<InstanceId, WorkerState>();
  private slotWorkers: (InstanceId | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  /** Scratch bitset for findMatches (length = words). */
  private active = new Int32Array(2);
  private unknownRemovals = 0;

  constructor(expectedNodes = 1024) {
    this.capacity = Math.max(16, expectedNodes + 1);
    this.nodes = new Int32Array(this.capacity * this.stride);
    this.links = new PairTable(expectedNodes);
  }

  // ---- queries ---------------------------------------------------------------------------------

  /**
   * For each worker, how many leading blocks of the request it caches. Walks the request's path from
   * the root intersecting worker sets; stops when no worker remains, or — with `earlyExit` — once a
   * single worker remains (its score is then a lower bound: the depth reached so far).
   */
  findMatches(hashes: RequestHashes, earlyExit = false): OverlapScores {
    const scores: OverlapScores = new Map();
    const { local, sequence } = hashes;
    const n = Math.min(local.length, sequence.length) >>> 1;
    const words = this.words;
    const stride = this.stride;
    const nodes = this.nodes;
    const active = this.active;
    let parent = ROOT;
    let depth = 0;
    for (; depth < n; depth++) {
      if (earlyExit && depth > 0 && this.singleActive()) break;
      const node = this.links.get(
        (sequence[2 * depth] as number) | 0,
        (sequence[2 * depth + 1] as number) | 0,
      );
      const r = node * stride;
      if (
        node === 0 ||
        nodes[r + PARENT] !== parent ||
        nodes[r + LOCAL_LO] !== ((local[2 * depth] as number) | 0) ||
        nodes[r + LOCAL_HI] !== ((local[2 * depth + 1] as number) | 0)
      ) {
        break;
      }
      if (depth === 0) {
        for (let k = 0; k < words; k++) active[k] = nodes[r + BITS + k] as number;
      } else {
        let any = 0;
        for (let k = 0; k < words; k++) {
          const a = active[k] as number;
          const b = a & (nodes[r + BITS + k] as number);
          if (a !== b) this.record(scores, k, a & ~b, depth);
          active[k] = b;
          any |= b;
        }
        if (any === 0) return scores;
      }
      parent = node;
    }
    if (depth === 0) return scores;
    for (let k = 0; k < words; k++) {
      const a = active[k] as number;
      if (a !== 0) this.record(scores, k, a, depth);
    }
    return scores;
  }

  /** Blocks the worker caches (the scheduler's tie-break: fewer cached blocks wins). */
  blockCount(worker: InstanceId): number {
    return this.workers.get(worker)?.blocks.size ?? 0;
  }

  hasWorker(worker: InstanceId): boolean {
    return this.workers.has(worker);
  }

  workerIds(): InstanceId[] {
    return [...this.workers.keys()];
  }

  /** True while the worker awaits a dump. */
  isResyncing(worker: InstanceId): boolean {
    return this.workers.get(worker)?.pending != null;
  }

  stats(): IndexerStats {
    let blocks = 0;
    for (const w of this.workers.values()) blocks += w.blocks.size;
    return {
      nodes: this.nodeCount - 1 - this.freeNodes.length,
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
  }

  // ---- direct writes (approximate mode: the router records its own decisions) ------------------

  /** Records that the worker caches the chain of blocks (from the root). */
  storeChain(worker: InstanceId, hashes: RequestHashes, count: number): void {
    const { local, sequence } = hashes;
    const w = this.workers.get(worker) ?? this.addWorker(worker);
    let node = ROOT;
    for (let i = 0; i < count; i++) {
      node = this.storeBlock(
        w,
        node,
        (local[2 * i] as number) | 0,
        (local[2 * i + 1] as number) | 0,
        (sequence[2 * i] as number) | 0,
        (sequence[2 * i + 1] as number) | 0,
      );
    }
  }

  /** Removes one block (by sequence hash halves) from the worker; returns whether it was there. */
  removeBlock(worker: InstanceId, seqLo: number, seqHi: number): boolean {
    const w = this.workers.get(worker);
    if (w === undefined) return false;
    const node = w.blocks.delete(seqLo | 0, seqHi | 0);
    if (node === 0) return false;
    this.clearBit(node, w.slot);
    this.tryFree(node);
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
      let node = ROOT;
      if (parentHash !== null) {
        node = w.blocks.get(hexLo(parentHash), hexHi(parentHash));
        if (node === 0) return false; // a parent this worker never stored: out of sync
      }
      for (const b of blocks) {
        node = this.storeBlock(
          w,
          node,
          hexLo(b.tokensHash),
          hexHi(b.tokensHash),
          hexLo(b.blockHash),
          hexHi(b.blockHash),
        );
      }
      return true;
    }
    for (const h of data.removed.blockHashes) {
      const node = w.blocks.delete(hexLo(h), hexHi(h));
      if (node === 0) {
        this.unknownRemovals++;
        continue;
      }
      this.clearBit(node, w.slot);
      this.tryFree(node);
    }
    return true;
  }

  /** Finds or creates parent's child with these hashes, marks the worker on it; returns it. */
  private storeBlock(
    w: WorkerState,
    parent: number,
    localLo: number,
    localHi: number,
    seqLo: number,
    seqHi: number,
  ): number {
    const fresh = this.allocNode();
    let node = this.links.getOrPut(seqLo, seqHi, fresh);
    if (node === 0) {
      node = fresh;
      this.initNode(node, parent, localLo, localHi, seqLo, seqHi);
    } else {
      this.freeNodes.push(fresh);
      const r = node * this.stride;
      if (
        this.nodes[r + PARENT] !== parent ||
        this.nodes[r + LOCAL_LO] !== localLo ||
        this.nodes[r + LOCAL_HI] !== localHi
      ) {
        // The same sequence hash under another path: a 64-bit collision or a confused worker. The newer
        // claim wins the link; the old node stays until the workers holding it drop it.
        node = this.allocNode();
        this.initNode(node, parent, localLo, localHi, seqLo, seqHi);
        this.links.set(seqLo, seqHi, node);
      }
    }
    const previous = w.blocks.set(seqLo, seqHi, node);
    if (previous !== 0 && previous !== node) {
      this.clearBit(previous, w.slot);
      this.tryFree(previous);
    }
    const at = node * this.stride + BITS + (w.slot >>> 5);
    this.nodes[at] = (this.nodes[at] as number) | (1 << (w.slot & 31));
    return node;
  }

  private allocNode(): number {
    const id = this.freeNodes.pop();
    if (id !== undefined) return id;
    if (this.nodeCount === this.capacity) this.grow(this.capacity * 2, this.words);
    return this.nodeCount++;
  }

  private initNode(
    node: number,
    parent: number,
    localLo: number,
    localHi: number,
    seqLo: number,
    seqHi: number,
  ) {
    const r = node * this.stride;
    const nodes = this.nodes;
    nodes[r + PARENT] = parent;
    nodes[r + LOCAL_LO] = localLo;
    nodes[r + LOCAL_HI] = localHi;
    nodes[r + SEQ_LO] = seqLo;
    nodes[r + SEQ_HI] = seqHi;
    nodes[r + CHILDREN] = 0;
    nodes.fill(0, r + BITS, r + this.stride);
    nodes[parent * this.stride + CHILDREN] = (nodes[parent * this.stride + CHILDREN] as number) + 1;
  }

  private clearBit(node: number, slot: number): void {
    const at = node * this.stride + BITS + (slot >>> 5);
    this.nodes[at] = (this.nodes[at] as number) & ~(1 << (slot & 31));
  }

  /** Frees the node if no worker caches it and it has no children, then its parent likewise. */
  private tryFree(node: number): void {
    const nodes = this.nodes;
    while (node !== ROOT) {
      const r = node * this.stride;
      if (nodes[r + CHILDREN] !== 0 || nodes[r + PARENT] === FREED) return;
      for (let k = 0; k < this.words; k++) if (nodes[r + BITS + k] !== 0) return;
      const parent = nodes[r + PARENT] as number;
      const sLo = nodes[r + SEQ_LO] as number;
      const sHi = nodes[r + SEQ_HI] as number;
      // Unlink unless the link was taken over by a newer node (see storeBlock).
      if (this.links.get(sLo, sHi) === node) this.links.delete(sLo, sHi);
      nodes[parent * this.stride + CHILDREN] = (nodes[parent * this.stride + CHILDREN] as number) - 1;
      nodes[r + PARENT] = FREED;
      this.freeNodes.push(node);
      node = parent;
    }
  }

  private clearWorker(w: WorkerState): void {
    const nodes: number[] = [];
    w.blocks.forEach((_lo, _hi, node) => {
      this.clearBit(node, w.slot);
      nodes.push(node);
    });
    w.blocks.clear();
    // Only after every bit is cleared: freeing cascades upwards once children are gone.
    for (const node of nodes) this.tryFree(node);
  }

  private addWorker(id: InstanceId): WorkerState {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.slotWorkers.length;
      this.slotWorkers.push(undefined);
      if (slot >= this.words * 32) this.grow(this.capacity, this.words * 2);
    }
    this.slotWorkers[slot] = id;
    const w: WorkerState = { id, slot, blocks: new PairTable(), lastEventId: -1, pending: null };
    this.workers.set(id, w);
    return w;
  }

  private grow(capacity: number, words: number): void {
    const stride = BITS + words;
    const next = new Int32Array(capacity * stride);
    if (stride === this.stride) next.set(this.nodes);
    else {
      for (let node = 0; node < this.nodeCount; node++) {
        next.set(this.nodes.subarray(node * this.stride, (node + 1) * this.stride), node * stride);
      }
    }
    this.nodes = next;
    this.capacity = capacity;
    this.words = words;
    this.stride = stride;
    if (this.active.length !== words) this.active = new Int32Array(words);
  }

  private singleActive(): boolean {
    let seen = false;
    for (let k = 0; k < this.words; k++) {
      const a = this.active[k] as number;
      if (a === 0) continue;
      if (seen || (a & (a - 1)) !== 0) return false;
      seen = true;
    }
    return true;
  }

  private record(scores: OverlapScores, word: number, mask: number, depth: number): void {
    let m = mask;
    while (m !== 0) {
      const low = m & -m;
      const id = this.slotWorkers[(word << 5) + 31 - Math.clz32(low)];
      if (id !== undefined) scores.set(id, depth);
      m ^= low;
    }
  }
}
