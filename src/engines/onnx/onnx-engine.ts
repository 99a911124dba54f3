// The ONNX engine: continuous batching over one onnxruntime session, with a prefix cache of KV blocks.
//
//   generate() ──▶ waiting ──admit (prefix-cache hit: skip the cached blocks)──▶ running
//   each step:  decode run   — every running sequence with one token to feed, in one session.run
//               prefill run  — chunks of new prompts, at most maxNumBatchedTokens padded tokens, so a
//                              long prompt never stalls the running batch for more than one chunk
//   after a run: new K/V go into the sequences' blocks; finished sequences leave; blocks stay cached.
//
// How rows of different lengths share one run: batch-layout.ts.
import type {
  GenerateRequest,
  GenerateResponse,
  KvEventData,
  LoadMetrics,
  ModelCard,
} from '../../api/index.js';
import type { ModelDir } from '../../llm/model-dir.js';
import type { Logger } from '../../runtime/logger.js';
import { BlockManager } from '../block-manager.js';
import type { Engine, KvEventListener } from '../engine.js';
import { FrameChannel } from '../frame-channel.js';
import { HashedSequence } from '../hashed-sequence.js';
import { type BatchRow, layoutBatch, storeNewKv } from './batch-layout.js';
import { KvStore, type SlotTable } from './kv-store.js';
import type { BatchOutputs, KvArray, ModelSession } from './model-session.js';
import { Sampler } from './sampler.js';

/** Tokens per KV block for the onnx engine (the model card's kvCacheBlockSize). */
export const ONNX_BLOCK_SIZE = 16;

export interface OnnxEngineConfig {
  totalKvBlocks: number;
  maxNumSeqs: number;
  /** Padded tokens of one prefill run: the bound on how long a new prompt stalls the running batch. */
  maxNumBatchedTokens: number;
}

interface Seq {
  /** Unique within the engine (request ids may repeat across clients). */
  readonly key: string;
  /** Prompt and output tokens, with the hashes of their full blocks. */
  readonly tokens: HashedSequence;
  computed: number;
  generated: number;
  readonly maxTokens: number;
  readonly stopIds: ReadonlySet<number>;
  readonly table: SlotTable;
  readonly sampler: Sampler;
  readonly out: FrameChannel;
  /** Prompt tokens served from the cache at (first) admission; sent on the first frame. */
  cachedTokens: number | undefined;
  cancelled: boolean;
  done: boolean;
}

interface Row {
  seq: Seq;
  count: number;
}

export class OnnxEngine implements Engine {
  readonly card: ModelCard;
  readonly #session: ModelSession;
  readonly #log: Logger;
  readonly #config: OnnxEngineConfig;
  readonly #blocks: BlockManager;
  readonly #kv: KvStore;
  readonly #listeners = new Set<KvEventListener>();
  readonly #waiting: Seq[] = [];
  #running: Seq[] = [];
  #nextKey = 0;
  /** The last decode run, for #reusablePast. */
  #lastDecode: { seqs: Seq[]; computed: number[]; present: KvArray[] } | undefined;
  #wake: (() => void) | null = null;
  #closed = false;
  readonly #loop: Promise<void>;

