// A Controller is wiring: a work queue of keys, the watches that fill it, and N workers that hand
// each key to its Reconciler (STYLE: controller-runtime's roles). The reconciler gets a key, never
// an event: it reads the current state itself, so a missed or duplicated event changes nothing.
import type { Logger } from '../runtime/logger.js';
import type { Informer } from './kube/informer.js';
import type { KubeObject, ObjectKey } from './kube/types.js';
import { keyOf, objectKey } from './kube/types.js';
import type { OperatorMetrics } from './metrics.js';
import { WorkQueue } from './work-queue.js';

/** "Retrying cannot help": the object must change first. Logged and counted, not retried. */
export class TerminalError extends Error {
  override name = 'TerminalError';
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

export interface Reconciler {
  /** `signal` fires when this replica stops leading: pass it to every API call. */
  reconcile(key: ObjectKey, signal: AbortSignal): Promise<ReconcileResult>;
}

export interface ControllerOptions {
  name: string;
  reconciler: Reconciler;
  workers?: number;
  metrics: OperatorMetrics;
  log: Logger;
}

/** Maps an owned object to the key of its controlling owner of `kind`. */
export function ownerKey(kind: string) {
  return (obj: KubeObject): ObjectKey[] => {
    const ref = obj.metadata.ownerReferences?.find((r) => r.kind === kind && r.controller === true);
    return ref ? [objectKey(obj.metadata.namespace, ref.name)] : [];
  };
}

/** What a reconcile reads of its own object, besides status: spec (generation) and the metadata it acts on. */
export function specChanged(obj: KubeObject, old: KubeObject): boolean {
  const a = obj.metadata;
  const b = old.metadata;
  return (
    a.generation !== b.generation ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    JSON.stringify(a.finalizers ?? []) !== JSON.stringify(b.finalizers ?? []) ||
    JSON.stringify(a.labels ?? {}) !== JSON.stringify(b.labels ?? {}) ||
    JSON.stringify(a.annotations ?? {}) !== JSON.stringify(b.annotations ?? {}) ||
    a.uid !== b.uid
  );
}

export class Controller {
  // A fresh queue per leadership term: a shut-down queue takes nothing more.
  private queue = new WorkQueue<ObjectKey>();
  readonly needsLeader = true;
  private readonly watches: { informer: Informer; map: (obj: KubeObject) => ObjectKey[] }[] = [];

  constructor(private readonly options: ControllerOptions) {}

  get name(): string {
    return this.options.name;
  }

  /**
   * Reconciles the objects of this informer (the controller's own kind). An update that changed only
   * status (our own status write, mostly) is not a reason to reconcile: the spec it acts on is the same.
   */
  watchFor(informer: Informer): this {
    return this.watch(informer, (o) => [keyOf(o)], specChanged);
  }

  /** Reconciles the keys that `map` derives from each changed object of this informer. */
  watch(
    informer: Informer,
    map: (obj: KubeObject) => ObjectKey[],
    relevant: (obj: KubeObject, old: KubeObject) => boolean = () => true,
  ): this {
    this.watches.push({ informer, map });
    informer.on((event, obj, old) => {
      if (event === 'update' && old && !relevant(obj, old)) return;
      for (const key of map(obj)) this.queue.add(key);
      this.options.metrics.queueDepth.set({ controller: this.options.name }, this.queue.depth);
    });
    return this;
  }

  private async work(queue: WorkQueue<ObjectKey>, signal: AbortSignal): Promise<void> {
    const { reconciler, metrics, log, name } = this.options;
    for (;;) {
      const key = await queue.get();
      if (key === undefined || signal.aborted) return;
      metrics.queueDepth.set({ controller: name }, queue.depth);
      const end = metrics.reconcileDuration.startTimer({ controller: name });
      try {
        const result = await reconciler.reconcile(key, signal);
        queue.forget(key);
        if (result.requeueAfterMs !== undefined) {
          queue.addAfter(key, result.requeueAfterMs);
          metrics.reconcileTotal.inc({ controller: name, result: 'requeue' });
        } else metrics.reconcileTotal.inc({ controller: name, result: 'success' });
      } catch (err) {
        if (signal.aborted) {
          // Leadership lost (or shutdown) aborted the calls: the next leader reconciles this key.
          log.debug({ controller: name, key, err: (err as Error).message }, 'reconcile stopped');
          continue;
        }
        metrics.reconcileErrors.inc({ controller: name });
        if (err instanceof TerminalError) {
          queue.forget(key);
          metrics.reconcileTotal.inc({ controller: name, result: 'terminal' });
          log.warn({ controller: name, key, err: err.message }, 'reconcile failed; not retrying');
        } else {
          metrics.reconcileTotal.inc({ controller: name, result: 'error' });
          const retryMs = queue.addRateLimited(key);
          log.warn(
            { controller: name, key, err: (err as Error).message, retryMs },
            'reconcile failed; retrying',
          );
        }
      } finally {
        end();
        queue.done(key);
      }
    }
  }

  /** Runs the workers until the signal fires (leadership lost or shutdown). */
  async start(signal: AbortSignal): Promise<void> {
    const queue = new WorkQueue<ObjectKey>({ baseDelayMs: 50, maxDelayMs: 30_000 });
    this.queue = queue;
    signal.addEventListener('abort', () => queue.shutDown(), { once: true });
    // A stop before the caches fill (a runnable failing at start) aborts their first list, so they
    // never sync: wait for whichever comes first.
    const stopped = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([Promise.all(this.watches.map((w) => w.informer.synced)), stopped]);
    if (signal.aborted) return;
    // Leadership may start long after the caches filled: look at everything once.
    for (const { informer, map } of this.watches) {
      for (const obj of informer.list()) for (const key of map(obj)) queue.add(key);
    }
    await Promise.all(Array.from({ length: this.options.workers ?? 4 }, () => this.work(queue, signal)));
  }
}
