// The KV block manager shared by the mocker and the ONNX engine: a fixed number of KV blocks, a prefix
// cache of full blocks named by sequence hash (DESIGN §6), reference counts for the blocks that live
// sequences hold, LRU eviction of unreferenced cached blocks, and one KV event per cache change.
//
// It is pure: callers hand in block hashes (computed with the WASM hasher) and token counts; it does
// no I/O and keeps no clock (LRU order is the order of release).
//
//   physical blocks = cached (referenced | evictable, LRU) + private (partial tail blocks, full
//                     blocks dropped from the cache by clear() while a sequence still held them, and
//                     the full blocks a sequence grows on top of those) + free
//
// Invariants: a referenced block is never evicted; the set of blocks implied by the emitted events
// (stored adds, removed deletes, cleared empties) is exactly the set of cached blocks; a stored event's
// parent is cached (a router holds it). So a block whose parent's hash is not cached — the sequence
// held the parent through clear() — stays private and unannounced: clear() means nothing built on the
// old cache is shared again (after a failed run its KV may be wrong), and a router never meets a chain
// whose parent it dropped.
//
// Imported blocks (DESIGN §12, decode side) hold no KV until another worker's bytes arrive: an import
// allocates them *pending* (private, unshared, unannounced) and commit() caches and announces them, so
// no other sequence is handed a block whose KV is not there yet.
import type { BlockHash, KvEventData, StoredBlock } from '../api/index.js';

/** Hashes of a sequence's full blocks, as the WASM hasher returns them (index i = block i). */
export interface BlockHashes {
  readonly local: readonly string[];
  readonly sequence: readonly string[];
}

interface Block {
  readonly hash: BlockHash;
  readonly tokensHash: BlockHash;
  /** Sequence hash of the block before it (as announced in its stored event). */
  readonly parentHash: BlockHash | null;
  /** Live sequences holding it. */
  refs: number;
  /** In the prefix cache: announced by a stored event and not yet removed or cleared. */
  cached: boolean;
}

interface Sequence {
  /** Its full blocks, in order. */
  readonly blocks: Block[];
  /** Holds a private block for a trailing partial block. */
  partial: boolean;
  tokens: number;
  /** Indices of full blocks allocated for an import and not yet committed. */
  pending: number[];
}

export interface BlockManagerOptions {
  totalBlocks: number;
  blockSize: number;
  /** Receives every cache change, in order. */
  onEvent?: (data: KvEventData) => void;
}

export class BlockManager {
  readonly totalBlocks: number;
  readonly blockSize: number;
  readonly #onEvent: (data: KvEventData) => void;
  /** Every cached block, by sequence hash. */
  readonly #cached = new Map<string, Block>();
  /** Cached blocks no sequence holds, least recently released first (a Map keeps insertion order). */
  readonly #evictable = new Map<string, Block>();
  readonly #sequences = new Map<string, Sequence>();
  /** Physical blocks in use by anything but the cache: partial tails and decached full blocks. */
  #private = 0;

  constructor(options: BlockManagerOptions) {
    if (!Number.isInteger(options.totalBlocks) || options.totalBlocks < 1) {
      throw new RangeError(`totalBlocks: expected a positive integer, got ${options.totalBlocks}`);
    }
    if (!Number.isInteger(options.blockSize) || options.blockSize < 1) {
      throw new RangeError(`blockSize: expected a positive integer, got ${options.blockSize}`);
    }
    this.totalBlocks = options.totalBlocks;
    this.blockSize = options.blockSize;
    this.#onEvent = options.onEvent ?? (() => {});
  }

  /** Blocks neither cached nor held. */
  get freeBlocks(): number {
    return this.totalBlocks - this.#cached.size - this.#private;
  }

  /** Blocks held by live sequences (cached or private); the rest is free or evictable. */
  get activeBlocks(): number {
    return this.#cached.size - this.#evictable.size + this.#private;
  }

  get cachedBlocks(): number {
    return this.#cached.size;
  }

