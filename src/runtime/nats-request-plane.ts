// Request plane on NATS core. One call is one stream:
//
//   caller                                   worker (serves dynamo.{ns}.{c}.{ep}.{instance})
//     │ request {v,requestId,credit,payload} ──►│  validate, start handler
//     │   reply-to = _INBOX.<conn>.<call>       │
//     │◄── data seq=1..n (5-byte header + JSON) │  at most `credit` frames ahead of the last ack
//     │── ack {stream, seq} on <subject>.ctl ──►│  every credit/2 frames consumed, and every
//     │                                         │  heartbeatMs while the stream lives (caller alive)
//     │◄── heartbeat (when nothing else sent) ──│  every heartbeatMs (worker alive)
//     │◄── end seq=n  |  error {code,message} ──│
//     │── cancel {stream} on <subject>.ctl ────►│  caller aborted: the handler's signal aborts
//
// Disconnect: the caller ends a stream with `disconnected` when it hears nothing for idleTimeoutMs,
// sees a gap in seq, or discovery reports the instance gone. No responders: NATS answers a request
// to a subject nobody serves with a 503 status message on the reply inbox. Backpressure: the worker
// stops pulling its handler when `credit` frames are unacknowledged; the caller buffers at most
// `credit` frames. A worker that hears nothing from a stream's caller for idleTimeoutMs while
// blocked on credit stops the handler (the caller died).
import { randomUUID } from 'node:crypto';
import { createInbox, type Msg, type NatsConnection, type Subscription } from 'nats';
import type { EndpointId, Instance, InstanceId } from '../api/index.js';
import { requestSubject } from '../api/index.js';
import type { ControlMessage, ErrorFrame, RequestErrorCode } from '../api/request-plane.js';
import { controlMessageSchema, controlSubject, requestMessageSchema } from '../api/request-plane.js';
import { RequestError } from './errors.js';
import { Inflight, type InflightStream, servedEndpoint } from './inflight.js';
import type { Logger } from './logger.js';
import { errorMessage } from './memory-request-plane.js';
import type { EndpointMetrics, RuntimeMetrics } from './metrics.js';
import {
  decodeFrame,
  encodeControlFrame,
  encodeDataFrames,
  encodeErrorFrame,
  FRAME_HEADER_BYTES,
} from './nats-frames.js';
import type {
  CallOptions,
  Handler,
  RequestPlane,
  ServedEndpoint,
  ServeOptions,
  StreamTuning,
} from './request-plane.js';

export interface NatsRequestPlaneOptions extends StreamTuning {
  maxPayloadBytes: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class NatsRequestPlane implements RequestPlane {
  private readonly inboxPrefix = createInbox();
  private inbox: Subscription | undefined;
  private nextCallId = 0;
  private readonly calls = new Map<string, NatsCall<unknown>>();
  private readonly servers = new Set<NatsServer>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    private readonly metrics: RuntimeMetrics,
    private readonly log: Logger,
    readonly options: NatsRequestPlaneOptions,
  ) {
    // One timer for every stream of this process: heartbeats, keep-alive acks, idle detection.
    this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.floor(options.heartbeatMs / 2)));
    this.sweeper.unref();
  }

  /** The smaller of our limit and the server's max_payload. */
  get maxPayloadBytes(): number {
    return Math.min(this.options.maxPayloadBytes, this.nc.info?.max_payload ?? Number.POSITIVE_INFINITY);
  }

  async serve<Req, Res>(
    endpoint: EndpointId,
    instanceId: InstanceId,
    handler: Handler<Req, Res>,
    options: ServeOptions<Req>,
  ): Promise<ServedEndpoint> {
    const server = new NatsServer(
      this,
      this.nc,
      requestSubject(endpoint, instanceId),
      handler as Handler<unknown, unknown>,
      options as ServeOptions<unknown>,
      this.metrics.endpoint(endpoint),
      this.metrics,
      this.log,
    );
    // The subscription must be on the server before the instance is registered in discovery.
    await this.nc.flush();
    this.servers.add(server);
    const instance: Instance = {
      ...endpoint,
      instanceId,
      transport: { kind: 'nats', subject: server.subject },
    };
    return servedEndpoint(instance, server.inflight, async () => {
      server.stop();
      this.servers.delete(server);
      await this.nc.flush().catch(() => undefined);
    });
  }

  call<Res = unknown>(
    instance: Instance,
    request: unknown,
    options: CallOptions<Res> = {},
  ): AsyncIterable<Res> {
    return new NatsCall<Res>(this, instance, request, options);
  }

  instanceGone(instanceId: InstanceId): void {
    for (const call of [...this.calls.values()]) {
      if (call.instance.instanceId === instanceId)
        call.fail(new RequestError('disconnected', 'the instance left discovery before the stream ended'));
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const server of [...this.servers]) {
      server.inflight.disconnectAll('the instance stopped serving before the stream ended');
      server.stop();
    }
    this.servers.clear();
    for (const call of [...this.calls.values()])
      call.fail(new RequestError('cancelled', 'the runtime closed'));
    this.inbox?.unsubscribe();
    await this.nc.flush().catch(() => undefined);
  }

  // ---- caller side, used by NatsCall

  /** Opens the call's inbox on the shared mux subscription; returns the reply subject. */
  register(call: NatsCall<unknown>): string {
    if (!this.inbox) {
      this.inbox = this.nc.subscribe(`${this.inboxPrefix}.*`, { callback: (_err, msg) => this.onInbox(msg) });
    }
    const reply = `${this.inboxPrefix}.${(this.nextCallId++).toString(36)}`;
    this.calls.set(reply, call);
    return reply;
  }

  unregister(reply: string): void {
    this.calls.delete(reply);
  }

  publish(subject: string, data: Uint8Array, reply?: string): void {
    this.nc.publish(subject, data, reply === undefined ? undefined : { reply });
  }

  sendControl(subject: string, message: ControlMessage): void {
    try {
      this.nc.publish(subject, encoder.encode(JSON.stringify(message)));
    } catch (err) {
      this.log.debug({ err }, 'control message not sent');
    }
  }

  malformed(
    plane: 'request' | 'control' | 'response',
    reason: string,
    detail: Record<string, unknown> = {},
  ): void {
    this.metrics.malformedMessage(plane);
    this.log.warn({ plane, reason, ...detail }, 'malformed message rejected');
  }

  private onInbox(msg: Msg): void {
    const call = this.calls.get(msg.subject);
    if (!call) return; // a late frame of a finished call
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      call.fail(new RequestError('no_responders', `no instance serves ${call.subject}`), true);
      return;
    }
    call.onFrame(msg.data);
  }

  private sweep(): void {
    const now = Date.now();
    for (const call of this.calls.values()) call.tick(now);
    for (const server of this.servers) server.tick(now);
  }
}

