// Request plane: a worker serves an endpoint with a handler that yields response frames; a caller
// calls an instance and iterates the frames (DESIGN §5). Two backends behind this interface: NATS
// and in-process. Both give the same guarantees:
// - frames arrive whole and in order; the stream ends normally only after the handler returned;
// - every other ending is a RequestError with a code (see src/api/request-plane.ts);
// - a caller's abort (signal, or leaving the for-await loop) aborts the handler's context signal;
// - a slow caller stops pulling the handler (bounded buffering: backpressure reaches the engine).
import type { z } from 'zod';
import type { EndpointId, Instance, InstanceId } from '../api/index.js';

export interface RequestContext {
  requestId: string;
  /** Aborted when the caller cancels or disconnects, or the worker stops. */
  signal: AbortSignal;
}

/** Yields the response frames. Throwing ends the caller's stream with `handler_error`. */
export type Handler<Req, Res> = (request: Req, context: RequestContext) => AsyncIterable<Res>;

export interface ServeOptions<Req> {
  /** Validates each incoming request; a failure answers `invalid_request` without calling the handler. */
  requestSchema: z.ZodType<Req>;
  /**
   * Streams this endpoint runs at once; one more is refused with `overloaded` before its handler
   * runs (the worker's admission bound). Unbounded when absent.
   */
  maxStreams?: number;
}

export interface ServedEndpoint {
  /** What to register in discovery. */
  readonly instance: Instance;
  /** Stops accepting new requests (they get `unavailable`); in-flight ones continue. */
  stopAccepting(): void;
  /** Resolves when no request is in flight. */
  drained(): Promise<void>;
  /** Aborts in-flight requests (their callers get `disconnected`) and stops serving. */
  close(): Promise<void>;
}

export interface CallOptions<Res> {
  /** Defaults to a random id. */
  requestId?: string;
  signal?: AbortSignal;
  /** Validates each response frame; a failure ends the stream with `invalid_request`. */
  responseSchema?: z.ZodType<Res>;
}

export interface RequestPlane {
  /** Serves `endpoint` as `instanceId` (one id per worker process, shared by its endpoints). */
  serve<Req, Res>(
    endpoint: EndpointId,
    instanceId: InstanceId,
    handler: Handler<Req, Res>,
    options: ServeOptions<Req>,
  ): Promise<ServedEndpoint>;
  /**
   * Calls an instance. Errors (RequestError) surface while iterating: `no_responders` before any frame
   * when the instance is gone, `disconnected` when the stream stops without its end.
   */
  call<Res = unknown>(instance: Instance, request: unknown, options?: CallOptions<Res>): AsyncIterable<Res>;
  close(): Promise<void>;
}

export interface StreamTuning {
  /** Data frames the server may send ahead of the caller's acknowledgements. */
  credit: number;
  /** A stream with nothing to send sends a heartbeat this often; callers ack this often too. */
  heartbeatMs: number;
  /** A caller that hears nothing from a stream for this long ends it with `disconnected`. */
  idleTimeoutMs: number;
}

export const DEFAULT_STREAM_TUNING: StreamTuning = { credit: 256, heartbeatMs: 1_000, idleTimeoutMs: 5_000 };
