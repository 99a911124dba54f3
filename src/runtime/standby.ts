// Standby cards: how a model stays listed while it has no worker (scale to zero, issue 17). Whoever
// scales a model's service to zero — the planner, through its connector — first registers the model's
// card under ITS OWN lease on the reserved endpoint `standby` of the service's component:
//
//   v1/instances/{ns}/{component}/standby/{planner instance}   (+ v1/mdc/... the card)
//
// Frontends list a model with a standby card and no worker as *parked*: listed in /v1/models, its
// requests wait for a worker (bounded, with a timeout) instead of failing at once. Nothing is ever
// served on `standby` (no router is built for it, no request is sent there). The lease is the point:
// if the planner dies, nobody would bring a worker back, and the card goes with it — the model then
// disappears as it did before. The same helper serves the local connector (in-memory discovery) and
// a Kubernetes planner (etcd, its process lease); the card is the one its last worker registered.
import type { EndpointId, Instance, InstanceId, ModelCard } from '../api/index.js';
import { requestSubject } from '../api/index.js';
import type { Discovery } from './discovery.js';

/** The reserved endpoint name of standby registrations; never served. */
export const STANDBY_ENDPOINT = 'standby';

export function isStandbyEndpoint(endpoint: EndpointId): boolean {
  return endpoint.endpoint === STANDBY_ENDPOINT;
}

/** The standby registration of `holder` (the planner's runtime instance) for one component. */
export function standbyInstance(
  scope: { namespace: string; component: string },
  holder: InstanceId,
  transport: 'nats' | 'memory',
): Instance {
  const endpoint = { namespace: scope.namespace, component: scope.component, endpoint: STANDBY_ENDPOINT };
  const subject = requestSubject(endpoint, holder);
  return {
    ...endpoint,
    instanceId: holder,
    transport: transport === 'nats' ? { kind: 'nats', subject } : { kind: 'memory', address: subject },
  };
}

/** Registers (or replaces) the standby card; the returned function removes it (idempotent). */
export async function registerStandby(
  discovery: Pick<Discovery, 'register' | 'unregister'>,
  instance: Instance,
  card: ModelCard,
): Promise<() => Promise<void>> {
  await discovery.register(instance, card);
  let removed = false;
  return async () => {
    if (removed) return;
    removed = true;
    await discovery.unregister(instance, instance.instanceId);
  };
}
