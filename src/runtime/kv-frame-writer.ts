// Batches one pull's frames onto its socket: the provider's views go out as they are (no copy: the
// engine's own KV memory, pinned until the pull ends), corked, and leave in one writev per
// `batchBytes`. A writev per block costs more in system calls than it moves when blocks are small
// (16 KiB for the tiny model); copying small views into one buffer instead was measured slower still.
import type { Socket } from 'node:net';
import { encodeKvBlockHeader } from './kv-frames.js';

export const DEFAULT_WRITEV_BATCH_BYTES = 128 * 1024;

export class KvFrameWriter {
  #queued = 0;
  #corked = false;

  constructor(
    private readonly socket: Socket,
    private readonly batchBytes = DEFAULT_WRITEV_BATCH_BYTES,
  ) {}

  blockHeader(block: number, rawBytes: number): void {
    this.bytes(encodeKvBlockHeader(block, rawBytes));
  }

  bytes(part: Uint8Array): void {
    if (!this.#corked) {
      this.socket.cork();
      this.#corked = true;
    }
    this.socket.write(part);
    this.#queued += part.byteLength;
  }

  /** Enough is queued for one writev: flush() now. */
  get batchFull(): boolean {
    return this.#queued >= this.batchBytes;
  }

  /** Hands everything queued to the kernel (one writev). */
  flush(): void {
    if (this.#corked) this.socket.uncork();
    this.#corked = false;
    this.#queued = 0;
  }
}
