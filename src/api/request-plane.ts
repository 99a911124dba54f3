// Request-plane wire types (DESIGN §5): the typed errors a call can end with, and the JSON messages
// of the NATS streaming protocol (request, control, error frame). Response frames carry a small
// binary header instead of a JSON envelope (see src/runtime/nats-frames.ts) so the per-token path
// encodes JSON once.
import { z } from 'zod';

/**
 * Why a call ended without its end frame.
 * - `disconnected`: the stream stopped without an end frame (instance died, lost its lease, frame gap,
 *   shut down mid-stream): the caller may retry the request elsewhere (migration).
 * - `no_responders`: nobody serves that instance (it is gone); nothing was executed.
 * - `unavailable`: the instance is draining and refuses new requests; nothing was executed.
 * - `overloaded`: the instance holds as many streams as it may (its bound); nothing was executed: the
 *   caller tries another instance, without counting it as a failure of this one.
 * - `cancelled`: the caller aborted.
 * - `payload_too_large`: a request or response frame is over the limit.
 * - `invalid_request`: the request failed the endpoint's schema (or is not a valid message).
 * - `handler_error`: the handler threw.
 */
export const REQUEST_ERROR_CODES = [
  'disconnected',
  'no_responders',
  'unavailable',
  'overloaded',
  'cancelled',
  'payload_too_large',
  'invalid_request',
  'handler_error',
] as const;
export type RequestErrorCode = (typeof REQUEST_ERROR_CODES)[number];

/** Payload of an error frame: ends the stream. */
export const errorFrameSchema = z.object({
  code: z.enum(REQUEST_ERROR_CODES),
  message: z.string().max(4096),
});
export type ErrorFrame = z.infer<typeof errorFrameSchema>;

/**
 * The message a caller publishes on `dynamo.{ns}.{component}.{endpoint}.{instance}` with its inbox
 * as reply-to. `credit` is how many data frames the server may send before the caller acknowledges.
 */
export const requestMessageSchema = z.object({
  v: z.literal(1),
  requestId: z.string().min(1).max(256),
  credit: z.number().int().positive().max(1_000_000),
  payload: z.unknown(),
});
export type RequestMessage = z.infer<typeof requestMessageSchema>;

/**
 * Caller → server, on `{request subject}.ctl`. `stream` is the caller's reply inbox (unique per call).
 * `ack`: frames up to `seq` were consumed (also sent periodically as the caller's heartbeat).
 * `cancel`: stop the handler.
 */
export const controlMessageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('ack'), stream: z.string().min(1), seq: z.number().int().nonnegative() }),
  z.object({ kind: z.literal('cancel'), stream: z.string().min(1) }),
]);
export type ControlMessage = z.infer<typeof controlMessageSchema>;

export function controlSubject(requestSubject: string): string {
  return `${requestSubject}.ctl`;
}
