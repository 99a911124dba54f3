// The mocker: an Engine that simulates a GPU engine's scheduling, timing and KV cache without a model
// (after Dynamo's mocker). Routing, KV events, load metrics and scale can be exercised on CPUs; its
// token ids are pseudo-random but deterministic per request.
//
//   generate() ─add─▶ Scheduler ─schedule()─▶ step ─clock.sleep(stepMs)─▶ complete() ─▶ FrameChannel
//                         │ BlockManager ─KV events─▶ listeners (the worker numbers and publishes them)
import { z } from 'zod';
import type {
  GenerateRequest,
  GenerateResponse,
  KvEventData,
  LoadMetrics,
  ModelCard,
} from '../../api/index.js';
import type { Logger } from '../../runtime/logger.js';
import { BlockManager } from '../block-manager.js';
import type { Engine, KvEventListener } from '../engine.js';
import { FrameChannel } from '../frame-channel.js';
import { HashedSequence } from '../hashed-sequence.js';
import { type Clock, systemClock } from './clock.js';
import { Scheduler, type Step } from './scheduler.js';
import { stepMs, timingModelSchema } from './timing.js';

const checksum = z.string().regex(/^[0-9a-f]{64}$/);

export const mockerOptionsSchema = z.object({
  modelName: z.string().min(1),
  numGpuBlocks: z.number().int().positive().default(16384),
  blockSize: z.number().int().positive().max(65536).default(64),
  maxNumSeqs: z.number().int().positive().default(256),
  maxNumBatchedTokens: z.number().int().positive().default(8192),
  contextLength: z.number().int().positive().default(32768),
  timing: timingModelSchema.default({
    prefill: [4.209989e-7, 1.518344e-2, 16.50142],
    decode: [-25.74, 54.01, 5.74],
    speedupRatio: 1,
  }),
  /** Steps take no simulated time at all (benchmarks of everything but the engine). */
  noDelay: z.boolean().default(false),
  /** What the worker serves on model_files: the card names these. */
  tokenizer: z.object({
    checksum,
    configChecksum: checksum.nullable(),
    /** Sampled token ids are drawn from [0, vocabSize): ordinary tokens, no special ones. */
    vocabSize: z.number().int().positive(),
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

export interface MockerDeps {
  clock?: Clock;
  log?: Logger;
  onStep?: (report: StepReport) => void;
}

const IDLE = Number.NEGATIVE_INFINITY;

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
  readonly #listeners = new Set<KvEventListener>();
  readonly #blocks: BlockManager;
  readonly #scheduler: Scheduler;
  readonly #eos: ReadonlySet<number>;
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
    this.#eos = new Set(o.tokenizer.eosTokenIds);
    this.#blocks = new BlockManager({
      totalBlocks: o.numGpuBlocks,
      blockSize: o.blockSize,
      onEvent: (data: KvEventData) => {
        for (const listener of this.#listeners) listener(data);
      },
    });
    this.#scheduler = new Scheduler(this.#blocks, o);
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
      eosTokenIds: o.tokenizer.eosTokenIds,
      tokenizerChecksum: o.tokenizer.checksum,
      tokenizerConfigChecksum: o.tokenizer.configChecksum,
    };
    this.#loop = this.#run().catch((err: unknown) => {
      // A bug in the loop must not leave streams hanging: end them all, refuse new ones.
      this.#closed = true;
      this.#log?.error({ err }, 'mocker loop failed');
      this.#scheduler.cancelAll('error');
    });
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
    const stopIds = new Set(stop.stopTokenIds ?? []);
    if (!stop.ignoreEos) for (const id of this.#eos) stopIds.add(id);
    const seed = sampling.seed !== undefined ? sampling.seed >>> 0 : promptSeed(prompt);
    const vocab = this.#options.tokenizer.vocabSize;
    // Request ids come from clients and may repeat (a migrated request retried here): key by our own.
    const id = `${request.requestId}#${this.#nextKey++}`;
    this.#scheduler.add({
      id,
      seq: new HashedSequence(prompt, this.#options.blockSize),
      promptLength: prompt.length,
      maxOutputs: Math.min(stop.maxTokens ?? room, room),
      stopIds,
      sample: (index) => mix(seed, index) % vocab,
      sink: {
        token: (tokenId, cached) => channel.push(tokenId, cached),
        finish: (reason, message) => {
          if (message !== undefined) this.#log?.warn({ requestId: request.requestId, reason }, message);
          channel.finish(reason);
        },
      },
    });
    this.#wake?.();
    const onAbort = () => this.#scheduler.cancel(id);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const frame = await channel.next();
        yield frame;
        if (frame.finishReason !== undefined) return;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      // The consumer left early (broke out of its loop): stop the sequence and free its blocks.
      if (!channel.finished) this.#scheduler.cancel(id);
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
    };
  }

  dumpKvState(): KvEventData[] {
    return this.#blocks.dump();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      const step = this.#scheduler.schedule();
      if (step === undefined) {
        this.#due = IDLE;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
        continue;
      }
      const durationMs = this.#duration(step);
      // Back-to-back steps run on absolute due times, so timer rounding and lateness do not add up
      // over a stream (a step makes up for at most its own duration); after idling, time starts now.
      const now = this.#clock.now();
      const start = this.#due === IDLE ? now : Math.max(this.#due, now - durationMs);
      this.#due = start + durationMs;
      await this.#clock.sleep(this.#due - now);
      this.#scheduler.complete(step);
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

  #duration(step: Step): number {
    if (this.#options.noDelay) return 0;
    return stepMs(this.#options.timing, step.prefillTokens, step.decodes, step.activeRatio);
  }
}
