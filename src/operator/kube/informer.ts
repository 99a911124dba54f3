// A cache of one kind kept current by list → watch from the list's resourceVersion → watch again from
// the last seen version when the stream ends; a 410 Gone (the version left etcd's window) or any
// reconnect that fails lists again, and the new list is diffed against the cache so handlers still see
// every add, update and delete. Errors (API server restarting) back off and retry forever; `synced`
// resolves after the first list. A periodic resync replays every object as an update, so a controller
// that missed nothing still re-checks the world (level-triggered).
//
// Indexes (client-go's Indexers) answer "which cached objects have value v" without a scan: each is a
// function from an object to its values, kept current on every add, update and delete. One is built in,
// OWNER_INDEX (the uid of the controlling owner); who knows other fields registers them (addIndex).
// managedFields are dropped from cached objects (controller-runtime's TransformStripManagedFields): the
// operator never reads them, and for server-side-applied children they are a large share of each object.
import type { Logger } from '../../runtime/logger.js';
import { sleep } from '../sleep.js';
import { isGone, type KubeClient } from './client.js';
import { type KubeObject, keyOf, type ObjectKey, type ResourceType } from './types.js';

/** `resync`: the periodic replay of an unchanged object. */
export type InformerEvent = 'add' | 'update' | 'delete' | 'resync';
/** `old` is the cached object an update replaces. */
export type InformerHandler<T extends KubeObject> = (event: InformerEvent, obj: T, old?: T) => void;
/** The values an object is found under in one index (none: not in it). */
export type IndexFunc<T extends KubeObject = KubeObject> = (obj: T) => string[];

/** The built-in index: the uid of the owner reference with `controller: true`. */
export const OWNER_INDEX = 'owner';
const controllerUid: IndexFunc = (obj) =>
  (obj.metadata.ownerReferences ?? []).filter((r) => r.controller === true).map((r) => r.uid);

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
  /** Index name → its function and value → keys of the objects under that value. */
  private readonly indexes = new Map<string, { fn: IndexFunc<T>; keys: Map<string, Set<ObjectKey>> }>();
  private readonly handlers: InformerHandler<T>[] = [];
  private resolveSynced: () => void = () => {};
  readonly synced: Promise<void> = new Promise((r) => {
    this.resolveSynced = r;
  });

  constructor(
    private readonly client: KubeClient,
    readonly rt: ResourceType,
    private readonly options: InformerOptions,
  ) {
    this.addIndex(OWNER_INDEX, controllerUid);
  }

  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  /**
   * Adds an index over the cache (the objects already cached included). Informers are shared: adding
   * the same function under the same name again is a no-op, another function under it throws.
   */
  addIndex(name: string, fn: IndexFunc<T>): this {
    const existing = this.indexes.get(name);
    if (existing) {
      if (existing.fn !== fn) throw new Error(`${this.rt.kind} informer: index ${name} exists`);
      return this;
    }
    const index = { fn, keys: new Map<string, Set<ObjectKey>>() };
    this.indexes.set(name, index);
    for (const [key, obj] of this.store) for (const v of fn(obj)) this.indexKey(index.keys, v, key);
    return this;
  }

  /** The cached objects under `value` in index `name`. */
  byIndex(name: string, value: string): T[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`${this.rt.kind} informer: no index ${name}`);
    const out: T[] = [];
    for (const key of index.keys.get(value) ?? []) {
      const obj = this.store.get(key);
      if (obj) out.push(obj);
    }
    return out;
  }

  get(key: ObjectKey): T | undefined {
    return this.store.get(key);
  }

  /** Every cached object (a copy: for a walk over all of them, not a lookup; see byIndex). */
  list(): T[] {
    return [...this.store.values()];
  }

  private indexKey(keys: Map<string, Set<ObjectKey>>, value: string, key: ObjectKey): void {
    const set = keys.get(value);
    if (set) set.add(key);
    else keys.set(value, new Set([key]));
  }

  /** The one way into the cache: strips managedFields and keeps every index current. */
  private put(key: ObjectKey, obj: T, old: T | undefined): void {
    delete (obj.metadata as { managedFields?: unknown }).managedFields;
    if (old) this.unindex(key, old);
    this.store.set(key, obj);
    for (const { fn, keys } of this.indexes.values()) for (const v of fn(obj)) this.indexKey(keys, v, key);
  }

  private remove(key: ObjectKey, old: T): void {
    this.unindex(key, old);
    this.store.delete(key);
  }

  private unindex(key: ObjectKey, old: T): void {
    for (const { fn, keys } of this.indexes.values()) {
      for (const v of fn(old)) {
        const set = keys.get(v);
        set?.delete(key);
        if (set?.size === 0) keys.delete(v);
      }
    }
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
      this.put(key, item, old);
      if (!old) this.emit('add', item);
      else if (old.metadata.resourceVersion !== item.metadata.resourceVersion) this.emit('update', item, old);
    }
    for (const [key, old] of this.store) {
      if (!seen.has(key)) {
        this.remove(key, old);
        this.emit('delete', old);
      }
    }
    return resourceVersion;
  }

  private apply(type: string, obj: T): void {
    const key = keyOf(obj);
    const old = this.store.get(key);
    if (type === 'DELETED') {
      if (old) this.remove(key, old);
      this.emit('delete', obj);
      return;
    }
    this.put(key, obj, old);
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
