// In-process request plane: the caller pulls the handler's iterator directly (zero copy, zero
// buffering: a caller that does not pull stops the handler — the strongest backpressure). Requests
// are validated by the endpoint's schema as over the wire; response frames pass by reference, so a
// handler must not mutate a frame after yielding it.
//
//   caller.next() ──► MemoryCall.next() ──► handler iterator.next()
//   abort / break ──► handler signal aborted, iterator.return()
import { randomUUID } from 'node:crypto';
import type { EndpointId, Instance, InstanceId } from '../api/index.js';
import { requestSubject } from '../api/index.js';
import { RequestError } from './errors.js';
import { Inflight, type InflightStream, servedEndpoint } from './inflight.js';
import type { Logger } from './logger.js';
import type { EndpointMetrics, RuntimeMetrics } from './metrics.js';
import type { CallOptions, Handler, RequestPlane, ServedEndpoint, ServeOptions } from './request-plane.js';

interface MemoryServer {
  readonly endpoint: EndpointId;
  readonly handler: Handler<unknown, unknown>;
  readonly options: ServeOptions<unknown>;
  readonly inflight: Inflight<MemoryCall<unknown>>;
  readonly metrics: EndpointMetrics;
}

/** The servers of a process, by address (the request subject the NATS backend would use). */
export class MemoryRequestRegistry {
  readonly servers = new Map<string, MemoryServer>();
}

export interface MemoryRequestPlaneOptions {
  maxPayloadBytes: number;
}

export class MemoryRequestPlane implements RequestPlane {
  private readonly calls = new Map<InstanceId, Set<MemoryCall<unknown>>>();
  private readonly served = new Set<ServedEndpoint>();

  constructor(
    private readonly registry: MemoryRequestRegistry,
    private readonly metrics: RuntimeMetrics,
    private readonly log: Logger,
    private readonly options: MemoryRequestPlaneOptions,
  ) {}

  async serve<Req, Res>(
    endpoint: EndpointId,
    instanceId: InstanceId,
    handler: Handler<Req, Res>,
    options: ServeOptions<Req>,
  ): Promise<ServedEndpoint> {
    const address = requestSubject(endpoint, instanceId);
    if (this.registry.servers.has(address)) throw new Error(`${address} is already served in this process`);
    const inflight = new Inflight<MemoryCall<unknown>>();
    const server: MemoryServer = {
      endpoint,
      handler: handler as Handler<unknown, unknown>,
      options: options as ServeOptions<unknown>,
      inflight,
      metrics: this.metrics.endpoint(endpoint),
    };
    this.registry.servers.set(address, server);
    const instance: Instance = { ...endpoint, instanceId, transport: { kind: 'memory', address } };
    const served = servedEndpoint(instance, inflight, async () => {
      if (this.registry.servers.get(address) === server) this.registry.servers.delete(address);
      this.served.delete(served);
    });
    this.served.add(served);
    this.log.debug({ address }, 'serving endpoint in process');
    return served;
  }

  call<Res = unknown>(
    instance: Instance,
    request: unknown,
    options: CallOptions<Res> = {},
  ): AsyncIterable<Res> {
    return new MemoryCall<Res>(this.registry, instance, request, options, this.options, this);
  }

  async close(): Promise<void> {
    await Promise.all([...this.served].map((s) => s.close()));
    for (const set of [...this.calls.values()])
      for (const call of [...set]) call.fail(new RequestError('cancelled', 'the runtime closed'));
  }

  /** Calls in flight by instance, failed by close(); a call is tracked from its start to its end. */
  track(instanceId: InstanceId, call: MemoryCall<unknown>): void {
    let set = this.calls.get(instanceId);
    if (!set) {
      set = new Set();
      this.calls.set(instanceId, set);
    }
    set.add(call);
  }

  untrack(instanceId: InstanceId, call: MemoryCall<unknown>): void {
    const set = this.calls.get(instanceId);
    if (!set) return;
    set.delete(call);
    if (set.size === 0) this.calls.delete(instanceId);
  }
}

type Pending<T> = { resolve: (r: IteratorResult<T>) => void; reject: (err: unknown) => void };

class MemoryCall<Res> implements AsyncIterableIterator<Res>, InflightStream {
  private inner: AsyncIterator<unknown> | undefined;
  private server: MemoryServer | undefined;
  private pending: Pending<Res> | undefined;
  private failure: RequestError | undefined;
  private failureReported = false;
  private finished = false;
  private endRequest: ReturnType<EndpointMetrics['start']> | undefined;
  private readonly controller = new AbortController();
  private readonly onAbort = () =>
    this.fail(new RequestError('cancelled', 'the caller cancelled the request'));

