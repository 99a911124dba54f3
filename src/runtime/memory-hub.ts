// The shared state of the in-memory backends. Runtimes that share one hub see each other's instances,
// calls and events, as processes sharing etcd and NATS do: `dynamo run` creates one hub and gives it
// to its frontend and every worker.
import { MemoryDiscoveryStore } from './memory-discovery.js';
import { MemoryEventBus } from './memory-event-plane.js';
import { MemoryKvHub } from './memory-kv-data-plane.js';
import { MemoryRequestRegistry } from './memory-request-plane.js';

export class MemoryHub {
  readonly discovery = new MemoryDiscoveryStore();
  readonly requests = new MemoryRequestRegistry();
  readonly events = new MemoryEventBus();
  readonly kv = new MemoryKvHub();
}
