// Approximate mode (no KV events, DESIGN §7): the router writes its own routing decisions into the
// indexer as if the chosen worker had reported caching the request's blocks, expires each write after
// a TTL, and prunes the oldest writes when more than `maxBlocks` are held. Pure: time is passed in.
//
// Writes go into a FIFO queue in expiry order (every write gets now + ttl, so insertion order is expiry
// order). Re-routing a block to the same worker refreshes it: the new write supersedes the queued one,
// which is skipped when it reaches the head (each worker's table remembers the write that counts).
import type { InstanceId } from '../api/index.js';
import type { RequestHashes } from './block-hashes.js';
import { PairTable } from './hash-tables.js';
import type { KvIndexer } from './indexer.js';

export interface ApproxOptions {
  /** How long a decision stays in the index (DESIGN §7: 120 s). */
  ttlMs: number;
  /** Most (worker, block) pairs held; the oldest go first beyond it. */
  maxBlocks: number;
}

export const DEFAULT_APPROX: ApproxOptions = { ttlMs: 120_000, maxBlocks: 1_000_000 };

/** A write's number as a table value: non-zero int32, unique among the < 2^31 writes queued at once. */
function writeTag(n: number): number {
  return (n % 0x7fffffff) + 1;
}

export class ApproxTracker {
  // The queue, as parallel arrays from `head`: worker, sequence hash halves, expiry, write number.
  private qWorker: InstanceId[] = [];
  private qLo: number[] = [];
  private qHi: number[] = [];
  private qExpiry: number[] = [];
  private head = 0;
  /** Number of the write at index 0 of the queue arrays. */
  private firstWrite = 0;
  /** Per worker: sequence hash → number of its live write. */
  private readonly live = new Map<InstanceId, PairTable>();
  private liveCount = 0;

  constructor(
    private readonly indexer: KvIndexer,
    private readonly options: ApproxOptions = DEFAULT_APPROX,
  ) {}

  /** Blocks held (worker, block pairs). */
  get size(): number {
    return this.liveCount;
  }

  /** Records that `worker` now caches the request's first `count` blocks. */
  record(worker: InstanceId, hashes: RequestHashes, count: number, nowMs: number): void {
    this.prune(nowMs);
    if (count === 0) return;
    this.indexer.storeChain(worker, hashes, count);
    let table = this.live.get(worker);
    if (table === undefined) {
      table = new PairTable();
      this.live.set(worker, table);
    }
    const expiry = nowMs + this.options.ttlMs;
    // Leaf first: writes of one decision expire together, and removing leaves first keeps the tree's
    // chains intact while they go.
    for (let i = count - 1; i >= 0; i--) {
      const lo = (hashes.sequence[2 * i] as number) | 0;
      const hi = (hashes.sequence[2 * i + 1] as number) | 0;
      const write = writeTag(this.firstWrite + this.qWorker.length);
      this.qWorker.push(worker);
      this.qLo.push(lo);
      this.qHi.push(hi);
      this.qExpiry.push(expiry);
      if (table.set(lo, hi, write) === 0) this.liveCount++;
    }
    this.enforceBound();
  }

  /** Drops expired writes. */
  prune(nowMs: number): void {
    while (this.head < this.qWorker.length && (this.qExpiry[this.head] as number) <= nowMs) this.pop();
    this.compact();
  }

  /** Forgets a worker's writes (it left discovery); the indexer is told separately. */
  removeWorker(worker: InstanceId): void {
    const table = this.live.get(worker);
    if (table === undefined) return;
    this.liveCount -= table.size;
    this.live.delete(worker);
  }

  private enforceBound(): void {
    while (this.liveCount > this.options.maxBlocks && this.head < this.qWorker.length) this.pop();
    this.compact();
  }

  private pop(): void {
    const at = this.head++;
    const write = writeTag(this.firstWrite + at);
    const worker = this.qWorker[at] as InstanceId;
    const lo = this.qLo[at] as number;
    const hi = this.qHi[at] as number;
    const table = this.live.get(worker);
    // Superseded by a later write of the same block, or the worker is gone: nothing to undo.
    if (table === undefined || table.get(lo, hi) !== write) return;
    table.delete(lo, hi);
    this.liveCount--;
    this.indexer.removeBlock(worker, lo, hi);
  }

  private compact(): void {
    if (this.head < 4096 || this.head * 2 < this.qWorker.length) return;
    this.firstWrite += this.head;
    this.qWorker = this.qWorker.slice(this.head);
    this.qLo = this.qLo.slice(this.head);
    this.qHi = this.qHi.slice(this.head);
    this.qExpiry = this.qExpiry.slice(this.head);
    this.head = 0;
  }
}
