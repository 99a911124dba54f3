// The ONNX engine: continuous batching over one onnxruntime session, with a prefix cache of KV blocks.
// The shared Scheduler (../scheduler.ts) decides who runs, in which chunks, and who is preempted; this
// engine executes its steps:
//
//   generate() ─add─▶ Scheduler ─schedule()─▶ step ─▶ decode run  — every row feeding one token
//                         │                          prefill runs — the step's prompt chunks, each run at
//                         │                                         most maxNumBatchedTokens padded tokens
//                         │                    ─complete(step, sampled tokens)─▶ FrameChannel
//                         ├─ BlockManager ─KV events─▶ listeners, KvStore (evictions)
//                         └─ block hooks ─▶ KvStore (slots of each sequence's blocks)
//
// How rows of different lengths share one run: batch-layout.ts.
//
// Disaggregated serving (DESIGN §12; the shared parts in ../kv-transfer.ts): a prefill-phase request
// ends at its first token with its blocks pinned, served to decode workers by `kvProvider` straight
// from the KvStore; a decode-phase request is admitted importing, its missing full blocks are pulled
// into their slots off the engine loop, and the loop commits them (importDone) or fails the request
// between steps.
import {
  type FinishReason,
  type GenerateRequest,
  type GenerateResponse,
  type KvBlockLayout,
  type KvEventData,
  KvTransferError,
  type KvTransferErrorFrame,
  type LoadMetrics,
  type ModelCard,
} from '../../api/index.js';
import type { ModelDir } from '../../llm/model-dir.js';
import type { KvBlockProvider, KvBlockSink, KvPullSource } from '../../runtime/kv-data-plane.js';
import type { Logger } from '../../runtime/logger.js';
import { BlockManager } from '../block-manager.js';
import { type Engine, type KvEventListener, waitingFull } from '../engine.js';
import { FrameChannel } from '../frame-channel.js';
import { GrammarCompiler, type GrammarMask } from '../grammar/grammar-mask.js';
import { HashedSequence } from '../hashed-sequence.js';
import { type DisaggContext, KvTransfers, PendingImports } from '../kv-transfer.js';
import { PrefillMeter } from '../prefill-meter.js';
import {
  type ImportAdmission,
  Scheduler,
  type SchedulerRequest,
  type Step,
  type StepEntry,
} from '../scheduler.js';
import { type BatchRow, layoutBatch, type PastSource, splitRuns, storeNewKv } from './batch-layout.js';
import { DecodeBuffers, type SetIndex } from './decode-buffers.js';
import { KvStore, type SlotTable } from './kv-store.js';
import type { BatchOutputs, KvArray, ModelSession } from './model-session.js';
import { Sampler } from './sampler.js';

/** Tokens per KV block for the onnx engine (the model card's kvCacheBlockSize). */
export const ONNX_BLOCK_SIZE = 16;

export interface OnnxEngineConfig {
  totalKvBlocks: number;
  maxNumSeqs: number;
  /**
   * Tokens computed per step (the scheduler's budget, decodes included), and the padded tokens of one
   * prefill run: the bound on how long a new prompt stalls the running batch.
   */
  maxNumBatchedTokens: number;
  /** Requests that may wait for admission; more are refused as overloaded. Unbounded when absent. */
  maxWaiting?: number | undefined;
}

interface OnnxRequest extends SchedulerRequest {
  /** Slots of the blocks the BlockManager holds for it, kept in step by the scheduler's hooks. */
  readonly table: SlotTable;
  readonly sampler: Sampler;
  readonly out: FrameChannel;
  readonly disagg: GenerateRequest['disagg'];
  /** The last frame was taken by the consumer: a pin it names is the frontend's to release. */
  delivered: boolean;
  /** Why its import failed (decode phase), for the last frame. */
  transferError?: KvTransferErrorFrame;
}

type Row = StepEntry<OnnxRequest>;

