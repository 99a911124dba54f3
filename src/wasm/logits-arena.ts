// Logits in WebAssembly memory, and the kernels the samplers run over them (crates-wasm/src/logits.rs):
// argmax and max in one read of the row (SIMD128), and structured output's grammar bitmask, fused with
// the argmax when greedy.
//
// onnxruntime writes a run's logits straight into `view()` (a preallocated output), so the kernels read
// them where they are. Each arena is a private instance of the module: its memory grows only when the
// arena itself asks for a larger view, so a view stays valid while other code tokenizes or hashes. Room
// for one row's bitmask is allocated with the view, so copying a mask in never grows memory (which would
// detach the view of the logits being sampled).
import { privateInstance, type WasmExports } from './module.js';

export class LogitsArena {
  readonly #w: WasmExports = privateInstance();
  #ptr = 0;
  /** Floats reserved at #ptr, followed by ceil(#capacity / 32) mask words. */
  #capacity = 0;

  /** `size` floats of module memory, valid until the next `view` or a kernel call on foreign data. */
  view(size: number): Float32Array {
    this.#reserve(size);
    return new Float32Array(this.#w.memory.buffer, this.#ptr, size);
  }

  /** Index of the first largest of data[offset, offset + length): greedy sampling's token. */
  argmax(data: Float32Array, offset: number, length: number): number {
    return this.#w.argmax_f32(this.#address(data, offset, length), length);
  }

  /**
   * `argmax` with the ids an XGrammar bitmask refuses (bit id % 32 of word id / 32 clear, or past the
   * mask) counted as −∞, without writing them to the row.
   */
  maskedArgmax(data: Float32Array, offset: number, length: number, mask: Int32Array): number {
    const row = this.#address(data, offset, length);
    return this.#w.masked_argmax_f32(row, length, ...this.#mask(mask, length));
  }

  /** Sets the ids an XGrammar bitmask refuses (and those past it) to −∞ in data[offset, offset + length). */
  applyMask(data: Float32Array, offset: number, length: number, mask: Int32Array): void {
    const row = this.#address(data, offset, length);
    this.#w.apply_mask_f32(row, length, ...this.#mask(mask, length));
    if (data.buffer !== this.#w.memory.buffer) {
      data.set(new Float32Array(this.#w.memory.buffer, row, length), offset);
    }
  }

  /** The largest of data[offset, offset + length) (-Infinity when empty). */
  max(data: Float32Array, offset: number, length: number): number {
    return this.#w.max_f32(this.#address(data, offset, length), length);
  }

  /** Where data[offset…] is in module memory: in place for a view of this arena, else copied in. */
  #address(data: Float32Array, offset: number, length: number): number {
    if (offset < 0 || length < 0 || offset + length > data.length) {
      throw new RangeError(`logits [${offset}, ${offset + length}) outside an array of ${data.length}`);
    }
    if (data.buffer === this.#w.memory.buffer) return data.byteOffset + 4 * offset;
    this.#reserve(length);
    new Float32Array(this.#w.memory.buffer, this.#ptr, length).set(data.subarray(offset, offset + length));
    return this.#ptr;
  }

  /** The mask's words a row of `length` reads, copied behind the floats (call after #address): where, how many. */
  #mask(mask: Int32Array, length: number): [at: number, words: number] {
    const at = this.#ptr + 4 * this.#capacity;
    const count = Math.min(mask.length, words(length));
    new Int32Array(this.#w.memory.buffer, at, count).set(mask.subarray(0, count));
    return [at, count];
  }

  #reserve(floats: number): void {
    if (floats <= this.#capacity) return;
    if (this.#capacity > 0) this.#w.wasm_free(this.#ptr, 4 * (this.#capacity + words(this.#capacity)));
    this.#capacity = floats;
    this.#ptr = this.#w.wasm_alloc(4 * (floats + words(floats)));
  }
}

/** Bitmask words covering `ids` ids. */
const words = (ids: number): number => Math.ceil(ids / 32);
