// The planner's connector for `dynamo run --planner` (DESIGN §13, "Local"): the services are the roles
// of the in-process workers (`agg`, or `prefill` and `decode`), each a pool that `dynamo run` keeps
// (src/cli/all-in-one.ts). scale() sets a pool's wanted count and returns at once, as a Kubernetes
// patch does; the pool starts workers, or stops them gracefully (unregister, drain, close), in the
// background. readyReplicas counts the workers registered and serving — not those starting or draining
// — so the planner's "no new action until ready" gates on real readiness.
//
// Scale to zero (src/runtime/standby.ts): before a pool goes to zero, the connector registers the card
// its workers registered as a standby card under the planner's own runtime (its lease), so the model
// stays listed and its requests wait in the frontend; the card is removed once a worker of that pool
// is serving again (standby-parking.ts, shared with the Kubernetes planner).
import type { ModelCard } from '../api/index.js';
import type { Logger } from '../runtime/index.js';
import { ConnectorError, type PlannerConnector, type ServiceState } from './connector.js';
import type { Role } from './reasons.js';
import { StandbyParking, type StandbyTarget } from './standby-parking.js';

/** One role's in-process workers, as `dynamo run` keeps them. */
export interface LocalWorkerPool {
  /** The service name the planner uses: the role. */
  readonly role: Role;
  readonly namespace: string;
  /** The component its workers register as (their load reports' scope). */
  readonly component: string;
  /** Workers wanted now. */
  readonly replicas: number;
  /** Workers registered and serving (not starting, not draining). */
  readonly readyReplicas: number;
  /** The card its workers registered (the latest), if any has started. */
  readonly card: ModelCard | undefined;
  /** Sets the wanted count; resolves once the pool has acted on it (started or failed, stopping begun). */
  scale(replicas: number): Promise<void>;
}

export interface LocalConnectorOptions {
  pools: readonly LocalWorkerPool[];
  /** Where standby cards go (the planner's runtime); without it, scaling to zero unlists the model. */
  standby?: StandbyTarget;
  log: Logger;
}

export class LocalConnector implements PlannerConnector {
  private readonly pools = new Map<string, LocalWorkerPool>();
  private readonly parking: StandbyParking | undefined;

  constructor(private readonly options: LocalConnectorOptions) {
    for (const p of options.pools) this.pools.set(p.role, p);
    this.parking = options.standby && new StandbyParking(options.standby, options.log);
  }

  async services(names: readonly string[]): Promise<ServiceState[]> {
    return names.map((name) => {
      const pool = this.pool(name);
      return {
        name,
        replicas: pool.replicas,
        readyReplicas: pool.readyReplicas,
        gpusPerReplica: 1,
      };
    });
  }

  async scale(name: string, replicas: number): Promise<void> {
    const pool = this.pool(name);
    if (!Number.isInteger(replicas) || replicas < 0)
      throw new ConnectorError(`replicas must be a whole number ≥ 0, got ${replicas}`);
    const { log } = this.options;
    if (replicas === 0) await this.parking?.park(name, pool, pool.card);
    const done = pool.scale(replicas);
    void done.then(
      async () => {
        // Still wanted (no scale to zero since) and serving: the standby card can go.
        if (pool.replicas > 0 && pool.readyReplicas > 0) await this.parking?.unpark(name);
      },
      (err: unknown) => log.error({ err, service: name, replicas }, 'local connector: scaling failed'),
    );
  }

  /** Removes the standby cards this connector registered (the planner stops). */
  async close(): Promise<void> {
    await this.parking?.close();
  }

  private pool(name: string): LocalWorkerPool {
    const pool = this.pools.get(name);
    if (pool === undefined)
      throw new ConnectorError(
        `no local service ${JSON.stringify(name)}: dynamo run has ${[...this.pools.keys()].join(', ') || 'none'}`,
      );
    return pool;
  }
}
