// `dynamo epp` as a process: a runtime on etcd + NATS, the InferencePool watched on the API server, the
// ext_proc server, and /metrics /health /live on the metrics port; on the stop signal the gRPC servers
// stop taking streams and let open ones finish (up to the grace period), then the runtime closes.
import { KubeClient } from '../operator/kube/client.js';
import { type ConnectionSecuritySettings, createRuntime, type Logger } from '../runtime/index.js';
import { startSystemServer } from '../runtime/system-server.js';
import { type EppConfig, startEpp } from './index.js';
import { PoolWatch } from './pool.js';

export const EPP_FIELD_MANAGER = 'dynamo-epp';

export interface ServeEppOptions {
  epp: EppConfig;
  pool: { namespace: string; name: string };
  kubeconfig?: string | undefined;
  /** /metrics, /health, /live. */
  metricsPort: number;
  etcdEndpoints?: string[] | undefined;
  natsServer?: string | undefined;
  security?: ConnectionSecuritySettings | undefined;
  gracefulShutdownMs: number;
}

export async function serveEpp(options: ServeEppOptions, log: Logger, signal: AbortSignal): Promise<void> {
  const kube = KubeClient.fromKubeconfig(options.kubeconfig, EPP_FIELD_MANAGER);
  const stopWatching = new AbortController();
  const pool = new PoolWatch(kube, { ...options.pool, log: log.child({ component: 'pool' }) });
  pool.start(stopWatching.signal);
  void pool.synced.then(() =>
    log.info({ pool: options.pool, endpoints: pool.endpoints().size }, 'pool synced'),
  );
  const runtime = await createRuntime({
    log,
    ...(options.etcdEndpoints ? { etcdEndpoints: options.etcdEndpoints } : {}),
    ...(options.natsServer ? { natsServer: options.natsServer } : {}),
    ...(options.security ? { security: options.security } : {}),
  });
  try {
    const epp = await startEpp(options.epp, runtime, pool, log);
    const system = await startSystemServer({
      port: options.metricsPort,
      host: options.epp.host,
      registry: runtime.metrics.registry,
      ready: epp.ready,
      log,
    });
    if (!signal.aborted)
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    log.info('stopping: finishing open ext_proc streams');
    await epp.close(options.gracefulShutdownMs);
    await system.close();
  } finally {
    stopWatching.abort();
    kube.close();
    await runtime.close();
  }
}
