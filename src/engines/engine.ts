// What a worker serves: an engine turns GenerateRequests into streams of token ids, keeps a prefix
// cache of KV blocks, reports every change of that cache as a KV event (DESIGN §6) and its load.
// Both the ONNX engine and the mocker implement it; src/worker wires it to the runtime.
import type {
  GenerateRequest,
  GenerateResponse,
  KvDump,
  KvEventData,
  LoadMetrics,
  ModelCard,
} from '../api/index.js';

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
  /** Stops the engine loop; in-flight streams end with finishReason 'cancelled'. */
  close(): Promise<void>;
}
