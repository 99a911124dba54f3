// In-memory discovery: one store shared by the runtimes of a process (`dynamo run`, unit tests). A
// runtime's registrations play the part of its lease: closing the runtime removes them, as a dead
// process's lease would.
import type { EndpointId, Instance, InstanceId, ModelCard } from '../api/index.js';
import { instanceKey } from '../api/index.js';
import type { Discovery, InstanceEvent, ModelEvent, Watch, WatchScope } from './discovery.js';
import { inScope } from './discovery.js';
import { ModelTracker } from './model-tracker.js';

interface Entry {
  instance: Instance;
  card: ModelCard | undefined;
}

type StoreEvent = { kind: 'put'; key: string; entry: Entry } | { kind: 'delete'; key: string; entry: Entry };

export class MemoryDiscoveryStore {
  readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<(event: StoreEvent) => void>();

  put(key: string, entry: Entry): void {
    this.entries.set(key, entry);
    this.emit({ kind: 'put', key, entry });
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.emit({ kind: 'delete', key, entry });
  }

  listen(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: StoreEvent): void {
    for (const listener of [...this.listeners]) listener(event);
  }
}

export class MemoryDiscovery implements Discovery {
  private readonly owned = new Set<string>();
  private readonly watches = new Set<() => void>();

  constructor(private readonly store: MemoryDiscoveryStore) {}

  async register(instance: Instance, card?: ModelCard): Promise<void> {
    const key = instanceKey(instance, instance.instanceId);
    this.owned.add(key);
    this.store.put(key, { instance, card });
  }

  async unregister(endpoint: EndpointId, instanceId: InstanceId): Promise<void> {
    const key = instanceKey(endpoint, instanceId);
    if (!this.owned.delete(key)) return;
    this.store.delete(key);
  }

  async unregisterAll(): Promise<void> {
    for (const key of this.owned) this.store.delete(key);
    this.owned.clear();
  }

  async list(scope: WatchScope): Promise<Instance[]> {
    return [...this.store.entries.values()].filter((e) => inScope(scope, e.instance)).map((e) => e.instance);
  }

  async watchInstances(scope: WatchScope, onEvent: (event: InstanceEvent) => void): Promise<Watch> {
    for (const instance of await this.list(scope)) onEvent({ kind: 'added', instance });
    const stop = this.store.listen((event) => {
      if (!inScope(scope, event.entry.instance)) return;
      onEvent({ kind: event.kind === 'put' ? 'added' : 'removed', instance: event.entry.instance });
    });
    return this.track(stop);
  }

  async watchModels(onEvent: (event: ModelEvent) => void, namespace?: string): Promise<Watch> {
    const tracker = new ModelTracker();
    const apply = (kind: 'put' | 'delete', key: string, entry: Entry) => {
      if (namespace !== undefined && entry.instance.namespace !== namespace) return;
      const events =
        kind === 'put' && entry.card ? tracker.put(key, entry.instance, entry.card) : tracker.delete(key);
      for (const event of events) onEvent(event);
    };
    for (const [key, entry] of this.store.entries) apply('put', key, entry);
    const stop = this.store.listen((event) => apply(event.kind, event.key, event.entry));
    return this.track(stop);
  }

  async modelCard(endpoint: EndpointId, instanceId: InstanceId): Promise<ModelCard | undefined> {
    return this.store.entries.get(instanceKey(endpoint, instanceId))?.card;
  }

  async close(): Promise<void> {
    for (const stop of this.watches) stop();
    this.watches.clear();
    await this.unregisterAll();
  }

  private track(stop: () => void): Watch {
    this.watches.add(stop);
    return {
      close: () => {
        stop();
        this.watches.delete(stop);
      },
    };
  }
}
