// Disaggregated serving in an engine (DESIGN §12), shared by the ONNX engine and the mocker: the pins a
// prefill worker keeps for decode workers (handles, expiry, the provider's validation), the checks a
// decode worker makes on a descriptor before it imports, and the pull itself. Engines differ only in
// where a block's bytes live (the ONNX engine's KvStore; nowhere, for the mocker).
//
//   prefill engine                                     decode engine
//   prefill-only request ─1st token─▶ pin(id) ─▶ descriptor ─(frontend)─▶ validateDescriptor
//                                      │                                   admit (importKv) ─▶ missing
//   lookup(handle, pull) ◀── data plane ◀── pull(missing, release: true) ◀─┘
//   release(handle) ─▶ scheduler.releasePin   ◀── also: kv_release, TTL timer, engine close
//
// Invariant: every pin ends in exactly one scheduler.releasePin, and never while a pull of it is being
// served (the data plane writes the engine's views without copying them): a release that arrives
// during a pull takes effect when the last pull of the pin closes.
import { randomUUID } from 'node:crypto';
import {
  type BlockHash,
  type GenerateRequest,
  type InstanceId,
  type KvBlockLayout,
  type KvDataPlaneAddress,
  type KvPullRequest,
  type KvTransferDescriptor,
  KvTransferError,
  type KvTransferErrorCode,
  type KvTransferErrorFrame,
  kvLayerBlockBytes,
} from '../api/index.js';
import type { KvBlockSink, KvDataPlane, KvPullResult } from '../runtime/kv-data-plane.js';

/** Default time a prefill worker keeps a pin nobody pulled (DESIGN §12; `--kv-pin-ttl-ms`). */
export const DEFAULT_KV_PIN_TTL_MS = 30_000;

/** Wall time for pin expiry: epoch milliseconds (descriptors carry `expiresAt` across machines). */
export interface TransferClock {
  now(): number;
  /** Calls `fn` after `ms`; returns the cancel function. Must not keep the process alive. */
  setTimer(ms: number, fn: () => void): () => void;
}

