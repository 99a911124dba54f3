// Parking a service at zero workers (scale to zero, src/runtime/standby.ts), shared by the planner's
// connectors: `dynamo run --planner` (local-connector.ts) and `dynamo planner` in Kubernetes
// (kube-connector.ts, withStandby). Before a service goes to zero, its model card is registered as a
// standby card under the planner's own runtime (its lease), so frontends keep the model listed and
// hold its requests; once a worker of the service serves again, the card is removed. One card per
// service: parking a parked service again is a no-op.
import type { InstanceId, ModelCard } from '../api/index.js';
import { type Discovery, type Logger, registerStandby, standbyInstance } from '../runtime/index.js';

/** Where standby cards go: the planner's runtime (its discovery and instance id). */
export interface StandbyTarget {
  discovery: Pick<Discovery, 'register' | 'unregister'>;
  holder: InstanceId;
  transport: 'memory' | 'nats';
}

export class StandbyParking {
  /** Removers of the standby cards registered, by service. */
  private readonly parked = new Map<string, () => Promise<void>>();

  constructor(
    private readonly target: StandbyTarget,
    private readonly log: Logger,
  ) {}

  /** Whether the service has a standby card now. */
  has(service: string): boolean {
    return this.parked.has(service);
  }

  /**
   * Registers `card` as the service's standby card on its component; true once the service has one
   * (registered now or before), false when there is no card to register (logged).
   */
  async park(
    service: string,
    scope: { namespace: string; component: string },
    card: ModelCard | undefined,
  ): Promise<boolean> {
    if (this.parked.has(service)) return true;
    if (card === undefined) {
      this.log.warn({ service }, 'planner: no model card to keep the model listed at zero workers');
      return false;
    }
    const { discovery, holder, transport } = this.target;
    const instance = standbyInstance(scope, holder, transport);
    this.parked.set(service, await registerStandby(discovery, instance, card));
    this.log.info({ service, model: card.name }, 'scaling to zero: standby card registered');
    return true;
  }

  /** Removes the service's standby card, if any (a worker serves again). */
  async unpark(service: string): Promise<void> {
    const remove = this.parked.get(service);
    if (remove === undefined) return;
    this.parked.delete(service);
    await remove();
    this.log.info({ service }, 'a worker serves again: standby card removed');
  }

  /** Removes every standby card (the planner stops: nobody would bring a worker back). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.parked.keys()].map((service) => this.unpark(service)));
  }
}
