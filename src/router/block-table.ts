// The indexer's nodes: an open-addressing table (linear probing, backward-shift deletion) from a
// block's sequence hash to its record, stored inline in the slot so one probe touches one cache line:
//
//   [seqLo, seqHi, parentLo, localLo, bits × words]
//
// `bits` is the set of worker slots caching the block; a record with no bit set does not exist (it is
// deleted when its last worker drops it), so an all-zero bitset marks an empty slot. parentLo / localLo
// are the low halves of the parent's sequence hash and of the block's local hash: enough to check that
// a walk follows the path it asked for (a wrong match needs a 2^-32 coincidence on top of a 64-bit one).
export const SEQ_LO = 0;
export const SEQ_HI = 1;
export const PARENT_LO = 2;
export const LOCAL_LO = 3;
export const BITS = 4;

export class BlockTable {
  slots: Int32Array;
  words: number;
  stride: number;
  private mask: number;
  size = 0;
  /** Where prefetch leaves what it read (a field, so the compiler cannot drop the reads). */
  prefetched = 0;

  constructor(expected: number, words: number) {
    let cap = 16;
    // Load factor ≤ 0.75: short probe runs, and a million blocks fit in ~24 MB (words = 2).
    while (cap * 3 < expected * 4) cap *= 2;
    this.words = words;
    this.stride = BITS + words;
    this.slots = new Int32Array(cap * this.stride);
    this.mask = cap - 1;
  }

  private empty(at: number): boolean {
    const s = this.slots;
    for (let k = 0; k < this.words; k++) if (s[at + BITS + k] !== 0) return false;
    return true;
  }

  /** The record's offset in `slots`, or -1. */
  find(lo: number, hi: number): number {
    const s = this.slots;
    const stride = this.stride;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const at = i * stride;
      if (this.empty(at)) return -1;
      if (s[at] === lo && s[at + 1] === hi) return at;
      i = (i + 1) & this.mask;
    }
  }

  /**
   * Reads the home slot of the blocks [from, to) of a request's sequence hashes so that their cache
   * misses overlap (the reads are independent); returns `to`. The sum keeps the reads from being elided.
   */
  prefetch(sequence: Uint32Array, from: number, to: number): number {
    const s = this.slots;
    let sink = 0;
    for (let d = from; d < to; d++) {
      const lo = (sequence[2 * d] as number) | 0;
      const hi = (sequence[2 * d + 1] as number) | 0;
      sink |= s[((lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask) * this.stride] as number;
    }
    this.prefetched = sink;
    return to;
  }

  /** As prefetch, for the depths a gallop from `known` probes first: known + 1, known + 3, known + 7, … (< n). */
  prefetchGallop(sequence: Uint32Array, known: number, n: number): void {
    const s = this.slots;
    let sink = 0;
    for (let d = known + 1; d < n; d = 2 * d - known + 1) {
      const lo = (sequence[2 * d] as number) | 0;
      const hi = (sequence[2 * d + 1] as number) | 0;
      sink |= s[((lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask) * this.stride] as number;
    }
    this.prefetched = sink;
  }

  /** Marks the worker slot on the block, inserting the record when absent; false when it was marked already. */
  add(lo: number, hi: number, parentLo: number, localLo: number, worker: number): boolean {
    if ((this.size + 1) * 4 > (this.mask + 1) * 3) this.rebuild((this.mask + 1) * 2, this.words);
    const s = this.slots;
    const stride = this.stride;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const at = i * stride;
      if (this.empty(at)) {
        s[at + SEQ_LO] = lo;
        s[at + SEQ_HI] = hi;
        s[at + PARENT_LO] = parentLo;
        s[at + LOCAL_LO] = localLo;
        s[at + BITS + (worker >>> 5)] = 1 << (worker & 31);
        this.size++;
        return true;
      }
      if (s[at] === lo && s[at + 1] === hi) {
        const w = at + BITS + (worker >>> 5);
        const had = (s[w] as number) & (1 << (worker & 31));
        s[w] = (s[w] as number) | (1 << (worker & 31));
        return had === 0;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Clears the worker slot on the block; deletes the record when no worker is left. */
  remove(lo: number, hi: number, worker: number): void {
    const at = this.find(lo, hi);
    if (at < 0) return;
    const s = this.slots;
    const w = at + BITS + (worker >>> 5);
    s[w] = (s[w] as number) & ~(1 << (worker & 31));
    if (!this.empty(at)) return;
    this.size--;
    // Backward shift: move later records of the probe run into the hole when their home allows.
    const stride = this.stride;
    const mask = this.mask;
    let hole = at / stride;
    let j = (hole + 1) & mask;
    for (;;) {
      const jAt = j * stride;
      if (this.empty(jAt)) break;
      const home = ((s[jAt] as number) ^ Math.imul(s[jAt + 1] as number, 0x9e3779b1)) & mask;
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        s.copyWithin(hole * stride, jAt, jAt + stride);
        s.fill(0, jAt + BITS, jAt + stride);
        hole = j;
      }
      j = (j + 1) & mask;
    }
  }

  /** Widens the bitsets (more worker slots). */
  setWords(words: number): void {
    this.rebuild(this.mask + 1, words);
  }

  private rebuild(cap: number, words: number): void {
    const old = this.slots;
    const oldStride = this.stride;
    const oldWords = this.words;
    this.words = words;
    this.stride = BITS + words;
    this.slots = new Int32Array(cap * this.stride);
    this.mask = cap - 1;
    const s = this.slots;
    for (let at = 0; at < old.length; at += oldStride) {
      let occupied = false;
      for (let k = 0; k < oldWords; k++) if (old[at + BITS + k] !== 0) occupied = true;
      if (!occupied) continue;
      const lo = old[at] as number;
      const hi = old[at + 1] as number;
      let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
      while (!this.empty(i * this.stride)) i = (i + 1) & this.mask;
      const to = i * this.stride;
      s.set(old.subarray(at, at + BITS + oldWords), to);
    }
  }
}
