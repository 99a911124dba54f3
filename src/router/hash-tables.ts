// Open-addressing hash tables over typed arrays, keyed by 64-bit block hashes split into two int32
// halves. The indexer's hot paths (probes per request, one insert per stored block of every KV event)
// run on these: no per-lookup allocation, one cache line per probe, no string or BigInt hashing.
// Linear probing with backward-shift deletion (no tombstones).
//
// PairTable's values are non-zero int32s: 0 marks an empty slot, so a fresh Int32Array is an empty table.

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

/**
 * (worker, lo, hi) → a record of `width` int32 values, stored inline: slot = [lo, hi, worker, v0, v1,
 * …]. One table for all workers, sized once for the whole index: per-worker tables grown from empty
 * allocated (and garbage-collected) several times the index's size while it filled. v0 of a used
 * slot is never 0 (callers keep flags there); 0 marks an empty slot. Offsets returned by find and
 * upsert index `slots` and stay valid until the next upsert (which may grow the table) or remove.
 */
export class WorkerKeyTable {
  slots: Int32Array;
  readonly stride: number;
  private mask: number;
  size = 0;
  /** Whether the last upsert inserted its key. */
  created = false;
  /** Where prefetch leaves what it read (a field, so the compiler cannot drop the reads). */
  prefetched = 0;

  constructor(
    readonly width: number,
    expected = 0,
  ) {
    this.stride = 3 + width;
    let cap = MIN_CAPACITY;
    // Load factor ≤ 0.75, as the node table.
    while (cap * 3 < expected * 4) cap *= 2;
    this.slots = new Int32Array(cap * this.stride);
    this.mask = cap - 1;
  }

  private home(worker: number, lo: number, hi: number): number {
    return (lo ^ Math.imul(hi, 0x9e3779b1) ^ Math.imul(worker + 1, 0x85ebca77)) & this.mask;
  }

  /** The slot's offset, or -1. */
  find(worker: number, lo: number, hi: number): number {
    const s = this.slots;
    const stride = this.stride;
    let i = this.home(worker, lo, hi);
    for (;;) {
      const b = i * stride;
      if (s[b + 3] === 0) return -1;
      if (s[b] === lo && s[b + 1] === hi && s[b + 2] === worker) return b;
      i = (i + 1) & this.mask;
    }
  }

  /** Reads the home slots of the worker's keys [from, to) (pairs in `keys`) so their cache misses overlap. */
  prefetch(worker: number, keys: Uint32Array, from: number, to: number): void {
    const s = this.slots;
    let sink = 0;
    for (let d = from; d < to; d++) {
      sink |= s[
        this.home(worker, (keys[2 * d] as number) | 0, (keys[2 * d + 1] as number) | 0) * this.stride
      ] as number;
    }
    this.prefetched = sink;
  }

  /**
   * The key's slot offset; a new key gets a slot with v0 = `first` and the other values 0 (`created`
   * tells which). `first` must not be 0.
   */
  upsert(worker: number, lo: number, hi: number, first: number): number {
    if ((this.size + 1) * 4 > (this.mask + 1) * 3) this.resize((this.mask + 1) * 2);
    const s = this.slots;
    const stride = this.stride;
    let i = this.home(worker, lo, hi);
    for (;;) {
      const b = i * stride;
      if (s[b + 3] === 0) {
        s[b] = lo;
        s[b + 1] = hi;
        s[b + 2] = worker;
        s[b + 3] = first;
        this.size++;
        this.created = true;
        return b;
      }
      if (s[b] === lo && s[b + 1] === hi && s[b + 2] === worker) {
        this.created = false;
        return b;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Removes the key; returns whether it was there. */
  remove(worker: number, lo: number, hi: number): boolean {
    const at = this.find(worker, lo, hi);
    if (at < 0) return false;
    const s = this.slots;
    const stride = this.stride;
    const mask = this.mask;
    this.size--;
    // Backward shift: move later entries of the probe run into the hole when their home allows.
    let hole = at / stride;
    let j = (hole + 1) & mask;
    for (;;) {
      const jb = j * stride;
      if (s[jb + 3] === 0) break;
      const home = this.home(s[jb + 2] as number, s[jb] as number, s[jb + 1] as number);
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        s.copyWithin(hole * stride, jb, jb + stride);
        hole = j;
      }
      j = (j + 1) & mask;
    }
    s.fill(0, hole * stride, hole * stride + stride);
    return true;
  }

  /**
   * Removes every key of the worker, calling fn with each record's offset first (a scan of the whole
   * table: for a worker's resync or departure, not per event).
   */
  removeWorker(worker: number, fn: (at: number) => void): void {
    const s = this.slots;
    const doomed: number[] = [];
    for (let b = 0; b < s.length; b += this.stride) {
      if (s[b + 3] !== 0 && s[b + 2] === worker) {
        fn(b);
        doomed.push(s[b] as number, s[b + 1] as number);
      }
    }
    for (let k = 0; k < doomed.length; k += 2)
      this.remove(worker, doomed[k] as number, doomed[k + 1] as number);
  }

  private resize(cap: number): void {
    const old = this.slots;
    const stride = this.stride;
    this.slots = new Int32Array(cap * stride);
    this.mask = cap - 1;
    const s = this.slots;
    for (let b = 0; b < old.length; b += stride) {
      if (old[b + 3] === 0) continue;
      let i = this.home(old[b + 2] as number, old[b] as number, old[b + 1] as number);
      while (s[i * stride + 3] !== 0) i = (i + 1) & this.mask;
      // Element by element: a subarray per entry would allocate.
      for (let k = 0, to = i * stride; k < stride; k++) s[to + k] = old[b + k] as number;
    }
  }
}
