// One step of a shutdown, held to a deadline: a server that is down must not keep a process past its
// grace period (etcd calls retry, a NATS flush or drain waits for a reconnect that may never come).
// A cut step is left running; the steps after it (closing the clients) end what it waits on.
import type { Logger } from './logger.js';

export type StepOutcome = 'done' | 'failed' | 'cut';

/** Runs `step` until it settles or `budgetMs` pass; never throws. Failures and cuts are logged. */
export async function boundedStep(
  name: string,
  budgetMs: number,
  step: () => Promise<unknown>,
  log: Logger,
): Promise<StepOutcome> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    Promise.resolve()
      .then(step)
      .then(
        () => 'done' as const,
        (err: unknown) => {
          log.warn({ err, step: name }, 'shutdown step failed');
          return 'failed' as const;
        },
      ),
    new Promise<'cut'>((resolve) => {
      timer = setTimeout(() => resolve('cut'), Math.max(0, budgetMs));
    }),
  ]);
  clearTimeout(timer);
  if (outcome === 'cut')
    log.warn({ step: name, budgetMs: Math.round(budgetMs) }, 'shutdown step cut: its deadline passed');
  return outcome;
}
