// The mocker: an Engine that simulates a GPU engine's scheduling, timing and KV cache without a model
// (after Dynamo's mocker). Routing, KV events, load metrics and scale can be exercised on CPUs; its
// token ids are pseudo-random but deterministic per request.
//
//   generate() ─add─▶ Scheduler ─schedule()─▶ step ─clock.sleep(stepMs)─▶ complete() ─▶ FrameChannel
//                         │ BlockManager ─KV events─▶ listeners (the worker numbers and publishes them)
//
// Disaggregated serving (DESIGN §12): the mocker moves no bytes. A decode-phase import waits
// bytes / bandwidth + latency on the clock for the blocks it lacks (bytes from kvLayout), then does the
// data-plane handshake — a release-only pull of no blocks, which validates the handle and releases the
// prefill worker's pin — and commits. Its provider validates pulls like the ONNX engine's and serves
// zero bytes of the right length.
import { z } from 'zod';
import {
  type FinishReason,
  type GenerateRequest,
  type GenerateResponse,
  type KvBlockLayout,
  type KvEventData,
  KvTransferError,
  type KvTransferErrorFrame,
  kvLayerBlockBytes,
  type LoadMetrics,
  type ModelCard,
  type TokenLogprob,
} from '../../api/index.js';
import type { KvBlockProvider, KvPullSource } from '../../runtime/kv-data-plane.js';
import type { Logger } from '../../runtime/logger.js';
import { BlockManager } from '../block-manager.js';
import { type Engine, type KvEventListener, waitingFull } from '../engine.js';
import { FrameChannel } from '../frame-channel.js';
import type { GrammarCompiler, GrammarMask } from '../grammar/grammar-mask.js';
import { HashedSequence } from '../hashed-sequence.js';
import { type DisaggContext, KvTransfers, PendingImports } from '../kv-transfer.js';
import { PrefillMeter } from '../prefill-meter.js';
import { type ImportAdmission, Scheduler, type SchedulerRequest, type Step } from '../scheduler.js';
import { type Clock, systemClock } from './clock.js';
import { stepMs, timingModelSchema, transferMs } from './timing.js';

const checksum = z.string().regex(/^[0-9a-f]{64}$/);

export const MOCKER_DEFAULT_MAX_NUM_SEQS = 256;

export const mockerOptionsSchema = z.object({
  modelName: z.string().min(1),
  numGpuBlocks: z.number().int().positive().default(16384),
  blockSize: z.number().int().positive().max(65536).default(64),
  maxNumSeqs: z.number().int().positive().default(MOCKER_DEFAULT_MAX_NUM_SEQS),
  /** Requests that may wait for admission; more are refused as overloaded. Unbounded when absent. */
  maxWaiting: z.number().int().nonnegative().optional(),
  maxNumBatchedTokens: z.number().int().positive().default(8192),
  contextLength: z.number().int().positive().default(32768),
  timing: timingModelSchema.default({
    prefill: [4.209989e-7, 1.518344e-2, 16.50142],
    decode: [-25.74, 54.01, 5.74],
    speedupRatio: 1,
  }),
  /** Steps take no simulated time at all (benchmarks of everything but the engine). */
  noDelay: z.boolean().default(false),
  /** The simulated model's KV shape (what a transfer would move): Llama-3-8B's by default. */
  kvLayout: z
    .object({
      numLayers: z.number().int().positive().max(1024).default(32),
      numKvHeads: z.number().int().positive().max(1024).default(8),
      headDim: z.number().int().positive().max(4096).default(128),
      dtype: z.enum(['float32', 'float16']).default('float16'),
    })
    .default({ numLayers: 32, numKvHeads: 8, headDim: 128, dtype: 'float16' }),
  /** Simulated KV transfer link, in GB/s (10⁹ bytes per second). */
  kvTransferBandwidth: z.number().positive().default(25),
  /** Fixed latency of one simulated KV transfer, in ms. */
  kvTransferLatencyMs: z.number().nonnegative().default(1),
  /** What the worker serves on model_files: the card names these. */
  tokenizer: z.object({
    checksum,
    configChecksum: checksum.nullable(),
    /** Sampled token ids are drawn from [0, vocabSize): ordinary tokens, no special ones. */
    vocabSize: z.number().int().positive(),
    /** Prompt ids must be below this (vocabulary and added tokens), in the card; unchecked when absent. */
    idLimit: z.number().int().positive().optional(),
    eosTokenIds: z.array(z.number().int().nonnegative()),
  }),
});
export type MockerOptions = z.input<typeof mockerOptionsSchema>;

