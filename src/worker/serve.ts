// A worker process (`dynamo worker`): runtime on etcd + NATS (in memory without them, which only makes
// sense inside `dynamo run`), the system server (/live, /health, /metrics), the worker, and a graceful
// stop when `signal` fires: unregister, drain in-flight requests, close — within the grace period
// whether etcd and NATS answer or not (Runtime.shutdown bounds every step).
import { Registry } from 'prom-client';
import { type ConnectionSecuritySettings, createRuntime, type Logger } from '../runtime/index.js';
import { startSystemServer } from '../runtime/system-server.js';
import type { WorkerConfig } from './config.js';
import { startWorker } from './worker.js';

export interface WorkerProcessOptions {
  worker: WorkerConfig;
  etcdEndpoints?: string[];
  natsServer?: string;
  /** TLS and credentials for etcd and NATS (read and checked when the runtime starts). */
  security?: ConnectionSecuritySettings | undefined;
  systemPort: number;
  /** How long in-flight requests may run on after the stop signal. */
  gracefulShutdownMs: number;
  /**
   * Where the KV data plane listens (TCP with NATS): host and port (0: any free), and the host put in
   * the card when it differs from the listening one.
   */
  kvDataPlane?: { host?: string; port?: number; advertiseHost?: string };
}

/** Serves until `signal` aborts, then stops gracefully; resolves to the shutdown steps cut short. */
export async function serveWorker(
  options: WorkerProcessOptions,
  log: Logger,
  signal: AbortSignal,
): Promise<string[]> {
  if (!options.etcdEndpoints?.length || !options.natsServer) {
    log.warn(
      'no ETCD_ENDPOINTS / NATS_SERVER: discovery and transport are in memory, no frontend can reach this worker',
    );
  }
  const registry = new Registry();
  const runtime = await createRuntime({
    log,
    registry,
    ...(options.etcdEndpoints?.length ? { etcdEndpoints: options.etcdEndpoints } : {}),
    ...(options.natsServer ? { natsServer: options.natsServer } : {}),
    ...(options.security ? { security: options.security } : {}),
    ...(options.kvDataPlane ? { kvDataPlane: options.kvDataPlane } : {}),
  });
  const system = await startSystemServer({
    port: options.systemPort,
    registry,
    ready: () => runtime.ready,
    log,
  }).catch(async (err: unknown) => {
    await runtime.close();
    throw err;
  });
  try {
    const worker = await startWorker(options.worker, runtime, log).catch(async (err: unknown) => {
      await runtime.close();
      throw err;
    });
    if (!signal.aborted)
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    log.info({ graceMs: options.gracefulShutdownMs }, 'stopping: unregistering and draining');
    const cut = await runtime.shutdown(options.gracefulShutdownMs);
    await worker.close();
    return cut;
  } finally {
    await system.close();
  }
}
