// The K/V tensors of decode runs, in memory the engine owns: two sets of per-layer arrays that runs
// alternate between. A run reads its past from one set and onnxruntime writes its present into the
// other (output binding), so the next step, when its batch is the same sequences one token further,
// reads that present where it lies: no per-step allocation proportional to the KV size, and no copy.
// A set grows (to half again what a run needs, contents dropped) only when a run needs more than it
// holds.
import type { KvArray, KvDtype } from './model-session.js';

export type SetIndex = 0 | 1;

export class DecodeBuffers {
  readonly #arrays: number;
  readonly #dtype: KvDtype;
  readonly #sets: [KvArray[], KvArray[]] = [[], []];

  /** `arrays`: K and V per layer (2 × layers). */
  constructor(arrays: number, dtype: KvDtype) {
    this.#arrays = arrays;
    this.#dtype = dtype;
  }

  /** Elements every array of set `set` holds without growing. */
  capacity(set: SetIndex): number {
    return this.#sets[set][0]?.length ?? 0;
  }

  /**
   * `size` elements of every array of set `set`, as views from its start. A set that grows keeps its
   * contents only when `keep` says so.
   */
  views(set: SetIndex, size: number, keep = false): KvArray[] {
    let arrays = this.#sets[set];
    if ((arrays[0]?.length ?? -1) < size) {
      // Half again as much as asked: room for the next steps' longer rows and for sequences that join.
      const capacity = Math.ceil(size * 1.5);
      const old = arrays;
      arrays = Array.from({ length: this.#arrays }, (_, i) => {
        const a = this.#dtype === 'float16' ? new Uint16Array(capacity) : new Float32Array(capacity);
        const from = old[i];
        if (keep && from !== undefined) a.set(from);
        return a;
      });
      this.#sets[set] = arrays;
    }
    return arrays.map((a) => a.subarray(0, size));
  }
}
