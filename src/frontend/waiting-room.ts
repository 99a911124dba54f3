// Requests for a parked model (listed by a standby card, no worker: scale to zero) wait here until a
// worker that decodes is up, instead of failing at once (Dynamo answers 404 once workers reach 0).
//
//   request ─► resolve(model) ─► parked? ─► waiting room (per model: ≤ maxWaiting, ≤ timeoutMs)
//                                              │ worker up (registry onChange) ─► served as usual
//                                              │ timeout ─► 503 WORKER_WAIT_TIMEOUT, naming model and wait
//                                              │ full ─► 503 NO_WORKER_FOR_MODEL, naming the bound
//                                              └ model gone (its standby card and sets) ─► 503
//
// `dynamo_frontend_waiting_for_worker{model}` is how many wait now: the planner's signal to scale a
// parked service from zero (read from this process's registry locally, or scraped by Prometheus).
import { HttpError } from './errors.js';
import type { FrontendMetrics } from './metrics.js';
import type { ModelRegistry } from './model-registry.js';

export interface WorkerWaitOptions {
  /** Requests that may wait per model; the next one gets a 503 at once. 0: no waiting. */
  maxWaiting: number;
  /** How long one request waits for a worker before its 503. */
  timeoutMs: number;
}

/**
 * 256 waiting requests per model, 120 s each: long enough for a planner interval plus an engine that
 * loads in about a minute; tune with --worker-wait-queue / --worker-wait-timeout.
 */
export const DEFAULT_WORKER_WAIT: WorkerWaitOptions = { maxWaiting: 256, timeoutMs: 120_000 };

interface Waiter {
  wake(): void;
}

export class WaitingRoom {
  private readonly waiting = new Map<string, Set<Waiter>>();

  constructor(
    private readonly registry: ModelRegistry,
    private readonly metrics: FrontendMetrics,
    private readonly options: WorkerWaitOptions,
  ) {}

  /** How many requests wait for a worker of `model` now. */
  count(model: string): number {
    return this.waiting.get(model)?.size ?? 0;
  }

  /** The registry saw a change for `model`: waiters re-check whether it can be served. */
  changed(model: string): void {
    for (const w of [...(this.waiting.get(model) ?? [])]) w.wake();
  }

  /**
   * Resolves once `name` is routable; throws an HttpError when the room is full, the wait times out,
   * the model goes away, or `signal` aborts (the client left; its reason is rethrown).
   */
  async wait(name: string, signal?: AbortSignal): Promise<void> {
    const ready = () => this.registry.get(name)?.routable === true;
    if (ready()) return;
    const { maxWaiting, timeoutMs } = this.options;
    let set = this.waiting.get(name);
    if ((set?.size ?? 0) >= maxWaiting) {
      this.metrics.workerWait(name, 'rejected', 0);
      throw new HttpError(
        'NO_WORKER_FOR_MODEL',
        maxWaiting === 0
          ? `no worker serves model ${name} (scaled to zero; waiting is off: --worker-wait-queue 0)`
          : `no worker serves model ${name} yet and ${maxWaiting} requests already wait for one (--worker-wait-queue)`,
        'model',
      );
    }
    if (set === undefined) {
      set = new Set();
      this.waiting.set(name, set);
    }
    const started = performance.now();
    const members = set;
    let waiter: Waiter | undefined;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          const model = this.registry.get(name);
          if (model?.routable === true) resolve();
          else if (model === undefined)
            reject(
              new HttpError(
                'NO_WORKER_FOR_MODEL',
                `model ${name} went away while this request waited for a worker (its standby card was removed)`,
                'model',
              ),
            );
        };
        waiter = { wake: check };
        members.add(waiter);
        timer = setTimeout(() => {
          reject(
            new HttpError(
              'WORKER_WAIT_TIMEOUT',
              `model ${name} has no worker: waited ${(timeoutMs / 1000).toFixed(1)} s for one to start (scaled to zero; --worker-wait-timeout)`,
              'model',
            ),
          );
        }, timeoutMs);
        if (signal) {
          onAbort = () => reject(signal.reason);
          if (signal.aborted) onAbort();
          else signal.addEventListener('abort', onAbort, { once: true });
        }
        check();
      });
      this.metrics.workerWait(name, 'served', (performance.now() - started) / 1000);
    } catch (err) {
      const outcome =
        err instanceof HttpError ? (err.code === 'WORKER_WAIT_TIMEOUT' ? 'timeout' : 'gone') : 'cancelled';
      this.metrics.workerWait(name, outcome, (performance.now() - started) / 1000);
      throw err;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      if (waiter) members.delete(waiter);
      if (members.size === 0 && this.waiting.get(name) === members) this.waiting.delete(name);
    }
  }
}