export class OnnxEngine implements Engine {
  readonly card: ModelCard;
  readonly #session: ModelSession;
  readonly #log: Logger;
  readonly #config: OnnxEngineConfig;
  readonly #blocks: BlockManager;
  readonly #kv: KvStore;
  readonly #scheduler: Scheduler<OnnxRequest>;
  readonly #listeners = new Set<KvEventListener>();
  /** Aborted requests, cancelled between steps: a run in flight still writes into their slots. */
  readonly #cancels = new Set<string>();
  readonly #transfers: KvTransfers;
  readonly #prefill = new PrefillMeter();
  /** Structured output's grammars, compiled against this model's vocabulary on first use. */
  readonly #grammars: GrammarCompiler;
  /** Pulls in flight; one is aborted (and its sink shut) as soon as its request's blocks are freed. */
  readonly #imports: PendingImports<OnnxRequest>;
  #nextKey = 0;
  #stepNo = 0;
  /** Decode runs' past and present K/V (prefill runs let onnxruntime allocate theirs). */
  readonly #decodeKv: DecodeBuffers;
  /** The last decode run, for #keptPast: its present ([rows, kvHeads, width, headDim]) lies in set `set`. */
  #lastDecode:
    | { stepNo: number; reqs: OnnxRequest[]; computed: number[]; width: number; set: SetIndex }
    | undefined;
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
    this.#decodeKv = new DecodeBuffers(2 * session.numLayers, session.kvDtype);
    this.#blocks = new BlockManager({
      totalBlocks: config.totalKvBlocks,
      blockSize: ONNX_BLOCK_SIZE,
      onEvent: (data) => this.#onBlockEvent(data),
    });
    this.#scheduler = new Scheduler<OnnxRequest>(this.#blocks, config, {
      allocated: (req, numTokens, pending) =>
        this.#kv.extend(req.table, numTokens, req.seq.sequence, pending),
      committed: (req, cached) => this.#kv.commit(req.table, cached, req.seq.sequence),
      freed: (req) => {
        // A pull still running must not write into slots that are given back.
        this.#imports.stop(req.id);
        this.#kv.release(req.table);
      },
    });
    const layout: KvBlockLayout = {
      numLayers: session.numLayers,
      numKvHeads: session.numKvHeads,
      headDim: session.headDim,
      dtype: session.kvDtype,
      blockSize: ONNX_BLOCK_SIZE,
    };
    this.#transfers = new KvTransfers({
      model: model.name,
      layout,
      releasePin: (id) => this.#scheduler.releasePin(id),
    });
    this.#imports = new PendingImports(this.#scheduler, this.#transfers, () => this.#poke());
    this.card = {
      name: model.name,
      modelTypes: model.hasChatTemplate ? ['chat', 'completions'] : ['completions'],
      engine: 'onnx',
      contextLength: model.contextLength,
      kvCacheBlockSize: ONNX_BLOCK_SIZE,
      totalKvBlocks: config.totalKvBlocks,
      maxNumSeqs: config.maxNumSeqs,
      maxNumBatchedTokens: config.maxNumBatchedTokens,
      // The model's embedding rows: an id past them cannot be looked up.
      vocabSize: session.vocabSize,
      eosTokenIds: model.eosTokenIds,
      tokenizerChecksum: model.tokenizerChecksum,
      tokenizerConfigChecksum: model.tokenizerConfigChecksum,
      disaggregationMode: 'agg',
      kvLayout: {
        numLayers: layout.numLayers,
        numKvHeads: layout.numKvHeads,
        headDim: layout.headDim,
        dtype: layout.dtype,
      },
    };
    this.#grammars = new GrammarCompiler(model.tokenizerJson, session.vocabSize, model.eosTokenIds);
    this.#loop = this.#run();
  }

  readonly kvProvider: KvBlockProvider = {
    lookup: (handle, request): KvPullSource => {
      const accepted = this.#transfers.lookup(handle, request);
      const req = this.#scheduler.pinned(accepted.pinId);
      if (req === undefined) {
        accepted.close();
        throw new KvTransferError('unknown_handle', `the KV pin ${handle} is gone`);
      }
      return {
        read: (block, layer) => {
          const [k, v] = this.#kv.layerViews(req.table, accepted.indices[block] as number, layer);
          return [bytesOf(k), bytesOf(v)];
        },
        close: () => accepted.close(),
      };
    },
    release: (handle) => {
      this.#transfers.release(handle);
    },
  };

  attachDisagg(context: DisaggContext): void {
    this.#transfers.attach(context);
  }

  releaseKv(handle: string): boolean {
    return this.#transfers.release(handle);
  }

  /** Pins held (prefill phase), for tests and metrics. */
  get pinCount(): number {
    return this.#transfers.pinCount;
  }

  async *generate(request: GenerateRequest, signal: AbortSignal): AsyncIterable<GenerateResponse> {
    const grammar = request.grammar && (await this.#grammars.matcher(request.grammar));
    let added: OnnxRequest | GenerateResponse;
    try {
      added = this.#add(request, grammar);
    } catch (err) {
      grammar?.dispose();
      throw err;
    }
    if (!('id' in added)) {
      grammar?.dispose();
      yield added;
      return;
    }
    const req = added;
    const onAbort = (): void => {
      // Once the last frame is taken, a pin it names belongs to the frontend (pull or kv_release).
      if (req.delivered) return;
      this.#cancels.add(req.id);
      this.#poke();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    try {
      for (;;) {
        const frame = await req.out.next();
        if (frame.finishReason !== undefined) req.delivered = true;
        yield frame;
        if (frame.finishReason !== undefined) return;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      // A caller that stops reading early cancels the sequence (and drops a pin it was not told of).
      if (!req.delivered) onAbort();
      grammar?.dispose();
    }
  }

  onKvEvent(listener: KvEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  loadMetrics(): Omit<LoadMetrics, 'workerId'> {
    return {
      activeBlocks: this.#blocks.activeBlocks,
      totalBlocks: this.#blocks.totalBlocks,
      waitingRequests: this.#scheduler.waiting,
      runningRequests: this.#scheduler.running,
      pendingPrefillTokens: this.#scheduler.pendingPrefillTokens,
      ...this.#prefill.totals(),
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
    this.#scheduler.cancelAll('cancelled');
    this.#transfers.releaseAll();
    for (const id of this.#scheduler.pinIds()) this.#scheduler.releasePin(id);
    await this.#session.release();
  }

  /** The request queued, or the last frame of a decode request whose descriptor is refused. */
  #add(request: GenerateRequest, grammar?: GrammarMask): OnnxRequest | GenerateResponse {
    if (this.#closed) throw new Error('engine closed');
    const refusal = this.#transfers.refusal(request);
    if (refusal !== undefined) throw new Error(refusal);
    if (this.#scheduler.full) throw waitingFull(this.#scheduler.waiting);
    const vocab = this.#session.vocabSize;
    const bad = request.tokenIds.find((t) => t >= vocab);
    if (bad !== undefined)
      throw new RangeError(`tokenIds: ${bad} is outside the vocabulary (${vocab} tokens)`);
    const context = this.card.contextLength;
    const room = context - request.tokenIds.length;
    if (room <= 0) {
      throw new RangeError(
        `tokenIds: ${request.tokenIds.length} prompt tokens leave no room in the context of ${context}`,
      );
    }
    const stopIds = new Set(request.stop.stopTokenIds ?? []);
    if (request.stop.ignoreEos !== true) for (const id of this.card.eosTokenIds) stopIds.add(id);
    const seq = new HashedSequence(request.tokenIds, ONNX_BLOCK_SIZE);
    const disagg = request.disagg;
    const refused = this.#transfers.validateDescriptor(request, seq.sequence);
    if (refused !== undefined) {
      this.#transfers.failed(refused.code);
      this.#log.warn({ requestId: request.requestId, code: refused.code }, refused.detail);
      const transferError = { code: refused.code, message: refused.detail };
      return { tokenIds: [], finishReason: 'error', transferError };
    }
    const out = new FrameChannel();
    const id = `${this.#nextKey++}:${request.requestId}`;
    // Decode phase: the frontend sent the prefill worker's first token already; it is this request's
    // first output (for stop and max tokens) but not streamed again.
    let skipFirst = disagg?.phase === 'decode';
    const ban = { ids: stopIds, untilOutputs: request.stop.minTokens ?? 0 };
    const sampler = new Sampler(request.sampling, request.tokenIds, this.#session.logitsArena, ban, grammar);
    if (disagg?.phase === 'decode') {
      sampler.observe(disagg.firstTokenId);
      grammar?.accept(disagg.firstTokenId);
    }
    const req: OnnxRequest = {
      id,
      seq,
      promptLength: request.tokenIds.length,
      maxOutputs: Math.min(request.stop.maxTokens ?? room, room),
      stopIds,
      ...(disagg?.phase === 'prefill' ? { prefillOnly: true } : {}),
      ...(disagg?.phase === 'decode' ? { importKv: { firstToken: disagg.firstTokenId } } : {}),
      sink: {
        token: (tokenId, cachedTokens) => {
          if (!skipFirst) return out.push(tokenId, cachedTokens, sampler.takeLogprob());
          skipFirst = false;
          if (cachedTokens !== undefined) out.cached(cachedTokens);
        },
        finish: (reason, message) => {
          if (message !== undefined) this.#log.warn({ seq: id, reason: message }, 'sequence failed');
          if (this.#scheduler.pinned(id) !== undefined) return this.#pinned(req, reason);
          const transferError = req.transferError;
          out.finish(reason, transferError === undefined ? undefined : { transferError });
        },
      },
      table: { slots: [], full: 0 },
      sampler,
      out,
      disagg,
      delivered: false,
    };
    this.#scheduler.add(req);
    this.#poke();
    return req;
  }

  /** A prefill-phase request sampled its token: a descriptor for its pin, or no pin (stop). */
  #pinned(req: OnnxRequest, reason: FinishReason): void {
    if (reason !== 'length' || this.#closed) {
      this.#scheduler.releasePin(req.id);
      req.out.finish(reason);
      return;
    }
    const transfer = this.#transfers.pin(req.id, req.seq.sequence, req.promptLength);
    req.out.finish(reason, { transfer });
  }

  /** An import was admitted: pull its missing blocks into their slots, off the engine loop. */
  #startImport(admission: ImportAdmission<OnnxRequest>): void {
    const { req, missing, missingHashes } = admission;
    if (req.disagg?.phase !== 'decode') throw new Error(`${req.id}: an import without a descriptor`);
    const descriptor = req.disagg.descriptor;
    this.#imports.start(req, (signal) => {
      const sink: KvBlockSink = (block, layer, bytes) => {
        signal.throwIfAborted();
        const [k, v] = this.#kv.layerViews(req.table, missing[block] as number, layer);
        const kb = bytesOf(k);
        const vb = bytesOf(v);
        if (bytes.byteLength !== kb.byteLength + vb.byteLength)
          throw new KvTransferError(
            'layout_mismatch',
            `block ${block} layer ${layer}: ${bytes.byteLength} bytes, this worker's blocks hold ${kb.byteLength + vb.byteLength}`,
          );
        kb.set(bytes.subarray(0, kb.byteLength));
        vb.set(bytes.subarray(kb.byteLength));
      };
      return this.#transfers.pull(descriptor, missingHashes, sink, signal).then(() => {});
    });
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
      let step: Step<OnnxRequest> | undefined;
      try {
        for (const id of this.#cancels) {
          // Finished already: a pin its consumer never learnt of goes too.
          if (!this.#scheduler.cancel(id)) this.#transfers.releasePinId(id);
        }
        this.#cancels.clear();
        this.#imports.apply();
        step = this.#scheduler.schedule();
        if (step === undefined) {
          await new Promise<void>((resolve) => {
            this.#wake = resolve;
          });
          continue;
        }
        for (const admission of step.imports) this.#startImport(admission);
        if (step.entries.length > 0) {
          const startedAt = performance.now();
          await this.#execute(step);
          this.#prefill.record(step.prefillTokens, performance.now() - startedAt);
        }
      } catch (err) {
        // A bug must not hang every stream: fail what ran, forget the cache, keep serving.
        this.#log.error({ err }, 'engine step failed; failing its sequences');
        const message = `engine error: ${(err as Error).message}`;
        for (const e of step?.entries ?? []) this.#scheduler.cancel(e.req.id, 'error', message);
        this.#lastDecode = undefined;
        this.#blocks.clear();
      }
    }
  }

  /** One decode run for the rows feeding one token, then the prompt chunks in runs within the budget. */
  async #execute(step: Step<OnnxRequest>): Promise<void> {
    const sampled = new Map<Row, number>();
    const decode = step.entries.filter((e) => e.tokens === 1);
    if (decode.length > 0) await this.#runRows(decode, true, sampled);
    const prefill = step.entries.filter((e) => e.tokens > 1);
    for (const rows of splitRuns(prefill, this.#config.maxNumBatchedTokens)) {
      await this.#runRows(rows, false, sampled);
    }
    this.#stepNo++;
    this.#scheduler.complete(step, (e) => {
      const token = sampled.get(e);
      if (token === undefined) throw new Error(`no token sampled for ${e.req.id}`);
      return token;
    });
  }

  async #runRows(rows: readonly Row[], decoding: boolean, sampled: Map<Row, number>): Promise<void> {
    const s = this.#session;
    const batch: BatchRow[] = rows.map((e) => ({
      tokens: e.req.seq.tokens,
      past: e.computed,
      count: e.tokens,
      table: e.req.table,
    }));
    // Decode: the past is the last decode's present where it lies (set k), else gathered into set 0;
    // the present goes to the other set.
    const kept = decoding ? this.#keptPast(rows) : undefined;
    const pastSet: SetIndex = kept?.set ?? 0;
    const presentSet: SetIndex = pastSet === 0 ? 1 : 0;
    const source: PastSource | undefined =
      kept?.source ??
      (decoding ? { kind: 'into', arrays: (size) => this.#decodeKv.views(0, size) } : undefined);
    const feeds = layoutBatch(batch, this.#kv, s, source);
    const presentSize = feeds.rows * s.numKvHeads * (feeds.pastLen + feeds.seqLen) * s.headDim;
    let out: BatchOutputs;
    try {
      out = await s.run(feeds, decoding ? this.#decodeKv.views(presentSet, presentSize) : undefined);
    } catch (err) {
      this.#log.error({ err }, 'session.run failed; failing its sequences and clearing the cache');
      const message = `inference failed: ${(err as Error).message}`;
      for (const e of rows) this.#scheduler.cancel(e.req.id, 'error', message);
      // Blocks announced for this run hold no valid KV: nobody may reuse them.
      this.#lastDecode = undefined;
      this.#blocks.clear();
      return;
    }
    storeNewKv(batch, this.#kv, out.present, feeds);
    const vocab = s.vocabSize;
    for (let r = 0; r < rows.length; r++) {
      const e = rows[r] as Row;
      if (!e.samples) continue;
      const { sampler } = e.req;
      const ready = sampler.ready(); // structured output: the grammar's next mask
      if (ready !== undefined) await ready;
      const token = sampler.sample(out.logits, (r * out.logitsLen + out.logitsLen - 1) * vocab, vocab);
      sampler.observe(token);
      sampled.set(e, token);
    }
    if (decoding) {
      this.#lastDecode = {
        stepNo: this.#stepNo,
        reqs: rows.map((e) => e.req),
        computed: rows.map((e) => e.computed + e.tokens),
        width: feeds.pastLen + feeds.seqLen,
        set: presentSet,
      };
    }
  }

  /**
   * The previous step's decode run's present K/V as this run's past, where it lies, when this run's
   * rows are some of that run's sequences, in the same order and each one token further (the rows of
   * those that finished are dropped: the later rows move up within the buffer), followed by sequences
   * that joined, gathered from the store into their rows when their past fits the width. Otherwise
   * undefined: every row is gathered.
   */
  #keptPast(rows: readonly Row[]): { source: PastSource; set: SetIndex } | undefined {
    const last = this.#lastDecode;
    this.#lastDecode = undefined;
    if (last === undefined || last.stepNo !== this.#stepNo - 1) return undefined;
    const rowSize = this.#session.numKvHeads * last.width * this.#session.headDim;
    const index = new Map(last.reqs.map((req, i) => [req, i] as const));
    const moves: [from: number, to: number][] = [];
    const gather = new Set<number>();
    let previous = -1;
    for (let r = 0; r < rows.length; r++) {
      const e = rows[r] as Row;
      const i = index.get(e.req);
      if (i !== undefined && last.computed[i] === e.computed) {
        if (gather.size > 0 || i <= previous) return undefined;
        previous = i;
        if (i !== r) moves.push([i, r]);
      } else if (e.computed <= last.width) {
        gather.add(r);
      } else {
        return undefined;
      }
    }
    // More rows than the set holds: it grows with its contents (rarely: it grows by half again).
    const span = Math.max(rows.length, last.reqs.length) * rowSize;
    // Ascending: a row only moves up (to ≤ from), onto rows already moved or dropped.
    for (const a of this.#decodeKv.views(last.set, span, true)) {
      for (const [from, to] of moves) a.copyWithin(to * rowSize, from * rowSize, (from + 1) * rowSize);
    }
    const arrays = this.#decodeKv.views(last.set, rows.length * rowSize);
    return { source: { kind: 'kept', arrays, width: last.width, gather }, set: last.set };
  }
}

/** The bytes of a KV view, without copying. */
function bytesOf(a: KvArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
