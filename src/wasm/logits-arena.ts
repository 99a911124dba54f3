// Logits in WebAssembly memory, and the kernels the samplers run over them (crates-wasm/src/logits.rs):
// a greedy step's argmax over a 152k vocabulary takes about a tenth of plain JavaScript's time.
//
// onnxruntime writes a run's logits straight into `view()` (a preallocated output), so the kernels read
// them where they are. Each arena is a private instance of the module: its memory grows only when the
// arena itself asks for a larger view, so a view stays valid while other code tokenizes or hashes.
import { privateInstance, type WasmExports } from './module.js';

export class LogitsArena {
  readonly #w: WasmExports = privateInstance();
  #ptr = 0;
  /** Floats reserved at #ptr. */
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

  #reserve(floats: number): void {
    if (floats <= this.#capacity) return;
    if (this.#capacity > 0) this.#w.wasm_free(this.#ptr, 4 * this.#capacity);
    this.#capacity = floats;
    this.#ptr = this.#w.wasm_alloc(4 * floats);
  }
}
