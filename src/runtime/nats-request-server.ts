// The worker side of the NATS request plane (see nats-request-plane.ts for the protocol): validates
// requests, runs one ServerStream per call (credit-bounded, batched frames, heartbeats) and answers
// refusals with an error frame of seq 0.
import type { Msg, NatsConnection, Subscription } from 'nats';
import type { ErrorFrame, RequestErrorCode } from '../api/request-plane.js';
import { controlMessageSchema, controlSubject, requestMessageSchema } from '../api/request-plane.js';
import { RequestError } from './errors.js';
import { Inflight, type InflightStream } from './inflight.js';
import type { Logger } from './logger.js';
import { errorMessage, overloadedMessage } from './memory-request-plane.js';
import type { EndpointMetrics, RuntimeMetrics } from './metrics.js';
import { encodeControlFrame, encodeDataFrames, encodeErrorFrame, FRAME_HEADER_BYTES } from './nats-frames.js';
import type { NatsRequestPlane } from './nats-request-plane.js';
import type { Handler, ServeOptions } from './request-plane.js';

const decoder = new TextDecoder();

export class NatsServer {
  readonly inflight = new Inflight<ServerStream>();
  private readonly streams = new Map<string, ServerStream>();
  private readonly requests: Subscription;
  private readonly controls: Subscription;

  constructor(
    readonly plane: NatsRequestPlane,
    private readonly nc: NatsConnection,
    readonly subject: string,
    private readonly handler: Handler<unknown, unknown>,
    private readonly options: ServeOptions<unknown>,
    readonly metrics: EndpointMetrics,
    private readonly runtimeMetrics: RuntimeMetrics,
    readonly log: Logger,
  ) {
    this.requests = nc.subscribe(subject, { callback: (_err, msg) => this.onRequest(msg) });
    this.controls = nc.subscribe(controlSubject(subject), { callback: (_err, msg) => this.onControl(msg) });
  }

  stop(): void {
    this.requests.unsubscribe();
    this.controls.unsubscribe();
  }

  tick(now: number): void {
    for (const stream of this.streams.values()) stream.tick(now);
  }

  publish(reply: string, data: Uint8Array): void {
    this.nc.publish(reply, data);
  }

  forget(stream: ServerStream): void {
    this.streams.delete(stream.reply);
    this.inflight.delete(stream);
  }

  private onRequest(msg: Msg): void {
    const reply = msg.reply;
    if (!reply) {
      this.plane.malformed('request', 'request without a reply subject', { subject: this.subject });
      return;
    }
    const refuse = (code: RequestErrorCode, message: string) => {
      try {
        this.nc.publish(reply, encodeErrorFrame(0, { code, message }));
      } catch (err) {
        this.log.debug({ err }, 'refusal not sent');
      }
    };
    let body: unknown;
    try {
      body = JSON.parse(decoder.decode(msg.data));
    } catch {
      this.plane.malformed('request', 'request is not JSON', { subject: this.subject });
      refuse('invalid_request', 'the request is not JSON');
      return;
    }
    const envelope = requestMessageSchema.safeParse(body);
    if (!envelope.success) {
      this.plane.malformed('request', envelope.error.message, { subject: this.subject });
      refuse('invalid_request', `invalid request message: ${envelope.error.message}`);
      return;
    }
    if (!this.inflight.accepting) {
      refuse('unavailable', 'the instance is shutting down');
      return;
    }
    const bound = this.options.maxStreams;
    if (bound !== undefined && this.inflight.size >= bound) {
      this.metrics.start()('error', 'overloaded');
      refuse('overloaded', overloadedMessage(bound));
      return;
    }
    const payload = this.options.requestSchema.safeParse(envelope.data.payload);
    if (!payload.success) {
      refuse('invalid_request', payload.error.message);
      return;
    }
    if (this.streams.has(reply)) {
      this.plane.malformed('request', 'duplicate reply subject', { subject: this.subject });
      return;
    }
    const stream = new ServerStream(this, reply, envelope.data.credit, this.plane.maxPayloadBytes);
    this.streams.set(reply, stream);
    this.inflight.add(stream);
    stream.run(this.handler, payload.data, envelope.data.requestId);
  }

  private onControl(msg: Msg): void {
    let body: unknown;
    try {
      body = JSON.parse(decoder.decode(msg.data));
    } catch {
      this.runtimeMetrics.malformedMessage('control');
      this.log.warn({ subject: this.subject }, 'malformed control message (not JSON) rejected');
      return;
    }
    const parsed = controlMessageSchema.safeParse(body);
    if (!parsed.success) {
      this.runtimeMetrics.malformedMessage('control');
      this.log.warn(
        { subject: this.subject, reason: parsed.error.message },
        'malformed control message rejected',
      );
      return;
    }
    const stream = this.streams.get(parsed.data.stream);
    if (!stream) return; // finished already
    if (parsed.data.kind === 'ack') stream.onAck(parsed.data.seq);
    else stream.abort('cancelled');
  }
}

/**
 * One response stream on the worker. Frames yielded within one event-loop turn are batched into one
 * message (flushed by setImmediate, before waiting for credit, and with the end), so a fast handler
 * costs one NATS message per batch while a token-by-token engine still sends each token at once.
 */
