// Open-addressing hash tables over typed arrays, keyed by 64-bit block hashes split into two int32
// halves. The indexer's hot paths (one lookup per block of every request, one insert per stored block
// of every KV event) run on these: no per-lookup allocation, one cache line per probe, no string or
// BigInt hashing. Linear probing with backward-shift deletion (no tombstones).
//
// Values are positive int32 node ids; 0 marks an empty slot, so a fresh Int32Array is an empty table
// (the radix tree's root, node 0, is never a value).

const MIN_CAPACITY = 16;

function capacityFor(entries: number): number {
  let cap = MIN_CAPACITY;
  while (cap < entries * 2) cap *= 2;
  return cap;
}

/** (lo, hi) → value. Slot layout: [lo, hi, value]. */
export class PairTable {
  private slots: Int32Array;
  private mask: number;
  size = 0;
  /** Where prefetch leaves what it read (a field, so the compiler cannot drop the reads). */
  prefetched = 0;

  constructor(expected = 0) {
    const cap = capacityFor(expected);
    this.slots = new Int32Array(cap * 3);
    this.mask = cap - 1;
  }

  get(lo: number, hi: number): number {
    const s = this.slots;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const b = i * 3;
      const v = s[b + 2] as number;
      if (v === 0) return 0;
      if (s[b] === lo && s[b + 1] === hi) return v;
      i = (i + 1) & this.mask;
    }
  }

  /** Reads the home slots of hashes [from, to) (pairs in `hashes`) so their cache misses overlap; returns `to`. */
  prefetch(hashes: Uint32Array, from: number, to: number): number {
    const s = this.slots;
    let sink = 0;
    for (let d = from; d < to; d++) {
      const lo = (hashes[2 * d] as number) | 0;
      const hi = (hashes[2 * d + 1] as number) | 0;
      sink |= s[((lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask) * 3] as number;
    }
    this.prefetched = sink;
    return to;
  }

  /** Sets the value; returns the previous one (0 when the key was absent). */
  set(lo: number, hi: number, value: number): number {
    // Grow ×4: fewer rehashes while a worker's set fills up from empty.
    if ((this.size + 1) * 2 > this.mask + 1) this.resize((this.mask + 1) * 4);
    const s = this.slots;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const b = i * 3;
      const v = s[b + 2] as number;
      if (v === 0) {
        s[b] = lo;
        s[b + 1] = hi;
        s[b + 2] = value;
        this.size++;
        return 0;
      }
      if (s[b] === lo && s[b + 1] === hi) {
        s[b + 2] = value;
        return v;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Removes the key; returns its value (0 when absent). */
  delete(lo: number, hi: number): number {
    const s = this.slots;
    const mask = this.mask;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & mask;
    for (;;) {
      const b = i * 3;
      const v = s[b + 2] as number;
      if (v === 0) return 0;
      if (s[b] === lo && s[b + 1] === hi) {
        this.size--;
        // Backward shift: move later entries of the probe run into the hole when their home allows.
        let hole = i;
        let j = (i + 1) & mask;
        for (;;) {
          const jb = j * 3;
          if (s[jb + 2] === 0) break;
          const home = ((s[jb] as number) ^ Math.imul(s[jb + 1] as number, 0x9e3779b1)) & mask;
          if (((j - home) & mask) >= ((j - hole) & mask)) {
            const hb = hole * 3;
            s[hb] = s[jb] as number;
            s[hb + 1] = s[jb + 1] as number;
            s[hb + 2] = s[jb + 2] as number;
            hole = j;
          }
          j = (j + 1) & mask;
        }
        s[hole * 3 + 2] = 0;
        return v;
      }
      i = (i + 1) & mask;
    }
  }

  /** Calls fn for every entry; fn must not modify the table. */
  forEach(fn: (lo: number, hi: number, value: number) => void): void {
    const s = this.slots;
    for (let b = 0; b < s.length; b += 3) {
      const v = s[b + 2] as number;
      if (v !== 0) fn(s[b] as number, s[b + 1] as number, v);
    }
  }

  clear(): void {
    this.slots = new Int32Array(MIN_CAPACITY * 3);
    this.mask = MIN_CAPACITY - 1;
    this.size = 0;
  }

  private resize(cap: number): void {
    const old = this.slots;
    this.slots = new Int32Array(cap * 3);
    this.mask = cap - 1;
    this.size = 0;
    for (let b = 0; b < old.length; b += 3) {
      const v = old[b + 2] as number;
      if (v !== 0) this.set(old[b] as number, old[b + 1] as number, v);
    }
  }
}