  constructor(session: ModelSession, model: ModelDir, config: OnnxEngineConfig, log: Logger) {
    this.#session = session;
    this.#config = config;
    this.#log = log;
    this.#kv = new KvStore({
      numSlots: config.totalKvBlocks,
      numLayers: session.numLayers,
      numKvHeads: session.numKvHeads,
      blockSize: ONNX_BLOCK_SIZE,
      headDim: session.headDim,
      dtype: session.kvDtype,
    });
    this.#blocks = new BlockManager({
      totalBlocks: config.totalKvBlocks,
      blockSize: ONNX_BLOCK_SIZE,
      onEvent: (data) => this.#onBlockEvent(data),
    });
    this.card = {
      name: model.name,
      modelTypes: model.tokenizerConfigJson?.includes('"chat_template"')
        ? ['chat', 'completions']
        : ['completions'],
      engine: 'onnx',
      contextLength: model.contextLength,
      kvCacheBlockSize: ONNX_BLOCK_SIZE,
      totalKvBlocks: config.totalKvBlocks,
      maxNumSeqs: config.maxNumSeqs,
      maxNumBatchedTokens: config.maxNumBatchedTokens,
      eosTokenIds: model.eosTokenIds,
      tokenizerChecksum: model.tokenizerChecksum,
      tokenizerConfigChecksum: model.tokenizerConfigChecksum,
    };
    this.#loop = this.#run();
  }

  async *generate(request: GenerateRequest, signal: AbortSignal): AsyncIterable<GenerateResponse> {
    const seq = this.#admitRequest(request);
    const onAbort = (): void => {
      seq.cancelled = true;
      this.#poke();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    try {
      for (;;) {
        const frame = await seq.out.next();
        yield frame;
        if (frame.finishReason !== undefined) return;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      // A caller that stops reading early cancels the sequence.
      if (!seq.done) onAbort();
    }
  }

  onKvEvent(listener: KvEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  loadMetrics(): Omit<LoadMetrics, 'workerId'> {
    let pending = 0;
    for (const s of this.#waiting) pending += s.tokens.length - s.computed;
    for (const s of this.#running)
      if (s.tokens.length - s.computed > 1) pending += s.tokens.length - s.computed;
    return {
      activeBlocks: this.#blocks.activeBlocks,
      totalBlocks: this.#blocks.totalBlocks,
      waitingRequests: this.#waiting.length,
      runningRequests: this.#running.length,
      pendingPrefillTokens: pending,
    };
  }

  dumpKvState(): KvEventData[] {
    return this.#blocks.dump();
  }

  /** Free KV slots and the manager's free blocks: equal at every step (for tests). */
  kvAccounting(): { freeSlots: number; freeBlocks: number } {
    return { freeSlots: this.#kv.freeSlots, freeBlocks: this.#blocks.freeBlocks };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#poke();
    await this.#loop;
    for (const seq of [...this.#running, ...this.#waiting]) this.#finish(seq, 'cancelled');
    this.#waiting.length = 0;
    await this.#session.release();
  }

  #admitRequest(request: GenerateRequest): Seq {
    if (this.#closed) throw new Error('engine closed');
    const vocab = this.#session.vocabSize;
    const bad = request.tokenIds.find((t) => t >= vocab);
    if (bad !== undefined)
      throw new RangeError(`tokenIds: ${bad} is outside the vocabulary (${vocab} tokens)`);
    const context = this.card.contextLength;
    if (request.tokenIds.length >= context) {
      throw new RangeError(
        `tokenIds: ${request.tokenIds.length} prompt tokens leave no room in the context of ${context}`,
      );
    }
    const stopIds = new Set(request.stop.stopTokenIds ?? []);
    if (request.stop.ignoreEos !== true) for (const id of this.card.eosTokenIds) stopIds.add(id);
    const seq: Seq = {
      key: `${this.#nextKey++}:${request.requestId}`,
      tokens: new HashedSequence(request.tokenIds, ONNX_BLOCK_SIZE),
      computed: 0,
      generated: 0,
      maxTokens: request.stop.maxTokens ?? context - request.tokenIds.length,
      stopIds,
      table: { slots: [], full: 0 },
      sampler: new Sampler(request.sampling, request.tokenIds, this.#session.logitsArena),
      out: new FrameChannel(),
      cachedTokens: undefined,
      cancelled: false,
      done: false,
    };
    this.#waiting.push(seq);
    this.#poke();
    return seq;
  }

  #onBlockEvent(data: KvEventData): void {
    this.#kv.onEvent(data);
    for (const listener of this.#listeners) listener(data);
  }

  #poke(): void {
    this.#wake?.();
    this.#wake = null;
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      try {
        this.#reap();
        this.#admit();
        if (this.#running.length === 0) {
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
          continue;
        }
        const decode: Row[] = [];
        for (const seq of this.#running) {
          if (seq.tokens.length - seq.computed === 1) decode.push({ seq, count: 1 });
        }
        if (decode.length > 0) await this.#step(decode, true);
        this.#reap();
        const prefill = this.#prefillRows();
        if (prefill.length > 0) await this.#step(prefill, false);
      } catch (err) {
        // A bug must not hang every stream: fail what runs, forget the cache, keep serving.
        this.#log.error({ err }, 'engine step failed; failing the running sequences');
        for (const seq of this.#running) this.#fail(seq, `engine error: ${(err as Error).message}`);
        this.#lastDecode = undefined;
        this.#blocks.clear();
      }
    }
  }

  /** Ends cancelled sequences and drops finished ones from the running list. */
  #reap(): void {
    for (const seq of this.#running) if (seq.cancelled && !seq.done) this.#finish(seq, 'cancelled');
    for (let i = this.#waiting.length - 1; i >= 0; i--) {
      const seq = this.#waiting[i] as Seq;
      if (seq.cancelled) {
        this.#finish(seq, 'cancelled');
        this.#waiting.splice(i, 1);
      }
    }
    this.#running = this.#running.filter((s) => !s.done);
  }

  /** Moves waiting sequences into the running batch, first come first served, reusing cached prefixes. */
  #admit(): void {
    const B = ONNX_BLOCK_SIZE;
    while (this.#waiting.length > 0 && this.#running.length < this.#config.maxNumSeqs) {
      const seq = this.#waiting[0] as Seq;
      const len = seq.tokens.length;
      // At least one token is always computed: its logits give the next token.
      const reuse = Math.min(this.#blocks.matchPrefix(seq.tokens.sequence), Math.floor((len - 1) / B));
      if (!this.#allocate(seq, reuse * B)) break;
      const needed = Math.ceil((len + 1) / B) - reuse;
      if (needed > this.#blocks.totalBlocks - this.#blocks.activeBlocks) {
        this.#release(seq);
        if (this.#running.length === 0) {
          this.#waiting.shift();
          this.#fail(seq, `the prompt needs ${needed} KV blocks; the cache has ${this.#blocks.totalBlocks}`);
          continue;
        }
        break;
      }
      this.#waiting.shift();
      seq.computed = reuse * B;
      seq.cachedTokens ??= reuse * B;
      this.#running.push(seq);
    }
  }

  #allocate(seq: Seq, numTokens: number): boolean {
    if (!this.#blocks.allocate(seq.key, numTokens, seq.tokens)) return false;
    this.#kv.extend(seq.table, numTokens, seq.tokens.sequence);
    return true;
  }

  #release(seq: Seq): void {
    this.#blocks.free(seq.key);
    this.#kv.release(seq.table);
  }

  /** Prefill chunks, oldest first, within the padded-token budget. */
  #prefillRows(): Row[] {
    const budget = this.#config.maxNumBatchedTokens;
    const rows: Row[] = [];
    let width = 0;
    for (const seq of this.#running) {
      const remaining = seq.tokens.length - seq.computed;
      if (remaining <= 1 || seq.done) continue;
      const count = Math.min(remaining, budget);
      const nextWidth = Math.max(width, count);
      if ((rows.length + 1) * nextWidth > budget) break;
      rows.push({ seq, count });
      width = nextWidth;
    }
    return rows;
  }

  /**
   * Gives each row its blocks. When the cache is full, the newest running sequence outside the rows
   * already served is preempted (possibly the row's own); only a sequence alone in the engine that
   * still does not fit fails.
   */
  #reserve(rows: Row[]): Row[] {
    const kept: Row[] = [];
    const preempted = new Set<Seq>();
    for (const row of rows) {
      if (preempted.has(row.seq)) continue;
      for (;;) {
        if (this.#allocate(row.seq, row.seq.computed + row.count)) {
          kept.push(row);
          break;
        }
        const victim = this.#running.findLast((s) => !s.done && !kept.some((r) => r.seq === s));
        if (victim === undefined || (victim === row.seq && kept.length === 0 && this.#liveRunning() === 1)) {
          this.#fail(row.seq, `out of KV blocks: ${this.#blocks.totalBlocks} cannot hold one sequence`);
          break;
        }
        this.#preempt(victim);
        preempted.add(victim);
        if (victim === row.seq) break;
      }
    }
    return kept;
  }

  #liveRunning(): number {
    let n = 0;
    for (const s of this.#running) if (!s.done) n++;
    return n;
  }

  /** Frees a sequence's blocks and queues it again; it recomputes (mostly from the cache) when readmitted. */
  #preempt(seq: Seq): void {
    this.#log.debug({ seq: seq.key }, 'preempting a sequence: KV cache full');
    this.#release(seq);
    seq.computed = 0;
    this.#running = this.#running.filter((s) => s !== seq);
    this.#waiting.unshift(seq);
  }

  async #step(candidates: Row[], decoding: boolean): Promise<void> {
    const rows = this.#reserve(candidates);
    if (rows.length === 0) return;
    const s = this.#session;
    const batch: BatchRow[] = rows.map(({ seq, count }) => ({
      tokens: seq.tokens.tokens,
      past: seq.computed,
      count,
      table: seq.table,
    }));
    const feeds = layoutBatch(batch, this.#kv, s, decoding ? this.#reusablePast(rows) : undefined);
    let out: BatchOutputs;
    try {
      out = await s.run(feeds);
    } catch (err) {
      this.#log.error({ err }, 'session.run failed; failing its sequences and clearing the cache');
      for (const { seq } of rows) this.#fail(seq, `inference failed: ${(err as Error).message}`);
      // Blocks announced for this run hold no valid KV: nobody may reuse them.
      this.#lastDecode = undefined;
      this.#blocks.clear();
      return;
    }
    storeNewKv(batch, this.#kv, out.present, feeds);
    const vocab = s.vocabSize;
    for (let r = 0; r < rows.length; r++) {
      const { seq, count } = rows[r] as Row;
      seq.computed += count;
      if (seq.done || seq.computed < seq.tokens.length) continue;
      this.#emit(seq, seq.sampler.sample(out.logits, (r * out.logitsLen + out.logitsLen - 1) * vocab, vocab));
    }
    if (decoding) {
      this.#lastDecode = {
        seqs: rows.map((r) => r.seq),
        computed: rows.map((r) => r.seq.computed),
        present: out.present,
      };
    }
  }

  /**
   * The previous decode run's present K/V is this run's past when the batch is the same sequences in
   * the same order, each one token further: same left padding, nothing to gather from the blocks.
   */
  #reusablePast(rows: readonly Row[]): KvArray[] | undefined {
    const last = this.#lastDecode;
    this.#lastDecode = undefined;
    if (last === undefined || last.seqs.length !== rows.length) return undefined;
    for (let r = 0; r < rows.length; r++) {
      const seq = (rows[r] as Row).seq;
      if (seq !== last.seqs[r] || seq.computed !== last.computed[r]) return undefined;
    }
    return last.present;
  }

  #emit(seq: Seq, token: number): void {
    seq.sampler.observe(token);
    seq.generated++;
    // As the mocker does, a stop token is the last token of the output (the frontend drops special
    // tokens from the text).
    seq.tokens.push(token);
    seq.out.push(token, seq.generated === 1 ? (seq.cachedTokens ?? 0) : undefined);
    if (seq.stopIds.has(token)) {
      seq.out.finish('stop');
      this.#end(seq);
    } else if (seq.generated >= seq.maxTokens || seq.tokens.length >= this.card.contextLength) {
      seq.out.finish('length');
      this.#end(seq);
    }
  }

  #fail(seq: Seq, reason: string): void {
    this.#log.warn({ seq: seq.key, reason }, 'sequence failed');
    this.#finish(seq, 'error');
  }

  #finish(seq: Seq, finishReason: 'cancelled' | 'error'): void {
    if (seq.done) return;
    seq.out.finish(finishReason);
    this.#end(seq);
  }

  #end(seq: Seq): void {
    seq.done = true;
    this.#release(seq);
  }
}
