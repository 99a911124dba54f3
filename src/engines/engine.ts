// What a worker serves: an engine turns GenerateRequests into streams of token ids, keeps a prefix
// cache of KV blocks, reports every change of that cache as a KV event (DESIGN §6) and its load.
// Both the ONNX engine and the mocker implement it; src/worker wires it to the runtime.
//
// Disaggregated phases (DESIGN §12, GenerateRequest.disagg):
// - prefill: prefill the prompt, sample one token, end with a last frame
//   { tokenIds: [first], cachedTokens, finishReason: 'stop' | 'length', transfer? }; `transfer` (only
//   with 'length') names the prompt's full blocks, pinned until pulled with release, kv_release, the
//   pin's TTL or close().
// - decode: validate the descriptor, pull the full blocks this engine lacks (release: true), compute the
//   prompt's tail and the first token here, and stream the tokens AFTER firstTokenId (maxTokens counts
//   it). A refused descriptor or failed pull ends the stream with
//   { tokenIds: [], finishReason: 'error', transferError: { code, message } }.

import type {
  GenerateRequest,
  GenerateResponse,
  KvDump,
  KvEventData,
  LoadMetrics,
  ModelCard,
} from '../api/index.js';
import { RequestError } from '../runtime/errors.js';
import type { KvBlockProvider } from '../runtime/kv-data-plane.js';
import type { DisaggContext } from './kv-transfer.js';

/** Receives each cache change in order; the worker numbers them (eventId) and publishes them. */
export type KvEventListener = (data: KvEventData) => void;

export interface Engine {
  /** The card the worker registers (name, block size, capacity, ...). */
  readonly card: ModelCard;
  /**
   * Streams response frames until a frame carries finishReason. Aborting `signal` stops the
   * sequence, frees its blocks and ends the stream with finishReason 'cancelled'.
   */
  generate(request: GenerateRequest, signal: AbortSignal): AsyncIterable<GenerateResponse>;
  /** Subscribes to KV events; returns the unsubscribe function. */
  onKvEvent(listener: KvEventListener): () => void;
  /** The load now, without workerId (the worker adds its own). */
  loadMetrics(): Omit<LoadMetrics, 'workerId'>;
  /** The whole cache state as stored events, parents first, without workerId / lastEventId. */
  dumpKvState(): KvDump['events'];
  /**
   * Serves this engine's pinned KV blocks (prefill phase) on a data plane: validates pulls and hands
   * out the blocks' bytes (DESIGN §12).
   */
  readonly kvProvider: KvBlockProvider;
  /**
   * Enables the disaggregated phases (GenerateRequest.disagg) with the worker's identity, data plane
   * and pin settings; until then a request with `disagg` is refused.
   */
  attachDisagg(context: DisaggContext): void;
  /** Drops a prefill pin by handle (the worker's kv_release). False when no such pin is held. */
  releaseKv(handle: string): boolean;
  /** Stops the engine loop; in-flight streams end with finishReason 'cancelled'. Releases every pin. */
  close(): Promise<void>;
}

/**
 * A request refused because the engine's waiting queue is full (its scheduler's maxWaiting): the same
 * typed `overloaded` ending as the request plane's stream bound, so the router tries another worker.
 */
export function waitingFull(waiting: number): RequestError {
  return new RequestError(
    'overloaded',
    `the engine's waiting queue holds ${waiting} requests, its bound (--max-waiting-requests): try another worker`,
  );
}
