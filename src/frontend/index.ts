// The frontend service (DESIGN §2–3): an OpenAI-compatible HTTP API over the models that discovery
// knows. `startFrontend` is the one entry point, used by `dynamo frontend` and, in-process, by
// `dynamo run` and the tests.
import type { FastifyInstance } from 'fastify';
import { ModelResourceCache } from '../llm/model-resources.js';
import type { OutputParserSettings } from '../llm/tool-calls/chat-output.js';
import { DEFAULT_ROUTER_SETTINGS, type RouterSettings } from '../router/index.js';
import type { Logger, Runtime } from '../runtime/index.js';
import { buildApp } from './app.js';
import { DEFAULT_DISAGG_OPTIONS, type DisaggOptions, EngineClient } from './engine-client.js';
import { FrontendMetrics } from './metrics.js';
import { ModelRegistry } from './model-registry.js';
import { createServices } from './plugins/services.plugin.js';
import { Responder } from './respond.js';
import { SseKeepAlive } from './sse-keep-alive.js';
import { DEFAULT_WORKER_WAIT, WaitingRoom, type WorkerWaitOptions } from './waiting-room.js';
import { readWorkerHintSecret, WorkerHintGate } from './worker-hint.js';

export interface FrontendConfig {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Serve the models of this namespace; every namespace when absent. */
  namespace?: string | undefined;
  /** How many times a request whose worker dies mid-stream moves to another worker. */
  migrationLimit: number;
  /** Status when every worker is busy (Dynamo: 529). */
  busyStatusCode: number;
  /** Largest request body (413 past it). */
  bodyLimitBytes: number;
  /** The routers' settings (one router per model); the router's defaults for what is absent. */
  router?: Partial<RouterSettings> | undefined;
  /** Disaggregated serving (models with prefill and decode workers); the defaults for what is absent. */
  disagg?: Partial<DisaggOptions> | undefined;
  /** Requests for a parked model (scaled to zero) wait for a worker; DEFAULT_WORKER_WAIT for what is absent. */
  workerWait?: Partial<WorkerWaitOptions> | undefined;
  /** Overload answers, SSE keep-alive and HTTP timeouts; DEFAULT_ADMISSION for what is absent. */
  admission?: Partial<AdmissionOptions> | undefined;
  /** CORS, access log, unknown request fields; DEFAULT_HTTP_OPTIONS for what is absent. */
  http?: Partial<HttpOptions> | undefined;
  /** Tool-call and reasoning parsers by name ('none': off); detected per model where absent. */
  outputParsers?: OutputParserSettings | undefined;
  /**
   * Route to the worker an endpoint picker names in x-dynamo-worker-instance-id, in every router mode
   * (default false: only `direct` mode reads it). For frontends that sit behind an EPP pool.
   */
  trustWorkerHint?: boolean | undefined;
  /**
   * With trustWorkerHint: a file holding the secret the endpoint picker shares (the operator mounts
   * one per graph); a hint is then honoured only with x-dynamo-worker-hint-token equal to it.
   */
  workerHintSecretFile?: string | undefined;
}

export interface AdmissionOptions {
  /** `Retry-After` seconds on a busy answer (529 / --busy-status-code). */
  retryAfterS: number;
  /** A stream waiting for its first token gets an SSE comment this often; 0: never. */
  sseKeepAliveMs: number;
  /** Receiving a whole request (headers and body) may take this long (fastify requestTimeout). */
  requestTimeoutMs: number;
  /** A socket silent both ways this long is closed (fastify connectionTimeout); 0: never. */
  connectionTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long (fastify keepAliveTimeout). */
  keepAliveTimeoutMs: number;
}

/**
 * Retry in 1 s; a comment every 5 s (below common 30–60 s proxy idle timeouts); 30 s to send a
 * request; a socket silent 10 minutes is dead (long unary generations send nothing until their end);
 * idle keep-alive 72 s, past the 60 s of common load balancers so that they close first.
 */
export const DEFAULT_ADMISSION: AdmissionOptions = {
  retryAfterS: 1,
  sseKeepAliveMs: 5_000,
  requestTimeoutMs: 30_000,
  connectionTimeoutMs: 600_000,
  keepAliveTimeoutMs: 72_000,
};

export interface HttpOptions {
  /** Origins allowed to call the API from a browser (CORS); none: no CORS headers at all. */
  corsOrigins: string[];
  /** An info line per request (method, path, status, model, tokens, duration). */
  accessLog: boolean;
  /** A top-level request field the API does not know is a 400 instead of ignored (and named). */
  strictRequestFields: boolean;
}

