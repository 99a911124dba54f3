// One NATS connection per process, shared by its request and event planes. It reconnects forever
// (a NATS restart must not kill workers); nats.js resubscribes every subscription on reconnect.
import { connect, type NatsConnection } from 'nats';
import { ServiceUnreachableError } from './errors.js';
import type { Logger } from './logger.js';
import { DEFAULT_STARTUP_WAIT_MS, retryUntilReachable } from './startup-retry.js';

export async function connectNats(
  server: string,
  log: Logger,
  startupWaitMs = DEFAULT_STARTUP_WAIT_MS,
): Promise<NatsConnection> {
  const options = {
    servers: server.split(',').map((s) => s.trim()),
    name: `dynamo-${process.pid}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 10_000,
  };
  const nc = await retryUntilReachable(startupWaitMs, () => connect(options)).catch((err: unknown) => {
    throw new ServiceUnreachableError('nats', server, err);
  });
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'reconnect') log.info({ server: status.data }, 'NATS reconnected');
      else if (status.type === 'disconnect') log.warn({ server: status.data }, 'NATS disconnected');
      else if (status.type === 'error') log.error({ err: status.data }, 'NATS error');
    }
  })();
  log.info({ server }, 'NATS connected');
  return nc;
}
