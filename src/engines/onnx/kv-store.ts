// The KV tensors behind the shared BlockManager's bookkeeping. The BlockManager decides which blocks
// exist (prefix cache, reference counts, LRU eviction, KV events) but names blocks only by hash; this
// store gives each block a physical slot and keeps the slot lifecycle in step with the manager:
//
//   slot of a cached full block  ← found by sequence hash; freed when the manager emits `removed`
//                                   (or `cleared`) for it and no sequence holds it
//   slot of a partial tail block ← private to its sequence; becomes the full block's slot once full
//   slot of a pending block      ← (an import's block the manager holds unannounced) private until
//                                   commit() names it, once its KV is filled
//   slot of a block held through clear(), or grown on one ← private (the manager does not share it)
//
// so the number of free slots always equals the manager's freeBlocks (tests check it).
//
// Layout: per layer and per K/V one array of [slots, kvHeads, blockSize, headDim]; a block's head is
// contiguous, so gathering a sequence into a batch copies blockSize·headDim values at a time.
import type { KvEventData } from '../../api/index.js';
import type { KvArray, KvDtype } from './model-session.js';

/** Copies of at most this many values are done element by element (both arrays have the same type). */
const SHORT_COPY = 256;

/** A sequence's slots: index i holds tokens [i·B, (i+1)·B). */
export interface SlotTable {
  slots: number[];
  /** Full blocks held (the slot after them, if any, is the private partial tail). */
  full: number;
}

export interface KvStoreOptions {
  numSlots: number;
  numLayers: number;
  numKvHeads: number;
  blockSize: number;
  headDim: number;
  dtype: KvDtype;
}

export class KvStore {
  readonly blockSize: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  /** Per layer: K then V. */
  readonly data: KvArray[];
  readonly #slotSize: number;
  readonly #free: number[] = [];
  readonly #refs: Int32Array;
  readonly #hashOfSlot: (string | null)[];
  readonly #slotOfHash = new Map<string, number>();

  constructor(o: KvStoreOptions) {
    this.blockSize = o.blockSize;
    this.numKvHeads = o.numKvHeads;
    this.headDim = o.headDim;
    this.#slotSize = o.numKvHeads * o.blockSize * o.headDim;
    const size = o.numSlots * this.#slotSize;
    this.data = Array.from({ length: 2 * o.numLayers }, () =>
      o.dtype === 'float16' ? new Uint16Array(size) : new Float32Array(size),
    );
    this.#refs = new Int32Array(o.numSlots);
    this.#hashOfSlot = new Array<string | null>(o.numSlots).fill(null);
    for (let s = o.numSlots - 1; s >= 0; s--) this.#free.push(s);
  }

  get freeSlots(): number {
    return this.#free.length;
  }

