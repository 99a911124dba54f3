// The runtime a frontend or worker process holds: discovery, request plane and event plane, on etcd
// and NATS or in memory, plus the bookkeeping that ties them together (serve-and-register, health,
// graceful shutdown, instances that leave discovery ending their in-flight calls).
import type { Registry } from 'prom-client';
import type { EndpointId, InstanceId, ModelCard } from '../api/index.js';
import { newInstanceId } from '../api/index.js';
import type { Discovery, InstanceEvent, Watch, WatchScope } from './discovery.js';
import type { EventPlane } from './event-plane.js';
import type { KvDataPlane } from './kv-data-plane.js';
import type { Logger } from './logger.js';
import { MemoryDiscovery } from './memory-discovery.js';
import { MemoryEventPlane } from './memory-event-plane.js';
import { MemoryHub } from './memory-hub.js';
import { MemoryKvDataPlane } from './memory-kv-data-plane.js';
import { MemoryRequestPlane } from './memory-request-plane.js';
import { RuntimeMetrics } from './metrics.js';
import {
  DEFAULT_STREAM_TUNING,
  type Handler,
  type RequestPlane,
  type ServedEndpoint,
  type ServeOptions,
  type StreamTuning,
} from './request-plane.js';
import { TcpKvDataPlane } from './tcp-kv-data-plane.js';

export interface RuntimeOptions {
  log: Logger;
  /** etcd discovery when given (ETCD_ENDPOINTS); in-memory otherwise. */
  etcdEndpoints?: string[];
  /** NATS request and event planes when given (NATS_SERVER); in-process otherwise. */
  natsServer?: string;
  /** In-memory backends shared with other runtimes of this process; a private hub by default. */
  memory?: MemoryHub;
  /** Where the runtime's metrics go (the system server's registry); a private one by default. */
  registry?: Registry;
  /** This process's instance id (every endpoint it serves); random by default. */
  instanceId?: InstanceId;
  /** Discovery lease TTL (DESIGN §5: 10 s). */
  leaseTtlSeconds?: number;
  /** Largest request or response frame, in bytes (NATS: also capped by the server's max_payload). */
  maxPayloadBytes?: number;
  /** Request-plane stream tuning (NATS backend). */
  stream?: Partial<StreamTuning>;
  /** How long the first etcd / NATS connection is retried before startup fails (10 s by default). */
  startupWaitMs?: number;
  /** Where a worker's KV data plane listens (with NATS: TCP; in memory otherwise). DESIGN §12. */
  kvDataPlane?: {
    /** TCP even without NATS (processes' KV moved over sockets in one process: benchmarks). */
    tcp?: boolean;
    host?: string;
    port?: number;
    advertiseHost?: string;
  };
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

export interface ServeEndpointOptions<Req> extends ServeOptions<Req> {
  /** Registered next to the instance: the endpoint serves this model. */
  card?: ModelCard;
}

export interface Runtime {
  readonly instanceId: InstanceId;
  readonly discovery: Discovery;
  readonly requestPlane: RequestPlane;
  readonly eventPlane: EventPlane;
  /** Moves KV blocks between workers (disaggregated serving): TCP with NATS, in memory otherwise. */
  readonly kvDataPlane: KvDataPlane;
  readonly metrics: RuntimeMetrics;
  /**
   * Serves an endpoint as this process's instance and registers it (with its card) in discovery:
   * the one call a worker makes per endpoint. The runtime turns ready after the first.
   */
  serveEndpoint<Req, Res>(
    endpoint: EndpointId,
    handler: Handler<Req, Res>,
    options: ServeEndpointOptions<Req>,
  ): Promise<ServedEndpoint>;
  /** True once an endpoint is served and until shutdown starts: the worker's /health. */
  readonly ready: boolean;
  /**
   * Graceful shutdown: unregister from discovery, refuse new requests, let in-flight ones finish for
   * up to `graceMs` (then disconnect them), close the backends.
   */
  shutdown(graceMs: number): Promise<void>;
  /** Closes at once: in-flight requests are disconnected, registrations removed. */
  close(): Promise<void>;
}

export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const log = options.log;
  const metrics = new RuntimeMetrics(options.registry);
  const hub = options.memory ?? new MemoryHub();
  const maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
  const tuning = { ...DEFAULT_STREAM_TUNING, ...options.stream };
  const etcdEndpoints = options.etcdEndpoints?.filter((e) => e.trim() !== '') ?? [];
  const etcd = etcdEndpoints.length > 0 ? etcdEndpoints : undefined;

  let discovery: Discovery;
  if (etcd) {
    const { EtcdDiscovery } = await import('./etcd-discovery.js');
    discovery = await EtcdDiscovery.connect({
      endpoints: etcd,
      leaseTtlSeconds: options.leaseTtlSeconds ?? 10,
      log: log.child({ component: 'discovery' }),
      metrics,
      ...(options.startupWaitMs === undefined ? {} : { startupWaitMs: options.startupWaitMs }),
    });
  } else {
    discovery = new MemoryDiscovery(hub.discovery);
  }