class ServerStream implements InflightStream {
  /** Frames taken from the handler (credit is counted against it). */
  private sent = 0;
  /** Frames published (the rest wait in the batch). */
  private published = 0;
  private acked = 0;
  private batch = '';
  private batchBytes = 0;
  private batchFirst = 0;
  private flushScheduled = false;
  private lastSent = Date.now();
  private lastHeard = Date.now();
  private waitingForCredit: (() => void) | undefined;
  private readonly controller = new AbortController();
  private endedBy: 'cancelled' | 'disconnected' | 'caller_gone' | undefined;
  private readonly flushSoon = () => {
    this.flushScheduled = false;
    if (!this.endedBy) this.flush(false);
  };

  constructor(
    private readonly server: NatsServer,
    readonly reply: string,
    private readonly credit: number,
    private readonly maxPayloadBytes: number,
  ) {}

  onAck(seq: number): void {
    this.lastHeard = Date.now();
    if (seq > this.acked) this.acked = Math.min(seq, this.published);
    this.wake();
  }

  abort(reason: 'cancelled' | 'disconnected' | 'caller_gone'): void {
    if (this.endedBy) return;
    this.endedBy = reason;
    this.controller.abort(new RequestError(reason === 'disconnected' ? 'disconnected' : 'cancelled', reason));
    this.wake();
  }

  disconnect(reason: string): void {
    if (this.endedBy) return;
    this.flush(false);
    this.send(encodeErrorFrame(this.published, { code: 'disconnected', message: reason }));
    this.abort('disconnected');
  }

  tick(now: number): void {
    const { heartbeatMs, idleTimeoutMs } = this.server.plane.options;
    if (this.waitingForCredit && now - this.lastHeard > idleTimeoutMs) {
      this.server.log.info(
        { stream: this.reply },
        'caller silent while the stream waits for credit: stopping',
      );
      this.abort('caller_gone');
      return;
    }
    if (now - this.lastSent >= heartbeatMs) this.send(encodeControlFrame('heartbeat', this.published));
  }

  run(handler: Handler<unknown, unknown>, request: unknown, requestId: string): void {
    const done = this.server.metrics.start();
    void this.pump(handler, request, requestId)
      .then(
        () => done(this.endedBy ? 'cancelled' : 'ok'),
        (err: unknown) => {
          if (this.endedBy) {
            done('cancelled');
            return;
          }
          // Frames yielded before the error reach the caller before it.
          this.flush(false);
          const frame = toErrorFrame(err);
          this.send(encodeErrorFrame(this.published, frame));
          done('error', frame.code);
        },
      )
      .finally(() => this.server.forget(this));
  }

  private async pump(handler: Handler<unknown, unknown>, request: unknown, requestId: string): Promise<void> {
    const iterator = handler(request, { requestId, signal: this.controller.signal })[Symbol.asyncIterator]();
    try {
      while (!this.endedBy) {
        if (this.sent - this.acked >= this.credit) {
          this.flush(false);
          await new Promise<void>((resolve) => {
            this.waitingForCredit = resolve;
          });
          continue;
        }
        const result = await iterator.next();
        if (this.endedBy) break;
        if (result.done) {
          this.flush(true);
          return;
        }
        const json = JSON.stringify(result.value);
        if (json === undefined) throw new RequestError('handler_error', 'the handler yielded undefined');
        this.append(json);
      }
    } finally {
      // Stops the handler when the stream ended early (cancel, disconnect, oversized frame).
      await iterator.return?.().catch(() => undefined);
    }
  }

  private append(json: string): void {
    const bytes = Buffer.byteLength(json);
    // Header + "[" + frame + "]".
    if (FRAME_HEADER_BYTES + bytes + 2 > this.maxPayloadBytes) {
      throw new RequestError(
        'payload_too_large',
        `response frame is ${bytes} bytes, the limit is ${this.maxPayloadBytes - FRAME_HEADER_BYTES - 2}`,
      );
    }
    if (this.batchBytes > 0 && FRAME_HEADER_BYTES + this.batchBytes + 1 + bytes + 2 > this.maxPayloadBytes)
      this.flush(false);
    this.sent++;
    if (this.batchBytes === 0) {
      this.batch = json;
      this.batchBytes = bytes;
      this.batchFirst = this.sent;
    } else {
      this.batch += `,${json}`;
      this.batchBytes += bytes + 1;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushSoon);
    }
  }

  /** Publishes the batch (with the end marker when `end`); an empty batch sends only the end. */
  private flush(end: boolean): void {
    if (this.batchBytes === 0) {
      if (end) this.send(encodeControlFrame('end', this.published));
      return;
    }
    const message = encodeDataFrames(this.batchFirst, `[${this.batch}]`, this.batchBytes + 2, end);
    this.batch = '';
    this.batchBytes = 0;
    this.published = this.sent;
    this.send(message);
  }

  private send(data: Uint8Array): void {
    this.lastSent = Date.now();
    try {
      this.server.publish(this.reply, data);
    } catch (err) {
      // Connection closed or reconnect buffer full: the caller will see a gap or go idle.
      this.server.log.debug({ err }, 'frame not sent');
    }
  }

  private wake(): void {
    const wake = this.waitingForCredit;
    this.waitingForCredit = undefined;
    wake?.();
  }
}

function toErrorFrame(err: unknown): ErrorFrame {
  if (err instanceof RequestError) return { code: err.code, message: err.message.slice(0, 4096) };
  return { code: 'handler_error', message: errorMessage(err).slice(0, 4096) };
}