  /** Follows the manager's events: evicted and cleared blocks give their slots back once unheld. */
  onEvent(data: KvEventData): void {
    if (data === 'cleared') {
      for (const [hash, slot] of this.#slotOfHash) this.#unhash(hash, slot);
    } else if ('removed' in data) {
      for (const hash of data.removed.blockHashes) {
        const slot = this.#slotOfHash.get(hash);
        if (slot !== undefined) this.#unhash(hash, slot);
      }
    }
  }

  /**
   * After the manager allocated blocks for the first `numTokens` tokens of a sequence: gives the new
   * blocks their slots. `sequenceHashes[i]` names full block i. `pending`: the indices the manager
   * allocated pending (BlockManager.allocateForImport); their slots stay private and unnamed.
   */
  extend(
    table: SlotTable,
    numTokens: number,
    sequenceHashes: readonly string[],
    pending: readonly number[] = [],
  ): void {
    const full = Math.floor(numTokens / this.blockSize);
    const slots = table.slots;
    for (let i = table.full; i < full; i++) {
      const hash = sequenceHashes[i] as string;
      const importing = pending.includes(i);
      // As the manager: an import's pending block, or one grown on a parent that clear() dropped from
      // the cache, stays private (unnamed).
      const unshared = importing || (i > 0 && !this.#slotOfHash.has(sequenceHashes[i - 1] as string));
      // Only the block right after the held full ones can already have a slot: the private tail.
      const tail = i < slots.length ? (slots[i] as number) : -1;
      const cached = importing ? undefined : this.#slotOfHash.get(hash);
      if (cached !== undefined) {
        // The manager shares a block computed elsewhere with the same prefix; our tail copy goes.
        this.#refs[cached] = (this.#refs[cached] as number) + 1;
        if (tail >= 0) this.#release(tail);
        slots[i] = cached;
      } else if (tail >= 0) {
        if (!unshared) this.#hash(hash, tail);
      } else {
        const slot = this.#take();
        if (!unshared) this.#hash(hash, slot);
        slots.push(slot);
      }
    }
    table.full = full;
    if (numTokens % this.blockSize > 0 && slots.length === full) slots.push(this.#take());
  }

  /** After BlockManager.commit: the pending blocks at `indices` joined the prefix cache. */
  commit(table: SlotTable, indices: readonly number[], sequenceHashes: readonly string[]): void {
    for (const i of indices) this.#hash(sequenceHashes[i] as string, table.slots[i] as number);
  }

  /**
   * Block `index` of a sequence, per layer K then V, as views of [kvHeads, blockSize, headDim] into
   * the store: read to send a block's KV, written to fill an imported one.
   */
  blockViews(table: SlotTable, index: number): KvArray[] {
    const slot = table.slots[index];
    if (slot === undefined) throw new RangeError(`blockViews: the sequence holds no block ${index}`);
    const start = slot * this.#slotSize;
    return this.data.map((a) => a.subarray(start, start + this.#slotSize));
  }

  /**
   * Block `index` of a sequence in one layer: its K and V views, each [kvHeads, blockSize, headDim],
   * into the store (what the KV data plane sends, and where a pulled block is copied).
   */
  layerViews(table: SlotTable, index: number, layer: number): [KvArray, KvArray] {
    const slot = table.slots[index];
    if (slot === undefined) throw new RangeError(`layerViews: the sequence holds no block ${index}`);
    const start = slot * this.#slotSize;
    const k = this.data[2 * layer];
    const v = this.data[2 * layer + 1];
    if (k === undefined || v === undefined) throw new RangeError(`layerViews: no layer ${layer}`);
    return [k.subarray(start, start + this.#slotSize), v.subarray(start, start + this.#slotSize)];
  }

  /** The sequence ends: cached blocks stay (evictable), private ones are freed. */
  release(table: SlotTable): void {
    for (const slot of table.slots) this.#release(slot);
    table.slots.length = 0;
    table.full = 0;
  }

  /**
   * Copies `count` tokens of a sequence, from token `from`, into `out` laid out
   * [rows, kvHeads, width, headDim] at row `row`, column `col` — for every layer's K and V.
   */
  gather(
    table: SlotTable,
    from: number,
    count: number,
    out: KvArray[],
    row: number,
    width: number,
    col: number,
  ): void {
    this.#copy(table, from, count, out, row, width, col, false);
  }

  /** The reverse: `count` tokens from a present tensor into the sequence's blocks, from token `from`. */
  scatter(
    table: SlotTable,
    from: number,
    count: number,
    present: KvArray[],
    row: number,
    width: number,
    col: number,
  ): void {
    this.#copy(table, from, count, present, row, width, col, true);
  }

  #copy(
    table: SlotTable,
    from: number,
    count: number,
    batch: KvArray[],
    row: number,
    width: number,
    col: number,
    toStore: boolean,
  ): void {
    const B = this.blockSize;
    const D = this.headDim;
    const H = this.numKvHeads;
    for (let t = from; t < from + count; ) {
      const block = Math.floor(t / B);
      const off = t % B;
      const run = Math.min(B - off, from + count - t);
      const slot = table.slots[block] as number;
      const batchCol = col + (t - from);
      for (let a = 0; a < batch.length; a++) {
        const store = this.data[a] as KvArray;
        const other = batch[a] as KvArray;
        for (let h = 0; h < H; h++) {
          const s = ((slot * H + h) * B + off) * D;
          const o = ((row * H + h) * width + batchCol) * D;
          const n = run * D;
          if (n <= SHORT_COPY) {
            // A decode step's one token per head: a loop is cheaper than a subarray view and set().
            if (toStore) for (let i = 0; i < n; i++) store[s + i] = other[o + i] as number;
            else for (let i = 0; i < n; i++) other[o + i] = store[s + i] as number;
          } else if (toStore) store.set(other.subarray(o, o + n), s);
          else other.set(store.subarray(s, s + n), o);
        }
      }
      t += run;
    }
  }

  #hash(hash: string, slot: number): void {
    this.#hashOfSlot[slot] = hash;
    this.#slotOfHash.set(hash, slot);
  }

  #unhash(hash: string, slot: number): void {
    this.#slotOfHash.delete(hash);
    this.#hashOfSlot[slot] = null;
    if (this.#refs[slot] === 0) this.#free.push(slot);
  }

  #take(): number {
    const slot = this.#free.pop();
    if (slot === undefined) throw new Error('KvStore: no free slot (out of step with the BlockManager)');
    this.#refs[slot] = 1;
    return slot;
  }

  #release(slot: number): void {
    const refs = (this.#refs[slot] as number) - 1;
    this.#refs[slot] = refs;
    if (refs === 0 && this.#hashOfSlot[slot] === null) this.#free.push(slot);
  }
}
