// A cache of one kind kept current by list → watch from the list's resourceVersion → watch again from
// the last seen version when the stream ends; a 410 Gone (the version left etcd's window) or any
// reconnect that fails lists again, and the new list is diffed against the cache so handlers still see
// every add, update and delete. Errors (API server restarting) back off and retry forever; `synced`
// resolves after the first list. A periodic resync replays every object as an update, so a controller
// that missed nothing still re-checks the world (level-triggered).
import type { Logger } from '../../runtime/logger.js';
import { sleep } from '../sleep.js';
import { isGone, type KubeClient } from './client.js';
import { type KubeObject, keyOf, type ObjectKey, type ResourceType } from './types.js';

/** `resync`: the periodic replay of an unchanged object. */
export type InformerEvent = 'add' | 'update' | 'delete' | 'resync';
/** `old` is the cached object an update replaces. */
export type InformerHandler<T extends KubeObject> = (event: InformerEvent, obj: T, old?: T) => void;

export interface InformerOptions {
  /** Only this namespace (the operator's --watch-namespace); all namespaces when unset. */
  namespace?: string;
  labelSelector?: string;
  /** Replays the cache as updates this often (0: never). */
  resyncMs?: number;
  /** Server-side timeout of one watch request. */
  watchTimeoutSeconds?: number;
  log: Logger;
  /** Counts watch restarts by cause, for the metrics. */
  onRestart?: (cause: 'gone' | 'error' | 'end') => void;
}

export class Informer<T extends KubeObject = KubeObject> {
  private readonly store = new Map<ObjectKey, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private resolveSynced: () => void = () => {};
  readonly synced: Promise<void> = new Promise((r) => {
    this.resolveSynced = r;
  });

  constructor(
    private readonly client: KubeClient,
    readonly rt: ResourceType,
    private readonly options: InformerOptions,
  ) {}

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  get(key: ObjectKey): T | undefined {
    return this.store.get(key);
  }

  list(filter?: (obj: T) => boolean): T[] {
    const all = [...this.store.values()];
    return filter ? all.filter(filter) : all;
  }

  private emit(event: InformerEvent, obj: T, old?: T): void {
    for (const h of this.handlers) h(event, obj, old);
  }

  private async relist(signal: AbortSignal): Promise<string> {
    // The same scope as the watch: a namespaced operator may not list cluster-wide.
    const { items, resourceVersion } = await this.client.list<T>(this.rt, {
      namespace: this.options.namespace,
      labelSelector: this.options.labelSelector,
      signal,
    });
    const seen = new Set<ObjectKey>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      const old = this.store.get(key);
      this.store.set(key, item);
      if (!old) this.emit('add', item);
      else if (old.metadata.resourceVersion !== item.metadata.resourceVersion) this.emit('update', item, old);
    }
    for (const [key, old] of this.store) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.emit('delete', old);
      }
    }
    return resourceVersion;
  }

  private apply(type: string, obj: T): void {
    const key = keyOf(obj);
    if (type === 'DELETED') {
      this.store.delete(key);
      this.emit('delete', obj);
      return;
    }
    const old = this.store.get(key);
    this.store.set(key, obj);
    if (old) this.emit('update', obj, old);
    else this.emit('add', obj);
  }

  async start(signal: AbortSignal): Promise<void> {
    const { log, resyncMs = 0 } = this.options;
    let resync: NodeJS.Timeout | undefined;
    if (resyncMs > 0) {
      resync = setInterval(() => {
        for (const obj of this.store.values()) this.emit('resync', obj);
      }, resyncMs);
      resync.unref();
    }
    let rv: string | undefined;
    let backoffMs = 200;
    try {
      while (!signal.aborted) {
        try {
          if (rv === undefined) {
            rv = await this.relist(signal);
            this.resolveSynced();
          }
          await this.client.watch(
            this.rt,
            {
              resourceVersion: rv,
              namespace: this.options.namespace,
              labelSelector: this.options.labelSelector,
              signal,
              timeoutSeconds: this.options.watchTimeoutSeconds,
            },
            (event) => {
              const v = event.object.metadata.resourceVersion;
              if (v) rv = v;
              if (event.type !== 'BOOKMARK') this.apply(event.type, event.object as T);
              backoffMs = 200;
            },
          );
          this.options.onRestart?.('end');
        } catch (err) {
          if (signal.aborted) break;
          if (isGone(err)) {
            log.debug({ kind: this.rt.kind }, 'watch expired (410): listing again');
            this.options.onRestart?.('gone');
            rv = undefined;
            continue;
          }
          this.options.onRestart?.('error');
          log.warn({ kind: this.rt.kind, err: (err as Error).message, retryInMs: backoffMs }, 'watch failed');
          await sleep(backoffMs, signal);
          backoffMs = Math.min(backoffMs * 2, 5_000);
          // After an outage list again: events may have been compacted away, deletions missed.
          rv = undefined;
        }
      }
    } finally {
      if (resync) clearInterval(resync);
    }
  }
}
