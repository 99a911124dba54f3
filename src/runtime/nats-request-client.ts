// The caller side of the NATS request plane (see nats-request-plane.ts for the protocol): one call
// is one stream from the request message to its end or error frame; at most `credit` frames are
// buffered, acknowledged every credit/2 consumed and every heartbeatMs (the caller's heartbeat).
import { randomUUID } from 'node:crypto';
import type { Instance } from '../api/index.js';
import { controlSubject } from '../api/request-plane.js';
import { RequestError } from './errors.js';
import { errorMessage } from './memory-request-plane.js';
import { decodeFrame } from './nats-frames.js';
import type { NatsRequestPlane } from './nats-request-plane.js';
import type { CallOptions } from './request-plane.js';

const encoder = new TextEncoder();

type Pending<T> = { resolve: (r: IteratorResult<T>) => void; reject: (err: unknown) => void };

export class NatsCall<Res> implements AsyncIterableIterator<Res> {
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
