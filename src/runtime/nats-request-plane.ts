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
// Disconnect: the caller ends a stream with `disconnected` when it hears nothing for idleTimeoutMs or
// sees a gap in seq (an instance leaving discovery is not one: a draining worker unregisters first
// and keeps streaming). No responders: NATS answers a request
// to a subject nobody serves with a 503 status message on the reply inbox. Backpressure: the worker
// stops pulling its handler when `credit` frames are unacknowledged; the caller buffers at most
// `credit` frames. A worker that hears nothing from a stream's caller for idleTimeoutMs while
// blocked on credit stops the handler (the caller died).
import { createInbox, type Msg, type NatsConnection, type Subscription } from 'nats';
import type { EndpointId, Instance, InstanceId } from '../api/index.js';
import { requestSubject } from '../api/index.js';
import type { ControlMessage } from '../api/request-plane.js';
import { RequestError } from './errors.js';
import { servedEndpoint } from './inflight.js';
import type { Logger } from './logger.js';
import type { RuntimeMetrics } from './metrics.js';
import { NatsCall } from './nats-request-client.js';
import { NatsServer } from './nats-request-server.js';
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