  /** Sequence hashes of the cached blocks (for tests and diagnostics). */
  cachedHashes(): Set<string> {
    return new Set(this.#cached.keys());
  }

  /** How many leading blocks of a sequence the cache holds now. No side effect. */
  matchPrefix(sequenceHashes: readonly string[]): number {
    let n = 0;
    while (n < sequenceHashes.length && this.#cached.has(sequenceHashes[n] as string)) n++;
    return n;
  }

  /** Tokens a sequence holds blocks for (0 for an unknown one). */
  heldTokens(seqId: string): number {
    return this.#sequences.get(seqId)?.tokens ?? 0;
  }

  /**
   * Makes `seqId` (created when new) hold blocks for its first `numTokens` tokens: cached blocks are
   * shared, missing full blocks are allocated and announced in `stored` events, a trailing partial
   * block is private. `hashes` must cover at least the full blocks of those tokens. Evicts
   * unreferenced cached blocks (LRU) when no block is free. Returns false, changing nothing, when
   * the blocks cannot be found.
   */
  allocate(seqId: string, numTokens: number, hashes: BlockHashes): boolean {
    return this.#allocate(seqId, numTokens, hashes, undefined) !== undefined;
  }

  /**
   * As allocate, for a sequence whose KV comes from another worker: cached blocks are shared as usual
   * (unless their hash is in `notHits`: blocks whose KV is still being computed), but the missing full
   * blocks are allocated pending — held privately, unannounced — until commit(). Returns the indices
   * of the pending blocks, or undefined (changing nothing) when the blocks cannot be found.
   */
  allocateForImport(
    seqId: string,
    numTokens: number,
    hashes: BlockHashes,
    notHits: ReadonlySet<string> = new Set(),
  ): number[] | undefined {
    return this.#allocate(seqId, numTokens, hashes, notHits);
  }

  /**
   * The pending blocks of `seqId` now hold their KV: each one joins the prefix cache (announced in
   * `stored` events) unless a block of the same hash was cached meanwhile, in which case it stays a
   * private copy, or its parent was dropped by clear(), in which case it stays private. Returns the
   * indices of the blocks now cached.
   */
  commit(seqId: string): number[] {
    const seq = this.#sequences.get(seqId);
    if (seq === undefined) return [];
    const committed: number[] = [];
    const cachedParent = (i: number) => i === 0 || this.#cached.has((seq.blocks[i - 1] as Block).hash);
    let run: StoredBlock[] = [];
    let runParent: BlockHash | null = null;
    let last = -2;
    for (const i of seq.pending) {
      const block = seq.blocks[i] as Block;
      // Cached meanwhile: a private copy. Parent dropped by clear(): private (see the top).
      if (this.#cached.has(block.hash) || !cachedParent(i)) continue;
      block.cached = true;
      this.#cached.set(block.hash, block);
      this.#private--;
      if (run.length > 0 && i !== last + 1) {
        this.#onEvent({ stored: { parentHash: runParent, blocks: run } });
        run = [];
      }
      if (run.length === 0) runParent = block.parentHash;
      run.push({ blockHash: block.hash, tokensHash: block.tokensHash });
      last = i;
      committed.push(i);
    }
    if (run.length > 0) this.#onEvent({ stored: { parentHash: runParent, blocks: run } });
    seq.pending = [];
    return committed;
  }

  #allocate(
    seqId: string,
    numTokens: number,
    hashes: BlockHashes,
    notHits: ReadonlySet<string> | undefined,
  ): number[] | undefined {
    const B = this.blockSize;
    const seq = this.#sequences.get(seqId) ?? { blocks: [], partial: false, tokens: 0, pending: [] };
    if (!Number.isInteger(numTokens) || numTokens < seq.tokens) {
      throw new RangeError(`allocate(${seqId}): numTokens ${numTokens} below the ${seq.tokens} held`);
    }
    // A new block's parent must be announced before it: nothing grows past uncommitted blocks.
    if (seq.pending.length > 0) throw new Error(`allocate(${seqId}): pending blocks not committed`);
    const importing = notHits !== undefined;
    const hit = (i: number): Block | undefined => {
      const hash = hashes.sequence[i] as string;
      return notHits?.has(hash) ? undefined : this.#cached.get(hash);
    };
    const full = Math.floor(numTokens / B);
    if (hashes.sequence.length < full || hashes.local.length < full) {
      throw new RangeError(`allocate(${seqId}): ${full} full blocks but ${hashes.sequence.length} hashes`);
    }
    const held = seq.blocks.length;
    const wantPartial = numTokens % B > 0;

    // Count before touching anything, so a refusal changes nothing.
    let hitsEvictable = 0;
    let misses = 0;
    for (let i = held; i < full; i++) {
      const block = hit(i);
      if (block === undefined) misses++;
      else if (block.refs === 0) hitsEvictable++;
    }
    // The sequence's own partial block turns into its next full block (or is given back).
    const needed = misses + (wantPartial ? 1 : 0) - (seq.partial ? 1 : 0);
    if (needed > this.freeBlocks + this.#evictable.size - hitsEvictable) return undefined;

    if (seq.partial) {
      seq.partial = false;
      this.#private--;
    }
    // Take the hits first, so that eviction cannot take them.
    const slots: (Block | undefined)[] = [];
    for (let i = held; i < full; i++) {
      const block = hit(i);
      if (block !== undefined) this.#ref(block);
      slots.push(block);
    }
    this.#evict(misses + (wantPartial ? 1 : 0) - this.freeBlocks);
    // Allocate the misses; each run of consecutive new blocks is one stored event.
    let run: StoredBlock[] = [];
    let runParent: BlockHash | null = null;
    for (let i = held; i < full; i++) {
      let block = slots[i - held];
      if (block === undefined) {
        const parentHash = i === 0 ? null : ((seq.blocks[i - 1] as Block).hash as BlockHash);
        // A parent held through clear() is no longer cached: the block stays private (see the top).
        const cached = !importing && (parentHash === null || this.#cached.has(parentHash));
        block = {
          hash: hashes.sequence[i] as BlockHash,
          tokensHash: hashes.local[i] as BlockHash,
          parentHash,
          refs: 1,
          cached,
        };
        if (importing) {
          this.#private++;
          seq.pending.push(i);
        } else if (!cached) {
          this.#private++;
          if (run.length > 0) {
            this.#onEvent({ stored: { parentHash: runParent, blocks: run } });
            run = [];
          }
        } else {
          this.#cached.set(block.hash, block);
          if (run.length === 0) runParent = parentHash;
          run.push({ blockHash: block.hash, tokensHash: block.tokensHash });
        }
      } else if (run.length > 0) {
        this.#onEvent({ stored: { parentHash: runParent, blocks: run } });
        run = [];
      }
      seq.blocks.push(block);
    }
    if (run.length > 0) this.#onEvent({ stored: { parentHash: runParent, blocks: run } });
    if (wantPartial) {
      this.#private++;
      seq.partial = true;
    }
    seq.tokens = numTokens;
    this.#sequences.set(seqId, seq);
    return seq.pending.slice();
  }

  /**
   * Releases a sequence's blocks. Cached ones stay cached (evictable once unreferenced), released
   * last block first so that LRU eviction takes the leaves of a prefix before its root.
   */
  free(seqId: string): void {
    const seq = this.#sequences.get(seqId);
    if (seq === undefined) return;
    this.#sequences.delete(seqId);
    if (seq.partial) this.#private--;
    for (let i = seq.blocks.length - 1; i >= 0; i--) {
      const block = seq.blocks[i] as Block;
      block.refs--;
      if (block.refs > 0) continue;
      if (block.cached) this.#evictable.set(block.hash, block);
      else this.#private--;
    }
  }

  /**
   * Empties the prefix cache (one `cleared` event). Blocks live sequences still hold become private
   * to them: they keep their KV but are no longer shared, and are freed when the sequences end.
   */
  clear(): void {
    for (const block of this.#cached.values()) {
      block.cached = false;
      if (block.refs > 0) this.#private++;
    }
    this.#cached.clear();
    this.#evictable.clear();
    this.#onEvent('cleared');
  }

  /** The whole cache as stored events, every parent before its children (a router's resync). */
  dump(): KvEventData[] {
    const children = new Map<string, Block[]>();
    const roots: Block[] = [];
    for (const block of this.#cached.values()) {
      // A block whose parent was evicted is a root here, keeping the parentHash it was announced with.
      if (block.parentHash === null || !this.#cached.has(block.parentHash)) {
        roots.push(block);
        continue;
      }
      const list = children.get(block.parentHash);
      if (list) list.push(block);
      else children.set(block.parentHash, [block]);
    }
    const events: KvEventData[] = [];
    // Each event is a chain of single children; a branch starts a new event under its parent.
    const stack = roots.map((block) => ({ block, parentHash: block.parentHash }));
    for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
      const blocks: StoredBlock[] = [];
      let block = next.block;
      for (;;) {
        blocks.push({ blockHash: block.hash, tokensHash: block.tokensHash });
        const kids = children.get(block.hash);
        if (kids === undefined) break;
        if (kids.length === 1) {
          block = kids[0] as Block;
          continue;
        }
        for (const kid of kids) stack.push({ block: kid, parentHash: block.hash });
        break;
      }
      events.push({ stored: { parentHash: next.parentHash, blocks } });
    }
    return events;
  }

  #ref(block: Block): void {
    if (block.refs === 0) this.#evictable.delete(block.hash);
    block.refs++;
  }

  /** Evicts the `count` least recently released unreferenced blocks, in one removed event. */
  #evict(count: number): void {
    if (count <= 0) return;
    const blockHashes: BlockHash[] = [];
    for (const victim of this.#evictable.values()) {
      if (blockHashes.length === count) break;
      blockHashes.push(victim.hash);
    }
    // allocate() checked capacity before calling: a shortfall here is a bug, not a full cache.
    if (blockHashes.length < count)
      throw new Error(`BlockManager: ${count} blocks to evict, ${blockHashes.length} evictable`);
    for (const hash of blockHashes) {
      this.#evictable.delete(hash);
      this.#cached.delete(hash);
    }
    this.#onEvent({ removed: { blockHashes } });
  }
}