  constructor(
    private readonly registry: MemoryRequestRegistry,
    private readonly instance: Instance,
    private readonly request: unknown,
    private readonly options: CallOptions<Res>,
    private readonly limits: MemoryRequestPlaneOptions,
    private readonly plane: MemoryRequestPlane,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Res>> {
    if (this.failure) {
      if (this.failureReported) return Promise.resolve({ done: true, value: undefined });
      this.failureReported = true;
      return Promise.reject(this.failure);
    }
    if (this.finished) return Promise.resolve({ done: true, value: undefined });
    if (this.pending) return Promise.reject(new Error('next() called while a previous next() is pending'));
    if (!this.inner) {
      const inner = this.open();
      if (!inner) return this.next();
      this.inner = inner;
    }
    const inner = this.inner;
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      inner.next().then(
        (result) => this.onResult(result),
        (err: unknown) => this.onHandlerError(err),
      );
    });
  }

  async return(): Promise<IteratorResult<Res>> {
    if (!this.finished) {
      this.failureReported = true;
      this.fail(new RequestError('cancelled', 'the caller stopped reading'));
    }
    return { done: true, value: undefined };
  }

  disconnect(reason: string): void {
    this.fail(new RequestError('disconnected', reason));
  }

  fail(err: RequestError): void {
    if (this.finished) return;
    this.failure = err;
    this.finished = true;
    this.controller.abort(err);
    const pending = this.pending;
    this.pending = undefined;
    if (pending) {
      this.failureReported = true;
      pending.reject(err);
    }
    this.inner?.return?.().catch(() => undefined);
    this.cleanup(err.code === 'cancelled' ? 'cancelled' : 'error', err.code);
  }

  /** Validates and starts the request; undefined when it failed (this.failure set). */
  private open(): AsyncIterator<unknown> | undefined {
    const signal = this.options.signal;
    if (signal?.aborted) {
      this.fail(new RequestError('cancelled', 'the caller cancelled the request'));
      return undefined;
    }
    if (this.instance.transport.kind !== 'memory') {
      this.fail(
        new RequestError(
          'invalid_request',
          `the in-process plane cannot call a ${this.instance.transport.kind} instance`,
        ),
      );
      return undefined;
    }
    const server = this.registry.servers.get(this.instance.transport.address);
    if (!server) {
      this.fail(new RequestError('no_responders', `no instance serves ${this.instance.transport.address}`));
      return undefined;
    }
    if (!server.inflight.accepting) {
      this.fail(new RequestError('unavailable', 'the instance is shutting down'));
      return undefined;
    }
    const bound = server.options.maxStreams;
    if (bound !== undefined && server.inflight.size >= bound) {
      server.metrics.start()('error', 'overloaded');
      this.fail(new RequestError('overloaded', overloadedMessage(bound)));
      return undefined;
    }
    const size = Buffer.byteLength(JSON.stringify(this.request) ?? '');
    if (size > this.limits.maxPayloadBytes) {
      this.fail(
        new RequestError(
          'payload_too_large',
          `request is ${size} bytes, the limit is ${this.limits.maxPayloadBytes}`,
        ),
      );
      return undefined;
    }
    const parsed = server.options.requestSchema.safeParse(this.request);
    if (!parsed.success) {
      this.fail(new RequestError('invalid_request', parsed.error.message));
      return undefined;
    }
    this.server = server;
    this.plane.track(this.instance.instanceId, this as MemoryCall<unknown>);
    server.inflight.add(this as MemoryCall<unknown>);
    this.endRequest = server.metrics.start();
    signal?.addEventListener('abort', this.onAbort, { once: true });
    const context = { requestId: this.options.requestId ?? randomUUID(), signal: this.controller.signal };
    try {
      return server.handler(parsed.data, context)[Symbol.asyncIterator]();
    } catch (err) {
      this.fail(new RequestError('handler_error', errorMessage(err)));
      return undefined;
    }
  }

  private onResult(result: IteratorResult<unknown>): void {
    const pending = this.pending;
    if (this.finished || !pending) return;
    this.pending = undefined;
    if (result.done) {
      this.finished = true;
      this.cleanup('ok');
      pending.resolve({ done: true, value: undefined });
      return;
    }
    const schema = this.options.responseSchema;
    if (schema) {
      const parsed = schema.safeParse(result.value);
      if (!parsed.success) {
        this.pending = pending;
        this.fail(new RequestError('invalid_request', `invalid response frame: ${parsed.error.message}`));
        return;
      }
      pending.resolve({ done: false, value: parsed.data });
      return;
    }
    pending.resolve({ done: false, value: result.value as Res });
  }

  private onHandlerError(err: unknown): void {
    if (this.finished) return;
    this.fail(err instanceof RequestError ? err : new RequestError('handler_error', errorMessage(err)));
  }

  private cleanup(outcome: 'ok' | 'cancelled' | 'error', code?: string): void {
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.server?.inflight.delete(this as MemoryCall<unknown>);
    this.endRequest?.(outcome, code);
    this.endRequest = undefined;
    this.plane.untrack(this.instance.instanceId, this as MemoryCall<unknown>);
  }
}

/** The refusal of a stream past an endpoint's `maxStreams` (both backends say the same). */
export function overloadedMessage(bound: number): string {
  return `the instance runs ${bound} streams, its bound: try another instance`;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