/** What a step did, for tests and diagnostics. */
export interface StepReport {
  prefillTokens: number;
  decodes: number;
  preempted: number;
  durationMs: number;
  activeBlocks: number;
}

/** A simulated KV transfer of a decode-phase request, for tests and diagnostics. */
export interface TransferReport {
  /** Blocks it lacked and "pulled". */
  blocks: number;
  bytes: number;
  /** Simulated time waited (on the clock). */
  waitMs: number;
}

export interface MockerDeps {
  clock?: Clock;
  log?: Logger;
  onStep?: (report: StepReport) => void;
  onTransfer?: (report: TransferReport) => void;
  /** Structured output: grammars over the served tokenizer (without, a request with one is refused). */
  grammars?: GrammarCompiler;
}

const IDLE = Number.NEGATIVE_INFINITY;

interface MockRequest extends SchedulerRequest {
  /** The next token, given how many were sampled before: deterministic, so a recompute changes nothing. */
  readonly sample: (index: number) => number;
  readonly channel: FrameChannel;
  readonly disagg: GenerateRequest['disagg'];
  /** Structured output: the draw moves to the next token the grammar allows. */
  readonly grammar: GrammarMask | undefined;
  /** The last frame was taken by the consumer: a pin it names is the frontend's to release. */
  delivered: boolean;
  transferError?: KvTransferErrorFrame;
}

/** A stateless 32-bit mix of (seed, index): the same request samples the same tokens, however scheduled. */
function mix(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function promptSeed(tokens: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const t of tokens) h = Math.imul(h ^ t, 0x01000193);
  return h >>> 0;
}

export class MockerEngine implements Engine {
  readonly card: ModelCard;
  readonly #options: z.output<typeof mockerOptionsSchema>;
  readonly #clock: Clock;
  readonly #onStep: ((report: StepReport) => void) | undefined;
  readonly #log: Logger | undefined;
  readonly #grammars: GrammarCompiler | undefined;
  readonly #listeners = new Set<KvEventListener>();
  readonly #blocks: BlockManager;
  readonly #scheduler: Scheduler<MockRequest>;
  readonly #eos: ReadonlySet<number>;
  readonly #onTransfer: ((report: TransferReport) => void) | undefined;
  readonly #transfers: KvTransfers;
  readonly #prefill = new PrefillMeter();
  /** Imports waiting or pulling: aborted when the request ends, applied before the next schedule. */
  readonly #imports: PendingImports<MockRequest>;
  /** One block-layer of zeros: what the provider serves (the mocker holds no KV). */
  #zeros: Uint8Array | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  #nextKey = 0;
  /** When the step in progress ends, on the clock. */
  #due = IDLE;
  readonly #loop: Promise<void>;

