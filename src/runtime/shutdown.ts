// Graceful shutdown on SIGTERM (what Kubernetes sends) and SIGINT: unregister from discovery,
// refuse new requests, drain in-flight ones up to the grace period, run the process's own cleanups,
// exit 0. A second signal exits at once with status 1.
import type { Runtime } from './index.js';
import type { Logger } from './logger.js';

export interface ShutdownOptions {
  runtime: Runtime;
  /** How long in-flight requests may run on after the signal. */
  graceMs: number;
  log: Logger;
  /** After the runtime drained and closed (system server, engine, ...). */
  cleanup?: () => Promise<void>;
  /** For tests; process.exit by default. */
  exit?: (code: number) => void;
  signals?: NodeJS.Signals[];
}

/** Installs the handlers; returns a function that removes them. */
export function handleShutdownSignals(options: ShutdownOptions): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      options.log.warn({ signal }, 'second signal: exiting now');
      exit(1);
      return;
    }
    stopping = true;
    options.log.info({ signal, graceMs: options.graceMs }, 'shutting down');
    void (async () => {
      let code = 0;
      try {
        await options.runtime.shutdown(options.graceMs);
        await options.cleanup?.();
      } catch (err) {
        options.log.error({ err }, 'shutdown failed');
        code = 1;
      }
      options.log.info({ code }, 'shut down');
      exit(code);
    })();
  };
  for (const signal of signals) process.on(signal, onSignal);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
}
