// The KV data plane (DESIGN §12): a worker serves the KV blocks it pinned for a transfer; a decode
// worker pulls the ones it lacks and copies them into its own paged store. Engine-independent: the
// engine implements a provider (which pins exist, where a block's bytes live) and a sink (where they
// go); the data plane only moves bytes and carries typed errors (KvTransferError) between the two.
//
//   puller                               serving worker
//   pull(address, request, onBlock) ───► provider.lookup(handle, request)  (validates, or a typed error)
//   onBlock(block, layer, bytes)    ◄─── source.read(block, layer)          per block, per layer, in order
//   resolves                        ───► provider.release(handle)          (when asked: `release: true`)
import {
  type KvDataPlaneAddress,
  type KvPullRequest,
  KvTransferError,
  type KvTransferErrorFrame,
} from '../api/disagg.js';

export type { KvBlockLayout, KvDataPlaneAddress, KvPullRequest } from '../api/disagg.js';
export { KvTransferError, kvLayerBlockBytes } from '../api/disagg.js';

/**
 * One pull's blocks on the serving side, returned by the provider once it accepted the pull. The views
 * it returns are written out as they are (no copy), so they must not change until the pull ends
 * (`close`): the blocks are pinned.
 */
export interface KvPullSource {
  /**
   * The bytes of requested block `block` (an index into the request's blockHashes) in layer `layer`:
   * K then V, `kvLayerBlockBytes(layout)` bytes in all, as one view or several in order (e.g. a K view
   * and a V view of the engine's arrays). May throw a KvTransferError (e.g. `expired`): the pull then
   * fails with that code.
   */
  read(block: number, layer: number): Uint8Array | readonly Uint8Array[];
  /** Called once when the pull ends, whether all bytes went out or not. */
  close?(): void;
}

/** The engine's side of a served data plane. */
export interface KvBlockProvider {
  /**
   * Accepts a pull or refuses it by throwing a KvTransferError (`unknown_handle`, `expired`,
   * `model_mismatch`, `blocks_mismatch`, `layout_mismatch`): the data plane carries the code to the
   * puller. Any other error reaches the puller as `unreachable` (the worker cannot serve it).
   */
  lookup(handle: string, request: KvPullRequest): KvPullSource | Promise<KvPullSource>;
  /** The puller is done with the pin (it asked with `release: true` after all bytes arrived). */
  release(handle: string): void | Promise<void>;
}

/**
 * Receives one block's bytes of one layer, in order: blocks 0..n-1 (indexes into the request's
 * blockHashes), and within a block layers 0..numLayers-1. `bytes` is valid only during the call (the
 * data plane reuses its buffers): copy it. Throwing fails the pull with that error.
 */
export type KvBlockSink = (block: number, layer: number, bytes: Uint8Array) => void;

export interface KvPullOptions {
  /** Aborting stops the transfer; the pull then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** After all blocks arrived, ask the serving worker to release the pin (resolves once it did). */
  release?: boolean;
}

export interface KvPullResult {
  blocks: number;
  bytes: number;
  released: boolean;
}

export interface KvDataPlaneStats {
  /** Pulls being served now. */
  activePulls: number;
  /** Pulls that sent all their blocks. */
  completedPulls: number;
  /** Pulls refused or ended early (typed error, puller gone, server closed). */
  failedPulls: number;
  /** Malformed frames received (each also logged). */
  protocolErrors: number;
  bytesSent: number;
}

export interface ServedKvDataPlane {
  /** Where pullers reach it: goes into the worker's model card (`kvDataPlane`). */
  readonly address: KvDataPlaneAddress;
  stats(): KvDataPlaneStats;
  /** Stops serving: pulls in flight fail on the puller's side with `unreachable`. */
  close(): Promise<void>;
}

export interface KvDataPlane {
  serve(provider: KvBlockProvider): Promise<ServedKvDataPlane>;
  /**
   * Pulls `request.blockHashes` from the worker at `address` into `onBlock`. Rejects with a
   * KvTransferError: the serving worker's code, `unreachable` when the connection fails, stalls or
   * drops before the end, `protocol` on a malformed frame or request; or with the signal's reason.
   */
  pull(
    address: KvDataPlaneAddress,
    request: KvPullRequest,
    onBlock: KvBlockSink,
    options?: KvPullOptions,
  ): Promise<KvPullResult>;
  /** Closes everything this data plane serves. */
  close(): Promise<void>;
}

/**
 * The transfer error a provider's failure becomes for the puller. An untyped failure (a bug, an engine
 * that stopped) is `unreachable`: as for a dead worker, the puller's remedy is to prefill elsewhere.
 */
export function transferErrorOf(err: unknown): KvTransferErrorFrame {
  if (err instanceof KvTransferError) return { code: err.code, message: err.detail.slice(0, 4096) };
  const text = err instanceof Error ? err.message : String(err);
  return { code: 'unreachable', message: `the serving worker failed: ${text}`.slice(0, 4096) };
}

/** The byte count of a source's parts for one block and layer. */
export function partsLength(parts: Uint8Array | readonly Uint8Array[]): number {
  if (parts instanceof Uint8Array) return parts.byteLength;
  let n = 0;
  for (const p of parts) n += p.byteLength;
  return n;
}
