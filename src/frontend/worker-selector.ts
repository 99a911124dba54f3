// Picks the worker for one attempt of a request. The frontend asks again, with the failed workers
// excluded, when it migrates a request.
import type { Instance, InstanceId } from '../api/index.js';
import type { ServedModel } from './model-registry.js';

export type Selection =
  | {
      kind: 'routed';
      instance: Instance;
      /** Leading prompt blocks the worker already caches (0 when unknown). */
      overlapBlocks: number;
      /** Call once when the attempt ends (the router frees the sequence it tracks). */
      release(): void;
    }
  /** Every worker is busy and the request may not wait. */
  | { kind: 'busy'; reason: string }
  /** No worker (left) serves the model. */
  | { kind: 'none' };

export interface SelectRequest {
  requestId: string;
  tokenIds: readonly number[];
  /** Workers that failed this request already. */
  exclude: ReadonlySet<InstanceId>;
  signal: AbortSignal;
}

export interface WorkerSelector {
  select(model: ServedModel, request: SelectRequest): Promise<Selection>;
}

const noop = () => {};

/** Round robin over the model's live instances. */
export class RoundRobinSelector implements WorkerSelector {
  private counter = 0;

  async select(model: ServedModel, request: SelectRequest): Promise<Selection> {
    const candidates: Instance[] = [];
    for (const instance of model.instances.values()) {
      if (!request.exclude.has(instance.instanceId)) candidates.push(instance);
    }
    if (candidates.length === 0) return { kind: 'none' };
    const instance = candidates[this.counter++ % candidates.length] as Instance;
    return { kind: 'routed', instance, overlapBlocks: 0, release: noop };
  }
}