export const systemTransferClock: TransferClock = {
  now: () => Date.now(),
  setTimer: (ms, fn) => {
    const timer = setTimeout(fn, Math.max(0, ms));
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/** What a worker counts about transfers (its metrics). */
export interface KvTransferObserver {
  /** A decode-side pull completed: blocks and bytes moved (0 for a release-only handshake). */
  pulled?(blocks: number, bytes: number): void;
  /** A decode-side import failed or a descriptor was refused, by code. */
  failed?(code: KvTransferErrorCode): void;
  /** Pins held changed by `delta` (+1 made, -1 released). */
  pins?(delta: number): void;
}

/** What the worker hands its engine so that it can serve the two disaggregated phases. */
export interface DisaggContext {
  /** The worker's instance: named in descriptors. */
  instanceId: InstanceId;
  /** Pulls blocks from prefill workers (decode phase). */
  dataPlane: KvDataPlane;
  /** Where this worker serves its pins (the engine's kvProvider); without it, prefill is refused. */
  address?: KvDataPlaneAddress;
  /** How long a pin waits for its pull (default 30 s). */
  pinTtlMs?: number;
  clock?: TransferClock;
  observer?: KvTransferObserver;
}

/** The engine's side of a pin: which scheduler pin it is, and the prompt's full-block hashes. */
interface Pin {
  readonly handle: string;
  readonly pinId: string;
  /** Sequence hash → index of the prompt's full block. */
  readonly blocks: ReadonlyMap<string, number>;
  readonly expiresAt: number;
  readonly cancelTimer: () => void;
  /** Pulls being served from it now. */
  pulls: number;
  /** Released (by a puller, kv_release, expiry or close) but a pull still reads it. */
  released: boolean;
}

/** A pull accepted by lookup: the pin's block index of each requested block; call close() once. */
export interface AcceptedPull {
  readonly pinId: string;
  /** Index, among the pin's prompt blocks, of each requested block (in request order). */
  readonly indices: readonly number[];
  close(): void;
}

export class KvTransfers {
  readonly #model: string;
  readonly #layout: KvBlockLayout;
  readonly #releasePin: (pinId: string) => void;
  readonly #pins = new Map<string, Pin>();
  /** Pins by the scheduler's id (a pin is released once, whichever way comes first). */
  readonly #byPinId = new Map<string, Pin>();
  #context: DisaggContext | undefined;
  #clock: TransferClock = systemTransferClock;

  constructor(options: { model: string; layout: KvBlockLayout; releasePin: (pinId: string) => void }) {
    this.#model = options.model;
    this.#layout = options.layout;
    this.#releasePin = options.releasePin;
  }

  get layout(): KvBlockLayout {
    return this.#layout;
  }

  /** Bytes of one block, all layers. */
  get blockBytes(): number {
    return kvLayerBlockBytes(this.#layout) * this.#layout.numLayers;
  }

  get context(): DisaggContext | undefined {
    return this.#context;
  }

  /** Pins held now (released-but-being-pulled ones included). */
  get pinCount(): number {
    return this.#byPinId.size;
  }

  attach(context: DisaggContext): void {
    this.#context = context;
    this.#clock = context.clock ?? systemTransferClock;
  }

  /**
   * Why this engine cannot serve `request`'s disaggregated phase at all (a bad request, not a transfer
   * failure the frontend could route around), or undefined.
   */
  refusal(request: GenerateRequest): string | undefined {
    const phase = request.disagg?.phase;
    if (phase === undefined) return undefined;
    if (this.#context === undefined)
      return `${phase} phase: this engine is not set up for disaggregated serving`;
    if (phase === 'prefill' && this.#context.address === undefined)
      return 'prefill phase: this worker serves no KV data plane';
    return undefined;
  }

  // --- prefill side ---------------------------------------------------------------------------------

  /**
   * The scheduler pinned `pinId`'s blocks for a prompt of `tokenCount` tokens whose full blocks are
   * `sequenceHashes`: a descriptor naming them, released by a puller, release(), expiry or close.
   */
  pin(pinId: string, sequenceHashes: readonly string[], tokenCount: number): KvTransferDescriptor {
    const context = this.#context;
    if (context?.address === undefined) throw new Error('pin: no KV data plane is served');
    const full = Math.floor(tokenCount / this.#layout.blockSize);
    const blockHashes = sequenceHashes.slice(0, full) as BlockHash[];
    const handle = randomUUID();
    const ttl = context.pinTtlMs ?? DEFAULT_KV_PIN_TTL_MS;
    const expiresAt = Math.ceil(this.#clock.now() + ttl);
    const pin: Pin = {
      handle,
      pinId,
      blocks: new Map(blockHashes.map((h, i) => [h, i])),
      expiresAt,
      cancelTimer: this.#clock.setTimer(ttl, () => this.release(handle)),
      pulls: 0,
      released: false,
    };
    this.#pins.set(handle, pin);
    this.#byPinId.set(pinId, pin);
    context.observer?.pins?.(1);
    return {
      instanceId: context.instanceId,
      address: context.address,
      handle,
      model: this.#model,
      blockHashes,
      tokenCount,
      blockSize: this.#layout.blockSize,
      expiresAt,
    };
  }

  /**
   * Validates a pull of a pin (the data plane's provider.lookup) or throws the KvTransferError that
   * names the problem; an accepted pull holds the pin until closed.
   */
  lookup(handle: string, request: KvPullRequest): AcceptedPull {
    const pin = this.#pins.get(handle);
    if (pin === undefined) throw new KvTransferError('unknown_handle', `no KV pin ${handle} is held here`);
    if (this.#clock.now() > pin.expiresAt) {
      this.release(handle);
      throw new KvTransferError('expired', `the KV pin ${handle} expired`);
    }
    if (request.model !== this.#model)
      throw new KvTransferError(
        'model_mismatch',
        `the pin holds KV of ${this.#model}, the pull asks for ${request.model}`,
      );
    const mismatch = layoutMismatch(this.#layout, request.layout);
    if (mismatch !== undefined) throw new KvTransferError('layout_mismatch', mismatch);
    const indices: number[] = [];
    for (const hash of request.blockHashes) {
      const i = pin.blocks.get(hash);
      if (i === undefined)
        throw new KvTransferError('blocks_mismatch', `block ${hash} is not among the pin's prompt blocks`);
      indices.push(i);
    }
    pin.pulls++;
    let closed = false;
    return {
      pinId: pin.pinId,
      indices,
      close: () => {
        if (closed) return;
        closed = true;
        pin.pulls--;
        if (pin.released && pin.pulls === 0) this.#free(pin);
      },
    };
  }

  /** Releases a pin by handle (a puller's release, kv_release, expiry). False when unknown. */
  release(handle: string): boolean {
    const pin = this.#pins.get(handle);
    if (pin === undefined) return false;
    this.#pins.delete(handle);
    pin.cancelTimer();
    pin.released = true;
    if (pin.pulls === 0) this.#free(pin);
    return true;
  }

  /** The pin of a scheduler id, if any: released (a prefill stream nobody will read to its end). */
  releasePinId(pinId: string): boolean {
    const pin = this.#byPinId.get(pinId);
    return pin === undefined ? false : this.release(pin.handle);
  }

  /** The engine closes: every pin goes now (nothing reuses the engine's memory any more). */
  releaseAll(): void {
    for (const pin of [...this.#byPinId.values()]) {
      this.#pins.delete(pin.handle);
      pin.cancelTimer();
      this.#free(pin);
    }
  }

  #free(pin: Pin): void {
    if (this.#byPinId.get(pin.pinId) !== pin) return;
    this.#byPinId.delete(pin.pinId);
    this.#releasePin(pin.pinId);
    this.#context?.observer?.pins?.(-1);
  }

  // --- decode side ----------------------------------------------------------------------------------

  /**
   * Checks a decode request's descriptor against this engine and the prompt (whose full blocks hash to
   * `sequenceHashes`): the typed error naming the first problem, or undefined.
   */
  validateDescriptor(
    request: GenerateRequest,
    sequenceHashes: readonly string[],
  ): KvTransferError | undefined {
    if (request.disagg?.phase !== 'decode') return undefined;
    const d = request.disagg.descriptor;
    if (d.model !== this.#model || request.model !== this.#model)
      return new KvTransferError(
        'model_mismatch',
        `the descriptor is for ${d.model}, the request for ${request.model}; this worker serves ${this.#model}`,
      );
    if (d.blockSize !== this.#layout.blockSize)
      return new KvTransferError(
        'layout_mismatch',
        `the descriptor's blocks hold ${d.blockSize} tokens, this worker's ${this.#layout.blockSize}`,
      );
    const full = Math.floor(request.tokenIds.length / this.#layout.blockSize);
    if (d.tokenCount !== request.tokenIds.length)
      return new KvTransferError(
        'blocks_mismatch',
        `the descriptor covers ${d.tokenCount} prompt tokens, the request has ${request.tokenIds.length}`,
      );
    if (d.blockHashes.length !== full || d.blockHashes.some((h, i) => h !== sequenceHashes[i]))
      return new KvTransferError(
        'blocks_mismatch',
        "the descriptor's block hashes are not those of the request's prompt",
      );
    if (d.expiresAt < this.#clock.now())
      return new KvTransferError(
        'expired',
        `the descriptor expired at ${new Date(d.expiresAt).toISOString()}`,
      );
    return undefined;
  }

  /**
   * Pulls `hashes` (the prompt blocks this worker lacks; may be empty: a release-only handshake) from
   * the descriptor's worker into `sink`, asking it to release the pin once all bytes arrived. Rejects
   * with a KvTransferError, or with the signal's reason.
   */
  async pull(
    descriptor: KvTransferDescriptor,
    hashes: readonly string[],
    sink: KvBlockSink,
    signal: AbortSignal,
  ): Promise<KvPullResult> {
    const context = this.#context;
    if (context === undefined) throw new KvTransferError('unreachable', 'no KV data plane to pull with');
    const result = await context.dataPlane.pull(
      descriptor.address,
      {
        handle: descriptor.handle,
        model: descriptor.model,
        blockHashes: hashes.slice() as BlockHash[],
        layout: this.#layout,
      },
      sink,
      { signal, release: true },
    );
    context.observer?.pulled?.(result.blocks, result.bytes);
    return result;
  }

  /** Counts a failed import or refused descriptor (the worker's metrics). */
  failed(code: KvTransferErrorCode): void {
    this.#context?.observer?.failed?.(code);
  }
}

/** What two KV layouts disagree on, or undefined when they are the same. */
export function layoutMismatch(mine: KvBlockLayout, theirs: KvBlockLayout): string | undefined {
  for (const key of ['numLayers', 'numKvHeads', 'headDim', 'dtype', 'blockSize'] as const) {
    if (mine[key] !== theirs[key]) return `${key}: this worker has ${mine[key]}, the puller ${theirs[key]}`;
  }
  return undefined;
}

/** A failure as a decode stream's transferError: typed codes kept, anything else `unreachable`. */
export function transferErrorFrame(err: unknown): KvTransferErrorFrame {
  if (err instanceof KvTransferError) return { code: err.code, message: err.detail.slice(0, 4096) };
  const text = err instanceof Error ? err.message : String(err);
  return { code: 'unreachable', message: `the KV transfer failed: ${text}`.slice(0, 4096) };
}

/** What PendingImports needs of a request: its id, and where a failed transfer's reason goes. */
export interface ImportingRequest {
  readonly id: string;
  transferError?: KvTransferErrorFrame;
}

/**
 * The imports of one engine whose KV is being moved, off the engine loop. A transfer's outcome is not
 * applied when it settles but by `apply()` between steps, so the scheduler only changes on the loop.
 */
export class PendingImports<R extends ImportingRequest> {
  readonly #active = new Map<string, { req: R; abort: AbortController }>();
  readonly #ended: { id: string; error: unknown }[] = [];

  constructor(
    private readonly scheduler: {
      importDone(id: string): boolean;
      importFailed(id: string, message: string): boolean;
    },
    private readonly transfers: KvTransfers,
    /** Wakes the engine loop to apply an outcome. */
    private readonly wake: () => void,
  ) {}

  /** Moves an admitted import's KV with `move`; aborted when the request ends first. */
  start(req: R, move: (signal: AbortSignal) => Promise<void>): void {
    const abort = new AbortController();
    this.#active.set(req.id, { req, abort });
    move(abort.signal).then(
      () => this.#end(req.id, undefined),
      (err: unknown) => this.#end(req.id, err ?? new Error('the transfer failed')),
    );
  }

  /** The request ended (its blocks are being given back): a transfer still running must stop writing. */
  stop(id: string): void {
    const active = this.#active.get(id);
    if (active === undefined) return;
    this.#active.delete(id);
    active.abort.abort(new Error('the request ended'));
  }

  /** Between steps: imports whose transfer ended are committed (and run next step) or failed. */
  apply(): void {
    for (const { id, error } of this.#ended.splice(0)) {
      const active = this.#active.get(id);
      if (active === undefined) continue; // ended meanwhile: its blocks are freed already
      this.#active.delete(id);
      if (error === undefined) {
        this.scheduler.importDone(id);
        continue;
      }
      const frame = transferErrorFrame(error);
      active.req.transferError = frame;
      this.transfers.failed(frame.code);
      this.scheduler.importFailed(id, `KV transfer failed (${frame.code}): ${frame.message}`);
    }
  }

  #end(id: string, error: unknown): void {
    this.#ended.push({ id, error });
    this.wake();
  }
}
