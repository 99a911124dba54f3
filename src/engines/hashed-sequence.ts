// A sequence's token ids and the hashes of its full blocks (DESIGN §6), kept current as it grows: a
// block is hashed once, when its last token arrives, chained onto the previous block's sequence hash.
// Its `local` / `sequence` arrays are what BlockManager.allocate takes.
import { computeBlockHashes } from '../wasm/index.js';
import type { BlockHashes } from './block-manager.js';

export class HashedSequence implements BlockHashes {
  readonly tokens: number[];
  readonly local: string[];
  readonly sequence: string[];

  constructor(
    prompt: readonly number[],
    readonly blockSize: number,
  ) {
    this.tokens = prompt.slice();
    const hashes = computeBlockHashes(this.tokens, blockSize);
    this.local = hashes.local;
    this.sequence = hashes.sequence;
  }

  get length(): number {
    return this.tokens.length;
  }

  push(token: number): void {
    this.tokens.push(token);
    const B = this.blockSize;
    if (this.tokens.length % B !== 0) return;
    const block = this.tokens.slice(this.tokens.length - B);
    const next = computeBlockHashes(block, B, this.sequence.at(-1));
    this.local.push(next.local[0] as string);
    this.sequence.push(next.sequence[0] as string);
  }
}
