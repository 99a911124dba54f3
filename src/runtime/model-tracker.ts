// Pure bookkeeping behind every model watcher: a model appears with the first card registered under
// its name and goes with the last one. Keys are discovery keys (one per instance of an endpoint).
import type { EndpointId, ModelCard } from '../api/index.js';
import type { ModelEvent } from './discovery.js';

interface ModelEntry {
  card: ModelCard;
  endpoint: EndpointId;
  keys: Set<string>;
}

export class ModelTracker {
  private readonly models = new Map<string, ModelEntry>();
  private readonly nameOfKey = new Map<string, string>();

  /** A card was put under `key`; returns the events to deliver, in order. */
  put(key: string, endpoint: EndpointId, card: ModelCard): ModelEvent[] {
    const previous = this.nameOfKey.get(key);
    if (previous !== undefined && previous !== card.name) {
      // Re-registered under another model name: leave the old model first.
      return [...this.delete(key), ...this.put(key, endpoint, card)];
    }
    this.nameOfKey.set(key, card.name);
    const entry = this.models.get(card.name);
    if (entry) {
      entry.keys.add(key);
      return [];
    }
    const ep = { namespace: endpoint.namespace, component: endpoint.component, endpoint: endpoint.endpoint };
    this.models.set(card.name, { card, endpoint: ep, keys: new Set([key]) });
    return [{ kind: 'added', card, endpoint: ep }];
  }

  /** The card under `key` was deleted (or its lease ended). */
  delete(key: string): ModelEvent[] {
    const name = this.nameOfKey.get(key);
    if (name === undefined) return [];
    this.nameOfKey.delete(key);
    const entry = this.models.get(name);
    if (!entry) return [];
    entry.keys.delete(key);
    if (entry.keys.size > 0) return [];
    this.models.delete(name);
    return [{ kind: 'removed', name, endpoint: entry.endpoint }];
  }
}
