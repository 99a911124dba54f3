// The runtime a frontend or worker process holds: discovery, request plane and event plane, on etcd
// and NATS or in memory, plus the bookkeeping that ties them together (serve-and-register, health,
// graceful shutdown held to its grace period whatever the state of the servers).
import type { Registry } from 'prom-client';
import type { EndpointId, InstanceId, ModelCard } from '../api/index.js';
import { newInstanceId } from '../api/index.js';
import { type ConnectionSecuritySettings, resolveConnectionSecurity } from './connection-security.js';
import type { Discovery } from './discovery.js';
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
import { boundedStep } from './shutdown-step.js';
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
  /** TLS and credentials for etcd and NATS: file paths, env secrets, a secrets directory (read at start). */
  security?: ConnectionSecuritySettings;
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
   * Graceful shutdown: unregister from discovery, refuse new requests, let in-flight ones finish, close
   * the backends — all within `graceMs` (at least 0.5 s for closing), whether etcd and NATS answer or
   * not. Resolves to the steps cut short by the deadline (empty: a clean stop).
   */
  shutdown(graceMs: number): Promise<string[]>;
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
  const security = await resolveConnectionSecurity(options.security);

  let discovery: Discovery;
  if (etcd) {
    const { EtcdDiscovery } = await import('./etcd-discovery.js');
    discovery = await EtcdDiscovery.connect({
      endpoints: etcd,
      leaseTtlSeconds: options.leaseTtlSeconds ?? 10,
      log: log.child({ component: 'discovery' }),
      metrics,
      security: security.etcd,
      ...(options.startupWaitMs === undefined ? {} : { startupWaitMs: options.startupWaitMs }),
    });
  } else {
    discovery = new MemoryDiscovery(hub.discovery);
  }

  let requestPlane: RequestPlane;
  let eventPlane: EventPlane;
  let kvDataPlane: KvDataPlane;
  let closeTransport = async (_budgetMs: number) => true;
  try {
    if (options.natsServer) {
      const { connectNats } = await import('./nats-connection.js');
      const { NatsRequestPlane } = await import('./nats-request-plane.js');
      const { NatsEventPlane } = await import('./nats-event-plane.js');
      const nc = await connectNats(
        options.natsServer,
        log.child({ component: 'nats' }),
        options.startupWaitMs,
        security.nats,
      );
      requestPlane = new NatsRequestPlane(nc, metrics, log.child({ component: 'request-plane' }), {
        ...tuning,
        maxPayloadBytes,
      });
      eventPlane = new NatsEventPlane(nc, metrics, log.child({ component: 'event-plane' }));
      kvDataPlane = tcpKvDataPlane(options);
      closeTransport = async (budgetMs) => {
        // With NATS down, drain() may wait for the server, or resolve and leave the connection
        // reconnecting for ever (maxReconnectAttempts -1), which kept a stopped worker alive: close it.
        const drained = await boundedStep('nats drain', budgetMs, () => nc.drain(), log);
        if (!nc.isClosed()) await nc.close();
        return drained === 'done';
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
    discovery,
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

// An instance that leaves discovery is not cut off: a draining worker unregisters first and then
// finishes its streams, and one whose lease was lost (etcd down) still serves and registers again. A
// worker that is really gone is found by the request plane itself (NATS: no heartbeat for
// idleTimeoutMs, sooner than the lease's TTL; in process: its endpoints close their streams).

class DistributedRuntime implements Runtime {
  private readonly served = new Set<ServedEndpoint>();
  private stopping = false;
  private closed: Promise<string[]> | undefined;

  constructor(
    readonly instanceId: InstanceId,
    readonly discovery: Discovery,
    readonly requestPlane: RequestPlane,
    readonly eventPlane: EventPlane,
    readonly kvDataPlane: KvDataPlane,
    readonly metrics: RuntimeMetrics,
    private readonly log: Logger,
    /** Closes the connection (within the budget, then at once); false when that was cut short. */
    private readonly closeTransport: (budgetMs: number) => Promise<boolean>,
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

  async shutdown(graceMs: number): Promise<string[]> {
    if (this.stopping) return this.closeWithin(DEFAULT_CLOSE_MS);
    this.stopping = true;
    // One deadline for every step, servers up or down (a process manager kills after its own grace
    // period): unregistering, then the drain, then closing the backends in the time kept for that.
    const deadline = Date.now() + graceMs;
    const reserve = Math.min(SHUTDOWN_CLOSE_RESERVE_MS, graceMs / 4);
    const left = (keep = 0) => Math.max(0, deadline - keep - Date.now());
    const cut: string[] = [];
    this.log.info({ graceMs, endpoints: this.served.size }, 'graceful shutdown: unregistering');
    const stopAccepting = () => {
      for (const served of this.served) served.stopAccepting();
    };
    // Refusal starts in the very turn the keys are gone (a caller that saw us leave is refused, not
    // served), and anyway when unregistering failed or was cut.
    const unregistered = await boundedStep(
      'unregister',
      Math.min(UNREGISTER_MAX_MS, left(reserve)),
      () => this.discovery.unregisterAll().then(stopAccepting),
      this.log,
    );
    if (unregistered !== 'done') cut.push('unregister');
    stopAccepting();
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      Promise.all([...this.served].map((s) => s.drained())).then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), left(reserve));
      }),
    ]);
    clearTimeout(timer);
    if (!drained) {
      cut.push('drain');
      this.log.warn('grace period over: disconnecting the requests still in flight');
    }
    cut.push(...(await this.closeWithin(Math.max(left(), MIN_CLOSE_MS))));
    if (cut.length > 0) this.log.warn({ cut, graceMs }, 'shutdown finished with steps cut short');
    return cut;
  }

  async close(): Promise<void> {
    await this.closeWithin(DEFAULT_CLOSE_MS);
  }

  /**
   * Closes every backend within `budgetMs`; resolves to the steps cut short. Each step may take
   * CLOSE_STEP_MAX_MS (they take milliseconds when the servers answer); once one was cut, the server
   * it waited on is taken for gone and the later steps are started but not waited for.
   */
  private closeWithin(budgetMs: number): Promise<string[]> {
    this.stopping = true;
    this.closed ??= (async () => {
      const deadline = Date.now() + budgetMs;
      const cut: string[] = [];
      const left = () => (cut.length > 0 ? 0 : Math.min(CLOSE_STEP_MAX_MS, deadline - Date.now()));
      const steps: [string, () => Promise<unknown>][] = [
        // etcd first, apart from NATS: revoking the lease is itself bounded (etcd-discovery.ts).
        ['discovery', () => this.discovery.close()],
        ['endpoints', () => Promise.all([...this.served].map((s) => s.close()))],
        ['request plane', () => this.requestPlane.close()],
        ['event plane', () => this.eventPlane.close()],
        ['kv data plane', () => this.kvDataPlane.close()],
      ];
      for (const [name, step] of steps)
        if ((await boundedStep(name, Math.max(0, left()), step, this.log)) === 'cut') cut.push(name);
      this.served.clear();
      // Last, and never skipped: closing the connection ends what a cut step still waits on.
      if (!(await this.closeTransport(Math.max(0, left())))) cut.push('nats drain');
      return cut;
    })();
    return this.closed;
  }
}

/** Unregistering waits at most this long (etcd down: the lease's TTL removes the keys anyway). */
const UNREGISTER_MAX_MS = 3_000;
/** Of a grace period, at most this much (a quarter of a short one) is kept for closing the backends. */
const SHUTDOWN_CLOSE_RESERVE_MS = 2_000;
/** One step of closing (a flush, a drain, a lease revoke) waits at most this long. */
const CLOSE_STEP_MAX_MS = 2_000;
/** Closing gets at least this long, even after a grace period of 0. */
const MIN_CLOSE_MS = 500;
/** close() without a grace period. */
const DEFAULT_CLOSE_MS = 5_000;

export {
  ConnectionSecurityError,
  type ConnectionSecuritySettings,
  RUNTIME_SECRET_FILES,
  ServiceRefusedError,
} from './connection-security.js';
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
