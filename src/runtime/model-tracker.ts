// Pure bookkeeping behind every model watcher. The unit it reports is an *instance set*: the instances
// of one endpoint (namespace/component/endpoint) that serve one model in one role (DESIGN §12). A set
// appears with the first card registered for it and goes with the last; a model served by a prefill and
// a decode component, or by two components, is several sets that the frontend groups by model name.
// Keys are discovery keys (one per instance of an endpoint).
import type { DisaggregationMode, EndpointId, ModelCard } from '../api/index.js';
import type { ModelEvent } from './discovery.js';

interface SetEntry {
  card: ModelCard;
  endpoint: EndpointId;
  keys: Set<string>;
}

function setKey(name: string, ep: EndpointId, mode: DisaggregationMode): string {
  return `${name}\u0000${ep.namespace}/${ep.component}/${ep.endpoint}\u0000${mode}`;
}

export class ModelTracker {
  private readonly sets = new Map<string, SetEntry>();
  private readonly setOfKey = new Map<string, string>();

  /** A card was put under `key`; returns the events to deliver, in order. */
  put(key: string, endpoint: EndpointId, card: ModelCard): ModelEvent[] {
    const ep = { namespace: endpoint.namespace, component: endpoint.component, endpoint: endpoint.endpoint };
    const id = setKey(card.name, ep, card.disaggregationMode);
    const previous = this.setOfKey.get(key);
    if (previous !== undefined && previous !== id) {
      // Re-registered under another model name or role: leave the old set first.
      return [...this.delete(key), ...this.put(key, endpoint, card)];
    }
    this.setOfKey.set(key, id);
    const entry = this.sets.get(id);
    if (entry) {
      entry.keys.add(key);
      return [];
    }
    this.sets.set(id, { card, endpoint: ep, keys: new Set([key]) });
    return [{ kind: 'added', card, endpoint: ep }];
  }

  /** The card under `key` was deleted (or its lease ended). */
  delete(key: string): ModelEvent[] {
    const id = this.setOfKey.get(key);
    if (id === undefined) return [];
    this.setOfKey.delete(key);
    const entry = this.sets.get(id);
    if (!entry) return [];
    entry.keys.delete(key);
    if (entry.keys.size > 0) return [];
    this.sets.delete(id);
    return [
      {
        kind: 'removed',
        name: entry.card.name,
        endpoint: entry.endpoint,
        mode: entry.card.disaggregationMode,
      },
    ];
  }
}