  let requestPlane: RequestPlane;
  let eventPlane: EventPlane;
  let kvDataPlane: KvDataPlane;
  let closeTransport = async () => {};
  try {
    if (options.natsServer) {
      const { connectNats } = await import('./nats-connection.js');
      const { NatsRequestPlane } = await import('./nats-request-plane.js');
      const { NatsEventPlane } = await import('./nats-event-plane.js');
      const nc = await connectNats(
        options.natsServer,
        log.child({ component: 'nats' }),
        options.startupWaitMs,
      );
      requestPlane = new NatsRequestPlane(nc, metrics, log.child({ component: 'request-plane' }), {
        ...tuning,
        maxPayloadBytes,
      });
      eventPlane = new NatsEventPlane(nc, metrics, log.child({ component: 'event-plane' }));
      kvDataPlane = tcpKvDataPlane(options);
      closeTransport = async () => {
        await nc.drain().catch(() => nc.close());
      };
    } else {
      requestPlane = new MemoryRequestPlane(
        hub.requests,
        metrics,
        log.child({ component: 'request-plane' }),
        {
          maxPayloadBytes,
        },
      );
      eventPlane = new MemoryEventPlane(hub.events, log.child({ component: 'event-plane' }));
      kvDataPlane = options.kvDataPlane?.tcp ? tcpKvDataPlane(options) : new MemoryKvDataPlane(hub.kv);
    }
  } catch (err) {
    await discovery.close();
    throw err;
  }

  return new DistributedRuntime(
    options.instanceId ?? newInstanceId(),
    linkDiscovery(discovery, requestPlane),
    requestPlane,
    eventPlane,
    kvDataPlane,
    metrics,
    log,
    closeTransport,
  );
}

function tcpKvDataPlane(options: RuntimeOptions): KvDataPlane {
  const { tcp: _tcp, ...listen } = options.kvDataPlane ?? {};
  return new TcpKvDataPlane({ log: options.log.child({ component: 'kv-data-plane' }), ...listen });
}

/** Instances that leave discovery (lease lost) end the in-flight calls made to them. */
function linkDiscovery(discovery: Discovery, requestPlane: RequestPlane): Discovery {
  const watchInstances = (scope: WatchScope, onEvent: (event: InstanceEvent) => void): Promise<Watch> =>
    discovery.watchInstances(scope, (event) => {
      onEvent(event);
      if (event.kind === 'removed') requestPlane.instanceGone(event.instance.instanceId);
    });
  return {
    register: (i, c) => discovery.register(i, c),
    unregister: (e, i) => discovery.unregister(e, i),
    unregisterAll: () => discovery.unregisterAll(),
    list: (s) => discovery.list(s),
    watchInstances,
    watchModels: (f, n) => discovery.watchModels(f, n),
    modelCard: (e, i) => discovery.modelCard(e, i),
    close: () => discovery.close(),
  };
}

class DistributedRuntime implements Runtime {
  private readonly served = new Set<ServedEndpoint>();
  private stopping = false;
  private closed: Promise<void> | undefined;

  constructor(
    readonly instanceId: InstanceId,
    readonly discovery: Discovery,
    readonly requestPlane: RequestPlane,
    readonly eventPlane: EventPlane,
    readonly kvDataPlane: KvDataPlane,
    readonly metrics: RuntimeMetrics,
    private readonly log: Logger,
    private readonly closeTransport: () => Promise<void>,
  ) {}

  get ready(): boolean {
    return this.served.size > 0 && !this.stopping;
  }

  async serveEndpoint<Req, Res>(
    endpoint: EndpointId,
    handler: Handler<Req, Res>,
    options: ServeEndpointOptions<Req>,
  ): Promise<ServedEndpoint> {
    if (this.stopping) throw new Error('the runtime is shutting down');
    const served = await this.requestPlane.serve(endpoint, this.instanceId, handler, options);
    try {
      await this.discovery.register(served.instance, options.card);
    } catch (err) {
      await served.close();
      throw err;
    }
    this.served.add(served);
    this.log.info({ endpoint: served.instance.transport, instanceId: this.instanceId }, 'endpoint served');
    return served;
  }

  async shutdown(graceMs: number): Promise<void> {
    if (this.stopping) return this.close();
    this.stopping = true;
    this.log.info({ graceMs, endpoints: this.served.size }, 'graceful shutdown: unregistering');
    await this.discovery.unregisterAll().catch((err: unknown) => this.log.warn({ err }, 'unregister failed'));
    for (const served of this.served) served.stopAccepting();
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      Promise.all([...this.served].map((s) => s.drained())).then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (!drained) this.log.warn('grace period over: disconnecting the requests still in flight');
    await this.close();
  }

  close(): Promise<void> {
    this.stopping = true;
    this.closed ??= (async () => {
      await Promise.all([...this.served].map((s) => s.close()));
      this.served.clear();
      await this.requestPlane.close();
      await this.eventPlane.close();
      await this.kvDataPlane.close();
      await this.discovery.close();
      await this.closeTransport();
    })();
    return this.closed;
  }
}

export type { Discovery, InstanceEvent, ModelEvent, Watch, WatchScope } from './discovery.js';
export { causeText, isRequestError, RequestError, ServiceUnreachableError } from './errors.js';
export type { ComponentScope, EventPlane, EventTopic, Subscription } from './event-plane.js';
export { KV_EVENTS, LOAD_METRICS } from './event-plane.js';
export type {
  KvBlockProvider,
  KvBlockSink,
  KvDataPlane,
  KvDataPlaneStats,
  KvPullOptions,
  KvPullResult,
  KvPullSource,
  ServedKvDataPlane,
} from './kv-data-plane.js';
export type { Logger } from './logger.js';
export { MemoryHub } from './memory-hub.js';
export { MemoryKvDataPlane, MemoryKvHub } from './memory-kv-data-plane.js';
export { RuntimeMetrics } from './metrics.js';
export type {
  CallOptions,
  Handler,
  RequestContext,
  RequestPlane,
  ServedEndpoint,
  ServeOptions,
  StreamTuning,
} from './request-plane.js';
export { DEFAULT_STREAM_TUNING } from './request-plane.js';
export { isStandbyEndpoint, registerStandby, STANDBY_ENDPOINT, standbyInstance } from './standby.js';
export { DEFAULT_TCP_KV_OPTIONS, TcpKvDataPlane, type TcpKvDataPlaneOptions } from './tcp-kv-data-plane.js';
