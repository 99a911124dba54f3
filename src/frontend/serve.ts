// `dynamo frontend` as a process: a runtime on etcd + NATS (or in memory), the frontend on it, until
// the signal fires; then the HTTP server stops accepting, in-flight responses finish, the runtime closes.
import { type ConnectionSecuritySettings, createRuntime, type Logger } from '../runtime/index.js';
import { type FrontendConfig, startFrontend } from './index.js';

export interface ServeFrontendOptions {
  frontend: FrontendConfig;
  etcdEndpoints?: string[] | undefined;
  natsServer?: string | undefined;
  /** TLS and credentials for etcd and NATS (read and checked when the runtime starts). */
  security?: ConnectionSecuritySettings | undefined;
  /** On the stop signal, how long in-flight responses may run on. */
  gracefulShutdownMs: number;
}

export async function serveFrontend(
  options: ServeFrontendOptions,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  const runtime = await createRuntime({
    log,
    ...(options.etcdEndpoints ? { etcdEndpoints: options.etcdEndpoints } : {}),
    ...(options.natsServer ? { natsServer: options.natsServer } : {}),
    ...(options.security ? { security: options.security } : {}),
  });
  try {
    const frontend = await startFrontend(options.frontend, runtime, log);
    if (!signal.aborted)
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    log.info('stopping: finishing in-flight requests');
    await frontend.close(options.gracefulShutdownMs);
  } finally {
    await runtime.close();
  }
}