  constructor(options: MockerOptions, deps: MockerDeps = {}) {
    const o = mockerOptionsSchema.parse(options);
    this.#options = o;
    this.#clock = deps.clock ?? systemClock;
    this.#onStep = deps.onStep;
    this.#log = deps.log;
    this.#grammars = deps.grammars;
    this.#eos = new Set(o.tokenizer.eosTokenIds);
    this.#blocks = new BlockManager({
      totalBlocks: o.numGpuBlocks,
      blockSize: o.blockSize,
      onEvent: (data: KvEventData) => {
        for (const listener of this.#listeners) listener(data);
      },
    });
    this.#onTransfer = deps.onTransfer;
    this.#scheduler = new Scheduler<MockRequest>(this.#blocks, o, {
      freed: (req) => this.#imports.stop(req.id),
    });
    const layout: KvBlockLayout = { ...o.kvLayout, blockSize: o.blockSize };
    this.#transfers = new KvTransfers({
      model: o.modelName,
      layout,
      releasePin: (id) => this.#scheduler.releasePin(id),
    });
    this.#imports = new PendingImports(this.#scheduler, this.#transfers, () => this.#wake?.());
    this.card = {
      name: o.modelName,
      // Chat needs a template, which lives in tokenizer_config.json.
      modelTypes: o.tokenizer.configChecksum === null ? ['completions'] : ['chat', 'completions'],
      engine: 'mocker',
      contextLength: o.contextLength,
      kvCacheBlockSize: o.blockSize,
      totalKvBlocks: o.numGpuBlocks,
      maxNumSeqs: o.maxNumSeqs,
      maxNumBatchedTokens: o.maxNumBatchedTokens,
      ...(o.tokenizer.idLimit === undefined ? {} : { vocabSize: o.tokenizer.idLimit }),
      eosTokenIds: o.tokenizer.eosTokenIds,
      tokenizerChecksum: o.tokenizer.checksum,
      tokenizerConfigChecksum: o.tokenizer.configChecksum,
      disaggregationMode: 'agg',
      kvLayout: { ...o.kvLayout },
    };
    this.#loop = this.#run().catch((err: unknown) => {
      // A bug in the loop must not leave streams hanging: end them all, refuse new ones.
      this.#closed = true;
      this.#log?.error({ err }, 'mocker loop failed');
      this.#scheduler.cancelAll('error');
    });
  }

  readonly kvProvider: KvBlockProvider = {
    lookup: (handle, request): KvPullSource => {
      const accepted = this.#transfers.lookup(handle, request);
      if (this.#scheduler.pinned(accepted.pinId) === undefined) {
        accepted.close();
        throw new KvTransferError('unknown_handle', `the KV pin ${handle} is gone`);
      }
      const bytes = kvLayerBlockBytes(this.#transfers.layout);
      return {
        read: () => {
          this.#zeros ??= new Uint8Array(bytes);
          return this.#zeros;
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

  /** KV blocks held by live sequences and pins (for tests). */
  get activeBlocks(): number {
    return this.#blocks.activeBlocks;
  }

  async *generate(request: GenerateRequest, signal: AbortSignal): AsyncIterable<GenerateResponse> {
    const channel = new FrameChannel();
    const { stop, sampling } = request;
    const prompt = request.tokenIds;
    const room = this.#options.contextLength - prompt.length;
    if (this.#closed || signal.aborted || room <= 0) {
      yield { tokenIds: [], finishReason: room <= 0 && !signal.aborted ? 'length' : 'cancelled' };
      return;
    }
    const refusal = this.#transfers.refusal(request);
    if (refusal !== undefined) throw new Error(refusal);
    if (this.#scheduler.full) throw waitingFull(this.#scheduler.waiting);
    if (request.grammar !== undefined && this.#grammars === undefined)
      throw new Error('structured output needs the tokenizer (this mocker was built without one)');
    const grammar = request.grammar && (await this.#grammars?.matcher(request.grammar));
    // Decode phase: the prefill worker's first token is this output's first.
    if (request.disagg?.phase === 'decode') grammar?.accept(request.disagg.firstTokenId);
    const seq = new HashedSequence(prompt, this.#options.blockSize);
    const refused = this.#transfers.validateDescriptor(request, seq.sequence);
    if (refused !== undefined) {
      this.#transfers.failed(refused.code);
      this.#log?.warn({ requestId: request.requestId, code: refused.code }, refused.detail);
      const transferError = { code: refused.code, message: refused.detail };
      grammar?.dispose();
      yield { tokenIds: [], finishReason: 'error', transferError };
      return;
    }
    const disagg = request.disagg;
    const stopIds = new Set(stop.stopTokenIds ?? []);
    if (!stop.ignoreEos) for (const id of this.#eos) stopIds.add(id);
    const minTokens = stop.minTokens ?? 0;
    const vocab = this.#options.tokenizer.vocabSize;
    // No logits here: logit_bias acts only as OpenAI's -100, a ban; other biases change nothing.
    const banned = new Set((sampling.logitBias ?? []).filter(([, b]) => b <= -100).map(([id]) => id));
    // No distribution either: the draw is certain (logprob 0), the alternatives impossible (vLLM's −9999).
    const k = sampling.logprobs;
    const logprobs =
      k === undefined
        ? undefined
        : (token: number): TokenLogprob => ({
            logprob: 0,
            top: Array.from({ length: k }, (_, i): [number, number] => [
              (token + i) % vocab,
              i === 0 ? 0 : -9999,
            ]),
          });
    const seed = sampling.seed !== undefined ? sampling.seed >>> 0 : promptSeed(prompt);
    // Request ids come from clients and may repeat (a migrated request retried here): key by our own.
    const id = `${request.requestId}#${this.#nextKey++}`;
    // Decode phase: the frontend sent the prefill worker's first token already; it is this request's
    // first output (for stop and max tokens) but not streamed again.
    let skipFirst = disagg?.phase === 'decode';
    const req: MockRequest = {
      id,
      seq,
      promptLength: prompt.length,
      maxOutputs: Math.min(stop.maxTokens ?? room, room),
      stopIds,
      ...(disagg?.phase === 'prefill' ? { prefillOnly: true } : {}),
      ...(disagg?.phase === 'decode' ? { importKv: { firstToken: disagg.firstTokenId } } : {}),
      sample: (index) => {
        let token = mix(seed, index) % vocab;
        // A banned id, or a stop id drawn before min_tokens, becomes the next id that is not one.
        const avoid = (t: number) => banned.has(t) || (index < minTokens && stopIds.has(t));
        for (let n = 0; avoid(token) && n < vocab; n++) token = (token + 1) % vocab;
        if (grammar === undefined) return token;
        token = grammar.allowedFrom(token);
        grammar.accept(token);
        return token;
      },
      channel,
      disagg,
      grammar,
      delivered: false,
      sink: {
        token: (tokenId, cached) => {
          if (!skipFirst) return channel.push(tokenId, cached, logprobs?.(tokenId));
          skipFirst = false;
          if (cached !== undefined) channel.cached(cached);
        },
        finish: (reason, message) => {
          if (message !== undefined) this.#log?.warn({ requestId: request.requestId, reason }, message);
          if (this.#scheduler.pinned(id) !== undefined) return this.#pinned(req, reason);
          const transferError = req.transferError;
          channel.finish(reason, transferError === undefined ? undefined : { transferError });
        },
      },
    };
    this.#scheduler.add(req);
    this.#wake?.();
    const onAbort = () => {
      // Once the last frame is taken, a pin it names belongs to the frontend (pull or kv_release).
      if (req.delivered) return;
      if (!this.#scheduler.cancel(id)) this.#transfers.releasePinId(id);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const frame = await channel.next();
        if (frame.finishReason !== undefined) req.delivered = true;
        yield frame;
        if (frame.finishReason !== undefined) return;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      // The consumer left early (broke out of its loop): stop the sequence and free its blocks, and
      // drop a pin it was not told of.
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

  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    await this.#loop;
    this.#transfers.releaseAll();
    for (const id of this.#scheduler.pinIds()) this.#scheduler.releasePin(id);
  }

  /** A prefill-phase request sampled its token: a descriptor for its pin, or no pin (stop). */
  #pinned(req: MockRequest, reason: FinishReason): void {
    if (reason !== 'length' || this.#closed) {
      this.#scheduler.releasePin(req.id);
      req.channel.finish(reason);
      return;
    }
    const transfer = this.#transfers.pin(req.id, req.seq.sequence, req.promptLength);
    req.channel.finish(reason, { transfer });
  }

  /** An import was admitted: wait the simulated transfer, then the data-plane handshake. */
  #startImport(admission: ImportAdmission<MockRequest>): void {
    const { req, missing } = admission;
    if (req.disagg?.phase !== 'decode') throw new Error(`${req.id}: an import without a descriptor`);
    const descriptor = req.disagg.descriptor;
    const bytes = missing.length * this.#transfers.blockBytes;
    const o = this.#options;
    const waitMs = o.noDelay ? 0 : transferMs(o.timing, bytes, o.kvTransferBandwidth, o.kvTransferLatencyMs);
    this.#imports.start(req, async (signal) => {
      await this.#clock.sleep(waitMs);
      signal.throwIfAborted();
      await this.#transfers.pull(descriptor, [], () => {}, signal);
      this.#onTransfer?.({ blocks: missing.length, bytes, waitMs });
    });
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      this.#imports.apply();
      const scheduledAt = this.#clock.now();
      const step = this.#scheduler.schedule();
      if (step === undefined) {
        this.#due = IDLE;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
        continue;
      }
      for (const admission of step.imports) this.#startImport(admission);
      if (step.entries.length === 0 && step.preempted === 0) continue;
      const durationMs = this.#duration(step);
      // Back-to-back steps run on absolute due times, so timer rounding and lateness do not add up
      // over a stream (a step makes up for at most its own duration); after idling, time starts now.
      const now = this.#clock.now();
      const start = this.#due === IDLE ? now : Math.max(this.#due, now - durationMs);
      this.#due = start + durationMs;
      await this.#clock.sleep(this.#due - now);
      for (const { req } of step.entries) {
        const ready = req.grammar?.ready(); // structured output: the grammar's next mask
        if (ready !== undefined) await ready;
      }
      this.#scheduler.complete(step, ({ req }) => req.sample(req.seq.length - req.promptLength));
      // Wall time from scheduling to completion: the simulated duration and what this process added.
      this.#prefill.record(step.prefillTokens, this.#clock.now() - scheduledAt);
      this.#onStep?.({
        prefillTokens: step.prefillTokens,
        decodes: step.decodes,
        preempted: step.preempted,
        durationMs,
        activeBlocks: this.#blocks.activeBlocks,
      });
    }
    this.#scheduler.cancelAll();
  }

  #duration(step: Step<MockRequest>): number {
    if (this.#options.noDelay) return 0;
    return stepMs(this.#options.timing, step.prefillTokens, step.decodes, step.activeRatio);
  }
}