export const DEFAULT_HTTP_OPTIONS: HttpOptions = {
  corsOrigins: [],
  accessLog: true,
  strictRequestFields: false,
};

export const DEFAULT_BODY_LIMIT_BYTES = 8 * 1024 * 1024;
export { DEFAULT_DISAGG_OPTIONS, type DisaggOptions } from './engine-client.js';
export { DEFAULT_WORKER_WAIT, type WorkerWaitOptions } from './waiting-room.js';

export interface Frontend {
  readonly app: FastifyInstance;
  /** `http://host:port` it listens on. */
  readonly url: string;
  readonly port: number;
  /**
   * Stops accepting requests, lets in-flight responses finish for up to `graceMs` (then cuts their
   * connections, which cancels their requests on the workers), and stops watching discovery.
   */
  close(graceMs?: number): Promise<void>;
}

export async function startFrontend(
  config: FrontendConfig,
  runtime: Runtime,
  log: Logger,
): Promise<Frontend> {
  const admission = { ...DEFAULT_ADMISSION, ...config.admission };
  // Read first: a bad secret file stops the frontend before it connects.
  const workerHints = new WorkerHintGate(
    config.trustWorkerHint ?? false,
    config.workerHintSecretFile === undefined
      ? undefined
      : await readWorkerHintSecret(config.workerHintSecretFile),
  );
  if (config.trustWorkerHint && !workerHints.guarded) {
    log.warn(
      'trusting worker hints without --worker-hint-secret-file: any client that reaches this frontend can pin requests to a worker with x-dynamo-worker-instance-id',
    );
  }
  let waitingRoom: WaitingRoom | undefined;
  const registry = new ModelRegistry({
    runtime,
    resources: new ModelResourceCache(),
    router: { ...DEFAULT_ROUTER_SETTINGS, ...config.router },
    registry: runtime.metrics.registry,
    // Its routers bind `component: router`: a `component` here would repeat in their lines.
    log,
    onChange: (model) => waitingRoom?.changed(model),
  });
  const metrics = new FrontendMetrics(
    runtime.metrics.registry,
    () =>
      registry.list().map((m) => ({
        model: m.name,
        depth: [...m.sets.values()].reduce((n, s) => n + s.router.queueDepth, 0),
      })),
    // Every listed model, 0 included: a planner reading the gauge tells "nobody waits" from "no data".
    () => registry.list().map((m) => ({ model: m.name, depth: waitingRoom?.count(m.name) ?? 0 })),
  );
  waitingRoom = new WaitingRoom(registry, metrics, { ...DEFAULT_WORKER_WAIT, ...config.workerWait });
  await registry.start(config.namespace);
  const engine = new EngineClient(
    runtime.requestPlane,
    runtime.discovery,
    metrics,
    {
      migrationLimit: config.migrationLimit,
      busyStatusCode: config.busyStatusCode,
      retryAfterS: admission.retryAfterS,
      disagg: { ...DEFAULT_DISAGG_OPTIONS, ...config.disagg },
      workerHints,
    },
    log.child({ component: 'engine-client' }),
  );
  const keepAlive = new SseKeepAlive(admission.sseKeepAliveMs);
  const services = createServices(
    registry,
    new Responder(engine, metrics, keepAlive, config.outputParsers),
    metrics,
    waitingRoom,
  );
  const app = await buildApp({
    services,
    log: log.child({ component: 'http' }),
    bodyLimitBytes: config.bodyLimitBytes,
    timeouts: admission,
    http: { ...DEFAULT_HTTP_OPTIONS, ...config.http },
  });
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    keepAlive.stop();
    await registry.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  log.info({ port, namespace: config.namespace ?? '*' }, 'frontend listening');
  return {
    app,
    url: `http://${host}:${port}`,
    port,
    async close(graceMs = 0) {
      let timer: NodeJS.Timeout | undefined;
      const closing = app.close();
      // A keep-alive connection whose response just ended is idle: close it then, not at the deadline.
      const reaper = setInterval(() => app.server.closeIdleConnections(), 50);
      await Promise.race([
        closing,
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            if (graceMs > 0) log.warn({ graceMs }, 'grace period over: closing the connections still open');
            app.server.closeAllConnections();
            resolve();
          }, graceMs);
        }),
      ]);
      clearTimeout(timer);
      clearInterval(reaper);
      keepAlive.stop();
      await closing;
      await registry.close();
    },
  };
}
