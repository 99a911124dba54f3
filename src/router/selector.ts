// The router as the frontend's worker selector: one Router per served model, created on the model's
// first request and closed with the selector. Shapes match the frontend's WorkerSelector contract
// (src/frontend/worker-selector.ts) structurally — the router does not import the frontend (DESIGN §4).
import type { EndpointId, Instance, InstanceId, ModelCard } from '../api/index.js';
import { createRouter } from './create-router.js';
import type { Router, RouterDeps, RouterSettings } from './router.js';
import type { RouterRuntime } from './transport.js';

/** What the selector needs of a served model. */
export interface RoutedModel {
  readonly card: ModelCard;
  readonly endpoint: EndpointId;
  readonly instances: ReadonlyMap<InstanceId, Instance>;
}

export interface RouterSelectRequest {
  requestId: string;
  tokenIds: readonly number[];
  exclude: ReadonlySet<InstanceId>;
  signal: AbortSignal;
  /** Request headers (lowercase), for `direct` mode. */
  headers?: Readonly<Record<string, string | string[] | undefined>>;
}

export type RouterSelection =
  | {
      kind: 'routed';
      instance: Instance;
      overlapBlocks: number;
      /** Call when the first token arrives: the request's prefill no longer loads the worker. */
      firstToken(): void;
      /** Call once when the attempt ends: frees what the router tracks for it. */
      release(): void;
    }
  | { kind: 'busy'; reason: string }
  | { kind: 'none' };

export class RouterSelector {
  private readonly routers = new Map<string, Promise<Router>>();

  constructor(
    private readonly settings: RouterSettings,
    private readonly runtime: RouterRuntime,
    private readonly deps: RouterDeps,
  ) {}

  async select(model: RoutedModel, request: RouterSelectRequest): Promise<RouterSelection> {
    const router = await this.routerFor(model);
    // Retried attempts (migration) carry a suffix so they are tracked apart from the first.
    const requestId = `${request.requestId}#${request.exclude.size}`;
    const outcome = await router.route({
      requestId,
      tokenIds: request.tokenIds,
      exclude: request.exclude,
      signal: request.signal,
      ...(request.headers ? { headers: request.headers } : {}),
    });
    if (outcome.kind === 'rejected') {
      return outcome.code === 'busy' ? { kind: 'busy', reason: outcome.reason } : { kind: 'none' };
    }
    if (outcome.kind === 'queued') return { kind: 'busy', reason: 'every worker is busy' };
    // The router knows instances by id from discovery; the frontend's own view gives the address.
    const instance =
      model.instances.get(outcome.instance) ??
      (await this.runtime.discovery.list(model.endpoint)).find((i) => i.instanceId === outcome.instance);
    if (instance === undefined) {
      router.complete(requestId);
      return { kind: 'none' };
    }
    let released = false;
    return {
      kind: 'routed',
      instance,
      overlapBlocks: outcome.overlapBlocks,
      firstToken: () => router.firstToken(requestId),
      release: () => {
        if (released) return;
        released = true;
        router.complete(requestId);
      },
    };
  }

  async close(): Promise<void> {
    const routers = [...this.routers.values()];
    this.routers.clear();
    await Promise.allSettled(routers.map(async (r) => (await r).close()));
  }

  private routerFor(model: RoutedModel): Promise<Router> {
    const { card, endpoint } = model;
    const key = `${card.name}\u0000${endpoint.namespace}/${endpoint.component}/${endpoint.endpoint}\u0000${card.kvCacheBlockSize}`;
    let router = this.routers.get(key);
    if (router === undefined) {
      router = createRouter(
        this.settings,
        { name: card.name, endpoint, blockSize: card.kvCacheBlockSize, totalKvBlocks: card.totalKvBlocks },
        this.runtime,
        this.deps,
      );
      this.routers.set(key, router);
      // A failed start is not cached: the next request tries again.
      router.catch(() => this.routers.delete(key));
    }
    return router;
  }
}
