// One NATS connection per process, shared by its request and event planes. It reconnects forever
// (a NATS restart must not kill workers); nats.js resubscribes every subscription on reconnect. With TLS
// or credentials configured it never connects without them: a refusal (wrong credentials, a certificate
// for another host, a server without TLS) ends the startup at once instead of being retried.
import { connect, type NatsConnection } from 'nats';
import {
  describeSecurity,
  type NatsSecurity,
  natsConnectionOptions,
  natsRefusal,
  ServiceRefusedError,
} from './connection-security.js';
import { causeText, ServiceUnreachableError } from './errors.js';
import type { Logger } from './logger.js';
import { DEFAULT_STARTUP_WAIT_MS, retryUntilReachable } from './startup-retry.js';

export async function connectNats(
  server: string,
  log: Logger,
  startupWaitMs = DEFAULT_STARTUP_WAIT_MS,
  security: NatsSecurity = {},
): Promise<NatsConnection> {
  const options = {
    servers: server.split(',').map((s) => s.trim()),
    name: `dynamo-${process.pid}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 10_000,
    // One attempt never outlasts the startup wait (nats.js waits 20 s for a handshake by default).
    timeout: Math.max(1_000, Math.min(20_000, startupWaitMs)),
    ...natsConnectionOptions(security),
  };
  const nc = await retryUntilReachable(
    startupWaitMs,
    () => connect(options),
    (err) => natsRefusal(err) !== undefined,
  ).catch((err: unknown) => {
    const refusal = natsRefusal(err);
    if (refusal !== undefined) throw new ServiceRefusedError('nats', server, refusal, err);
    // A server that requires client certificates drops the handshake: nats.js only sees a timeout.
    const hint =
      security.tls && !security.tls.cert
        ? new Error(`${causeText(err)}; TLS without a client certificate: does the server require one?`)
        : err;
    throw new ServiceUnreachableError('nats', server, hint);
  });
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'reconnect') log.info({ server: status.data }, 'NATS reconnected');
      else if (status.type === 'disconnect') log.warn({ server: status.data }, 'NATS disconnected');
      else if (status.type === 'error') log.error({ err: status.data }, 'NATS error');
    }
  })();
  log.info({ server, ...describeSecurity(security) }, 'NATS connected');
  return nc;
}
