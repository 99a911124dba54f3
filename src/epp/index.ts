// The endpoint picker (EPP) of the Gateway API Inference Extension, on our KV router: an Envoy ext_proc
// v3 gRPC server that picks, for each request, the InferencePool pod whose worker holds most of the
// prompt's KV cache (picker.ts). `startEpp` is the one entry point: `dynamo epp` (serve.ts), the tests
// and the benchmark call it. The router part is the frontend's (ModelRegistry: one router per model and
// role, fed by discovery, KV events and load metrics); the pool part is injected (pool.ts watches an
// InferencePool; the benchmark passes fixed endpoints).
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ModelRegistry } from '../frontend/model-registry.js';
import { ModelResourceCache } from '../llm/model-resources.js';
import { DEFAULT_ROUTER_SETTINGS, type RouterSettings } from '../router/index.js';
import type { Logger, Runtime } from '../runtime/index.js';
import { EXT_PROC_SERVICE, HEALTH_SERVICE } from './ext-proc-schema.js';
import { type ExtProcCall, handleExtProcStream } from './ext-proc-stream.js';
import { healthService } from './health.js';
import { EppMetrics } from './metrics.js';
import { EndpointPicker, type PoolEndpointKind } from './picker.js';
import type { PoolEndpoint } from './pool.js';

/** The Inference Extension's EPP ports: ext_proc 9002, gRPC health 9003, metrics 9090. */
export const DEFAULT_EPP_PORT = 9002;
export const DEFAULT_EPP_HEALTH_PORT = 9003;
export const DEFAULT_EPP_METRICS_PORT = 9090;
export const DEFAULT_EPP_MAX_BODY_BYTES = 8 * 1024 * 1024;
/** Room beside the body in one ext_proc message (headers, metadata), and for a body just past the limit. */
const MESSAGE_OVERHEAD = 1024 * 1024;

export interface EppConfig {
  host: string;
  /** ext_proc (and health) gRPC port; 0 picks a free one. */
  port: number;
  /** A second port serving only gRPC health (probes); null: none. 0 picks a free one. */
  healthPort: number | null;
  /** Route the models of this Dynamo namespace only; every namespace when absent. */
  namespace?: string | undefined;
  /** When KV routing cannot decide, send the request to a random Ready pod instead of a 503 / 429. */
  failOpen: boolean;
  /** Larger bodies are answered 413. */
  maxBodyBytes: number;
  /**
   * `frontends`: the pool's pods are frontends, the picked worker goes to one as a hint header;
   * `workers`: the pool's pods are workers that serve HTTP themselves (picker.ts).
   */
  poolEndpoints: PoolEndpointKind;
  router?: Partial<RouterSettings> | undefined;
  /** Sent beside each worker hint, for frontends that require it (--worker-hint-secret-file). */
  workerHintToken?: string | undefined;
}

/** Where the pool's endpoints come from (PoolWatch, or fixed ones). */
export interface PoolSource {
  endpoints(): ReadonlyMap<string, PoolEndpoint>;
  readonly isSynced: boolean;
}

export interface Epp {
  readonly port: number;
  readonly healthPort: number | null;
  readonly picker: EndpointPicker;
  /** Serving: the pool is synced. */
  ready(): boolean;
  /** Stops taking streams, lets open ones finish for up to `graceMs`, then cuts them; stops routing. */
  close(graceMs?: number): Promise<void>;
}

export async function startEpp(
  config: EppConfig,
  runtime: Runtime,
  pool: PoolSource,
  log: Logger,
): Promise<Epp> {
  const metrics = EppMetrics.for(runtime.metrics.registry);
  let picker: EndpointPicker | undefined;
  const registry = new ModelRegistry({
    runtime,
    resources: new ModelResourceCache(),
    router: {
      ...DEFAULT_ROUTER_SETTINGS,
      ...config.router,
      // Behind frontends, the frontend serving a request records it (and shares it with its peers);
      // the picker's own picks shared too would count every request twice there.
      ...(config.poolEndpoints === 'frontends' ? { replicaSync: false } : {}),
    },
    registry: runtime.metrics.registry,
    log: log.child({ component: 'models' }),
    onChange: (model) => picker?.refresh(model),
  });
  const endpoints = () => {
    const e = pool.endpoints();
    metrics.readyEndpoints.set(e.size);
    return e;
  };
  picker = new EndpointPicker(
    registry,
    runtime.discovery,
    endpoints,
    { failOpen: config.failOpen, maxBodyBytes: config.maxBodyBytes, poolEndpoints: config.poolEndpoints },
    metrics,
    log.child({ component: 'picker' }),
  );
  await registry.start(config.namespace);
  for (const model of registry.list()) picker.refresh(model.name);

  const ready = () => pool.isSynced;
  const ctx = {
    picker,
    metrics,
    log: log.child({ component: 'ext-proc' }),
    maxBodyBytes: config.maxBodyBytes,
    workerHintToken: config.workerHintToken,
  };
  // A BUFFERED body comes as one message: grpc-js' 4 MiB default would refuse a body the picker takes
  // (--max-body-bytes, 8 MiB by default) with RESOURCE_EXHAUSTED; past the limit the picker answers 413.
  const server = new Server({ 'grpc.max_receive_message_length': config.maxBodyBytes + MESSAGE_OVERHEAD });
  server.addService(EXT_PROC_SERVICE, { Process: (call: ExtProcCall) => handleExtProcStream(call, ctx) });
  server.addService(HEALTH_SERVICE, healthService(ready));
  const servers = [server];
  let healthServer: Server | undefined;
  try {
    const port = await bind(server, config.host, config.port);
    let healthPort: number | null = null;
    if (config.healthPort !== null) {
      healthServer = new Server();
      healthServer.addService(HEALTH_SERVICE, healthService(ready));
      servers.push(healthServer);
      healthPort = await bind(healthServer, config.host, config.healthPort);
    }
    log.info(
      { port, healthPort, failOpen: config.failOpen, poolEndpoints: config.poolEndpoints },
      'endpoint picker listening',
    );
    return {
      port,
      healthPort,
      picker,
      ready,
      async close(graceMs = 0) {
        await Promise.all(servers.map((s) => shutdown(s, graceMs)));
        await registry.close();
      },
    };
  } catch (err) {
    for (const s of servers) s.forceShutdown();
    await registry.close();
    throw err;
  }
}

function bind(server: Server, host: string, port: number): Promise<number> {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) =>
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
}

/** Graceful: no new streams, open ones may finish within graceMs; then the rest are cut. */
function shutdown(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.forceShutdown(), graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
