// Discovery: which instances serve which endpoint, and which models exist (DESIGN §5). Two backends
// behind this interface: etcd (keys under the process's lease) and in-memory (`dynamo run`, tests).
import type { DisaggregationMode, EndpointId, Instance, InstanceId, ModelCard } from '../api/index.js';

export type InstanceEvent = { kind: 'added'; instance: Instance } | { kind: 'removed'; instance: Instance };

/**
 * An instance set of a model (one endpoint, one role) appears with its first instance and goes with its
 * last (model-tracker.ts); the card of the set's first instance stands for the set. A model is served
 * while any of its sets is.
 */
export type ModelEvent =
  | { kind: 'added'; card: ModelCard; endpoint: EndpointId }
  | { kind: 'removed'; name: string; endpoint: EndpointId; mode: DisaggregationMode };

export interface Watch {
  /** Stops delivering events. */
  close(): void;
}

/** What a watch on an endpoint covers: one endpoint, or every endpoint of a component. */
export type WatchScope = EndpointId | { namespace: string; component: string };

export interface Discovery {
  /**
   * Publishes the instance (and its model card) under this process's lease: they disappear by
   * themselves when the process dies. Registering the same instance again replaces it.
   */
  register(instance: Instance, card?: ModelCard): Promise<void>;
  /** Removes the instance and its card; a no-op when not registered. */
  unregister(endpoint: EndpointId, instanceId: InstanceId): Promise<void>;
  /** Removes every registration of this process (graceful shutdown). */
  unregisterAll(): Promise<void>;
  list(scope: WatchScope): Promise<Instance[]>;
  /**
   * Delivers the current instances as `added` events before the returned promise resolves, then
   * every change. After a backend reconnect, the difference to the fresh state is delivered, so a
   * watcher's view always converges.
   */
  watchInstances(scope: WatchScope, onEvent: (event: InstanceEvent) => void): Promise<Watch>;
  /** The models of a namespace (all namespaces when absent), same delivery rules as watchInstances. */
  watchModels(onEvent: (event: ModelEvent) => void, namespace?: string): Promise<Watch>;
  /** The model card an instance registered, if any. */
  modelCard(endpoint: EndpointId, instanceId: InstanceId): Promise<ModelCard | undefined>;
  close(): Promise<void>;
}

export function inScope(scope: WatchScope, ep: EndpointId): boolean {
  return (
    ep.namespace === scope.namespace &&
    ep.component === scope.component &&
    (!('endpoint' in scope) || scope.endpoint === ep.endpoint)
  );
}