// ---- caller

type Pending<T> = { resolve: (r: IteratorResult<T>) => void; reject: (err: unknown) => void };

class NatsCall<Res> implements AsyncIterableIterator<Res> {
  readonly subject: string;
  private reply: string | undefined;
  private readonly control: string;
  /** Received, not yet consumed data frames (at most `credit`). */
  private queue: unknown[] = [];
  private head = 0;
  private received = 0;
  private consumed = 0;
  private acked = 0;
  private lastHeard = 0;
  private lastSent = 0;
  private ended = false;
  private failure: RequestError | undefined;
  private failureReported = false;
  private finished = false;
  private pending: Pending<Res> | undefined;
  private readonly onAbort = () => this.cancel('the caller cancelled the request', true);

  constructor(
    private readonly plane: NatsRequestPlane,
    readonly instance: Instance,
    private readonly request: unknown,
    private readonly options: CallOptions<Res>,
  ) {
    this.subject = instance.transport.kind === 'nats' ? instance.transport.subject : '';
    this.control = controlSubject(this.subject);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Res>> {
    if (this.reply === undefined && !this.finished) this.open();
    if (this.head < this.queue.length) return this.take();
    if (this.failure) {
      if (this.failureReported) return Promise.resolve({ done: true, value: undefined });
      this.failureReported = true;
      return Promise.reject(this.failure);
    }
    if (this.ended || this.finished) return Promise.resolve({ done: true, value: undefined });
    if (this.pending) return Promise.reject(new Error('next() called while a previous next() is pending'));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
    });
  }

  async return(): Promise<IteratorResult<Res>> {
    if (!this.finished) {
      this.failureReported = true;
      this.cancel('the caller stopped reading', false);
    }
    return { done: true, value: undefined };
  }

  onFrame(data: Uint8Array): void {
    if (this.finished) return;
    this.lastHeard = Date.now();
    const frame = decodeFrame(data);
    switch (frame.kind) {
      case 'data': {
        if (frame.seq !== this.received + 1) {
          this.fail(
            new RequestError(
              'disconnected',
              `frame ${frame.seq} arrived after ${this.received}: frames lost`,
            ),
          );
          return;
        }
        this.received += frame.frames.length;
        let i = 0;
        const pending = this.pending;
        if (pending) {
          this.pending = undefined;
          this.deliver(frame.frames[0], pending);
          i = 1;
        }
        for (; i < frame.frames.length; i++) this.queue.push(frame.frames[i]);
        if (frame.end) this.onEnd();
        return;
      }
      case 'heartbeat':
        if (frame.seq !== this.received)
          this.fail(new RequestError('disconnected', 'frames lost before a heartbeat'));
        return;
      case 'end':
        if (frame.seq !== this.received) {
          this.fail(
            new RequestError(
              'disconnected',
              `stream ended after ${frame.seq} frames, ${this.received} arrived`,
            ),
          );
          return;
        }
        this.onEnd();
        return;
      case 'error':
        this.fail(new RequestError(frame.error.code, frame.error.message), true);
        return;
      case 'malformed':
        this.plane.malformed('response', frame.reason, { subject: this.subject });
        this.fail(new RequestError('disconnected', `malformed frame: ${frame.reason}`));
        return;
    }
  }

  private onEnd(): void {
    this.ended = true;
    this.finish();
    const pending = this.pending;
    if (pending && this.head >= this.queue.length) {
      this.pending = undefined;
      pending.resolve({ done: true, value: undefined });
    }
  }

  /** Ends the call with `err`; tells the worker to stop unless the worker ended it (`fromServer`). */
  fail(err: RequestError, fromServer = false): void {
    if (this.finished || this.ended) return;
    if (!fromServer && this.reply !== undefined)
      this.plane.sendControl(this.control, { kind: 'cancel', stream: this.reply });
    this.failure = err;
    // Frames already received are still delivered before the error (order is kept).
    this.queue = this.queue.slice(this.head);
    this.head = 0;
    this.finish();
    const pending = this.pending;
    if (pending) {
      this.pending = undefined;
      this.failureReported = true;
      pending.reject(err);
    }
  }

  tick(now: number): void {
    if (this.finished || this.reply === undefined) return;
    if (now - this.lastHeard > this.plane.options.idleTimeoutMs) {
      this.fail(
        new RequestError(
          'disconnected',
          `no frame or heartbeat from the instance for ${now - this.lastHeard} ms`,
        ),
      );
      return;
    }
    if (now - this.lastSent >= this.plane.options.heartbeatMs) this.ack(now);
  }

  private open(): void {
    const signal = this.options.signal;
    if (signal?.aborted) {
      this.fail(new RequestError('cancelled', 'the caller cancelled the request'));
      return;
    }
    if (this.instance.transport.kind !== 'nats') {
      this.fail(
        new RequestError(
          'invalid_request',
          `the NATS plane cannot call a ${this.instance.transport.kind} instance`,
        ),
      );
      return;
    }
    const json = JSON.stringify({
      v: 1,
      requestId: this.options.requestId ?? randomUUID(),
      credit: this.plane.options.credit,
      payload: this.request,
    });
    const data = encoder.encode(json);
    const limit = this.plane.maxPayloadBytes;
    if (data.length > limit) {
      this.fail(
        new RequestError('payload_too_large', `request is ${data.length} bytes, the limit is ${limit}`),
      );
      return;
    }
    this.reply = this.plane.register(this as NatsCall<unknown>);
    this.lastHeard = this.lastSent = Date.now();
    try {
      this.plane.publish(this.subject, data, this.reply);
    } catch (err) {
      this.fail(new RequestError('disconnected', `request not sent: ${errorMessage(err)}`));
      return;
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private take(): Promise<IteratorResult<Res>> {
    const value = this.queue[this.head];
    this.head++;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
    return new Promise((resolve, reject) => this.deliver(value, { resolve, reject }));
  }

  /** Validates one data frame and hands it over; acknowledges every credit/2 frames. */
  private deliver(value: unknown, pending: Pending<Res>): void {
    this.consumed++;
    if (!this.finished && this.consumed - this.acked >= this.plane.options.credit >>> 1) this.ack(Date.now());
    const schema = this.options.responseSchema;
    if (!schema) {
      pending.resolve({ done: false, value: value as Res });
      return;
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      this.plane.malformed('response', parsed.error.message, { subject: this.subject });
      this.cancel('invalid response frame', false);
      pending.reject(new RequestError('invalid_request', `invalid response frame: ${parsed.error.message}`));
      return;
    }
    pending.resolve({ done: false, value: parsed.data });
  }

  private ack(now: number): void {
    if (this.reply === undefined) return;
    this.acked = this.consumed;
    this.lastSent = now;
    this.plane.sendControl(this.control, { kind: 'ack', stream: this.reply, seq: this.consumed });
  }

  /** Caller-side end before the stream's end: tell the worker, report `cancelled` if asked. */
  private cancel(reason: string, report: boolean): void {
    if (this.finished) return;
    if (!report) {
      this.failureReported = true;
      this.queue = [];
      this.head = 0;
    }
    this.fail(new RequestError('cancelled', reason));
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    if (this.reply !== undefined) this.plane.unregister(this.reply);
  }
}

// ---- worker

class NatsServer {
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
