// etcd and NATS often start next to the processes that need them (a shell script, pods of one chart):
// a process retries its first connection for a while before it reports the service unreachable.
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a process waits for etcd / NATS at startup by default. */
export const DEFAULT_STARTUP_WAIT_MS = 10_000;
const RETRY_EVERY_MS = 250;

/**
 * Calls `attempt` until it resolves or `waitMs` has passed; then throws the last error. An error that
 * `isFatal` recognizes (refused credentials, a bad certificate) is thrown at once: waiting cannot help.
 */
export async function retryUntilReachable<T>(
  waitMs: number,
  attempt: () => Promise<T>,
  isFatal: (err: unknown) => boolean = () => false,
): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (isFatal(err) || Date.now() + RETRY_EVERY_MS > deadline) throw err;
      await sleep(RETRY_EVERY_MS);
    }
  }
}
