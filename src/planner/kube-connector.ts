// The planner's Kubernetes connector (DESIGN §13): it reads and scales the services of one
// DynamoGraphDeployment, with the rights the operator gives a planner's ServiceAccount and no more
// (src/operator/desired/planner.ts):
//
//   services(names)  GET dgd/<graph>                      spec (resources), status.services.<name>
//                    GET dgdsa/<graph>-<service>/scale     desired replicas (404: the DGD's spec)
//   scale(name, n)   GET dgd/<graph>                       the service must exist
//                    PATCH dgdsa/<graph>-<service>/scale   {spec:{replicas:n}}; the operator copies it
//                    on 404: merge-patch dgd/<graph>       {spec:{services:{<name>:{replicas:n}}}}
//
// The operator's thin kube client is reused on purpose (docs/architecture.md, Planner service): one
// client, one way to authenticate (kubeconfig or the pod's rotating token), typed 404s.
//
// Scale to zero (withStandby, below): `dynamo planner` wraps this connector so that a service goes to
// zero replicas only with its model parked — the card its workers registered, read from discovery,
// registered again as a standby card under the planner's lease (standby-parking.ts) — and the card is
// removed when a new worker of the service registers. Without etcd (no shared discovery) a service is
// kept at 1 replica instead: at zero, the model would be unlisted and nothing could wake it.

import type { InstanceId, ModelCard } from '../api/index.js';
import {
  type DgdStatus,
  type DynamoGraphDeployment,
  describeZodError,
  dynamoGraphDeployment,
  type Quantity,
} from '../api/k8s/index.js';
import { isNotFound, KubeApiError, KubeClient } from '../operator/kube/client.js';
import { adapterName } from '../operator/naming.js';
import { ADAPTER_RT, DGD_RT } from '../operator/reconcilers/resource-types.js';
import { type Discovery, isStandbyEndpoint, type Logger, type Watch } from '../runtime/index.js';
import { ConnectorError, type PlannerConnector, type ServiceState } from './connector.js';
import { StandbyParking } from './standby-parking.js';

export const PLANNER_FIELD_MANAGER = 'dynamo-planner';

type Service = DynamoGraphDeployment['spec']['services'][string];

/** GPUs one replica asks for: limits first (what the device plugin allocates), then requests; 1 when none. */
export function gpusPerReplica(service: Pick<Service, 'resources'>): number {
  const q: Quantity | undefined = service.resources?.limits?.gpu ?? service.resources?.requests?.gpu;
  if (q === undefined) return 1;
  const n = Number(q);
  // GPUs are whole devices: a quantity like "500m" or "1Gi" is not a GPU count.
  if (!Number.isInteger(n) || n < 0) {
    throw new ConnectorError(`resources gpu "${q}" is not a whole number of GPUs`);
  }
  return n;
}

/** What the API server answered, as the one error type the planner handles. */
function causeOf(err: unknown): string {
  if (err instanceof KubeApiError) {
    const what = err.status === 403 ? 'forbidden' : err.status === 401 ? 'unauthorized' : err.reason;
    return `${what} (HTTP ${err.status}): ${err.message}`;
  }
  const e = err as NodeJS.ErrnoException;
  return e.code ? `API server unreachable (${e.code}): ${e.message}` : String(e?.message ?? err);
}

export async function createKubeConnector(options: {
  graph: string;
  namespace: string;
  kubeconfig?: string;
  log: Logger;
}): Promise<PlannerConnector> {
  const { graph, namespace, log } = options;
  const where = `DynamoGraphDeployment ${namespace}/${graph}`;
  let client: KubeClient;
  try {
    client = KubeClient.fromKubeconfig(options.kubeconfig, PLANNER_FIELD_MANAGER, {
      onWarning: (warning, request) => log.warn({ request }, `API server warning: ${warning}`),
    });
  } catch (err) {
    throw new ConnectorError(`kubeconfig: ${(err as Error).message}`, { cause: err });
  }

  /** Runs one API call; anything but a ConnectorError becomes one naming the action and its cause. */
  async function call<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ConnectorError) throw err;
      throw new ConnectorError(`${action} of ${where}: ${causeOf(err)}`, { cause: err });
    }
  }

  async function readGraph(action: string): Promise<DynamoGraphDeployment> {
    const obj = await call(action, () => client.get(DGD_RT, namespace, graph));
    if (!obj) throw new ConnectorError(`${action}: ${where} not found`);
    const parsed = dynamoGraphDeployment.safeParse(obj);
    if (!parsed.success) {
      throw new ConnectorError(
        `${action}: ${where} is invalid: ${describeZodError(parsed.error).join('; ')}`,
      );
    }
    return parsed.data;
  }

  function serviceOf(dgd: DynamoGraphDeployment, name: string): Service {
    const service = dgd.spec.services[name];
    if (!service) {
      const known = Object.keys(dgd.spec.services).join(', ');
      throw new ConnectorError(`${where} has no service "${name}" (it has: ${known || 'none'})`);
    }
    return service;
  }

  /** Desired replicas: the adapter's (it owns them when it exists), else the graph's. */
  async function desiredReplicas(name: string, service: Service): Promise<number> {
    const adapter = adapterName(graph, name);
    try {
      const scale = await client.request<{ spec?: { replicas?: number } }>(
        'GET',
        KubeClient.path(ADAPTER_RT, namespace, adapter, 'scale'),
      );
      return scale.spec?.replicas ?? 0;
    } catch (err) {
      if (isNotFound(err)) return service.replicas ?? 1;
      throw new ConnectorError(`read the scale of adapter ${namespace}/${adapter}: ${causeOf(err)}`, {
        cause: err,
      });
    }
  }

  return {
    async services(names) {
      const dgd = await readGraph('read services');
      const picked = names.map((name) => [name, serviceOf(dgd, name)] as const);
      const statuses: NonNullable<DgdStatus['services']> = dgd.status?.services ?? {};
      return Promise.all(
        picked.map(async ([name, service]): Promise<ServiceState> => {
          let gpus: number;
          try {
            gpus = gpusPerReplica(service);
          } catch (err) {
            throw new ConnectorError(`${where} service "${name}": ${(err as Error).message}`);
          }
          return {
            name,
            replicas: await desiredReplicas(name, service),
            // The operator's copy of the Deployment's readyReplicas (DCD status → DGD status).
            readyReplicas: statuses[name]?.readyReplicas ?? 0,
            gpusPerReplica: gpus,
          };
        }),
      );
    },

    async scale(name, replicas) {
      if (!Number.isInteger(replicas) || replicas < 0) {
        throw new ConnectorError(`scale ${name}: replicas must be a non-negative integer, got ${replicas}`);
      }
      // The graph first: a service it lacks is named as such (its adapter's name would only be a 403),
      // and the fallback's merge patch must never add a service without componentType.
      serviceOf(await readGraph(`scale ${name}`), name);
      const adapter = adapterName(graph, name);
      try {
        await client.mergePatch(ADAPTER_RT, namespace, adapter, { spec: { replicas } }, 'scale');
        log.info({ service: name, replicas, adapter }, 'scaled through the scaling adapter');
        return;
      } catch (err) {
        if (!isNotFound(err)) {
          throw new ConnectorError(`scale ${name} through adapter ${namespace}/${adapter}: ${causeOf(err)}`, {
            cause: err,
          });
        }
      }
      // No adapter (scalingAdapter not enabled): the graph's own replicas.
      await call(`scale ${name}`, () =>
        client.mergePatch(DGD_RT, namespace, graph, { spec: { services: { [name]: { replicas } } } }),
      );
      log.info({ service: name, replicas, graph }, 'scaled through the graph (no scaling adapter)');
    },

    async close() {
      client.close();
    },
  };
}

export interface StandbyOptions {
  /** The planned services: connector name and the Dynamo component its workers register as. */
  services: readonly { name: string; component: string }[];
  /** Dynamo namespace of the workers. */
  namespace: string;
  /**
   * The planner's runtime, when its discovery is the workers' (etcd): it reads their cards, watches for
   * new workers and holds the standby cards. Undefined: no service goes below 1 replica.
   */
  runtime: { discovery: Discovery; instanceId: InstanceId; transport: 'memory' | 'nats' } | undefined;
  log: Logger;
}

/** The card a registered worker of the component serves, and the ids of its workers now. */
export async function workerCard(
  discovery: Pick<Discovery, 'list' | 'modelCard'>,
  scope: { namespace: string; component: string },
): Promise<{ card: ModelCard | undefined; workers: Set<InstanceId> }> {
  const instances = (await discovery.list(scope)).filter((i) => !isStandbyEndpoint(i));
  const workers = new Set(instances.map((i) => i.instanceId));
  for (const i of instances) {
    const card = await discovery.modelCard(i, i.instanceId);
    if (card !== undefined) return { card, workers };
  }
  return { card: undefined, workers };
}

/**
 * `inner` whose scale(name, 0) first parks the service's model (a standby card under the planner's
 * runtime), or keeps the service at 1 replica and throws a ConnectorError saying why (the planner
 * records it as scale_failed with that detail) when it cannot: no runtime, no worker card to park.
 */
export function withStandby(inner: PlannerConnector, options: StandbyOptions): PlannerConnector {
  const { runtime, namespace, log } = options;
  const components = new Map(options.services.map((s) => [s.name, s.component]));
  const parking = runtime && new StandbyParking({ ...runtime, holder: runtime.instanceId }, log);
  /** Per parked service: the watch for a new worker. */
  const watches = new Map<string, Watch>();
  /** The cause last logged per service kept at 1: logged once per cause, not once per decision. */
  const kept = new Map<string, string>();

  async function unpark(name: string): Promise<void> {
    watches.get(name)?.close();
    watches.delete(name);
    await parking?.unpark(name);
  }

  /** Parks the service; the reason it cannot otherwise. */
  async function park(name: string): Promise<string | undefined> {
    const component = components.get(name);
    if (runtime === undefined || parking === undefined)
      return 'no shared discovery (--etcd / ETCD_ENDPOINTS) to hold a standby card; at zero the model would be unlisted';
    if (component === undefined) return `service ${name} is not one the planner sizes`;
    if (parking.has(name)) return undefined;
    const scope = { namespace, component };
    const { card, workers } = await workerCard(runtime.discovery, scope);
    if (!(await parking.park(name, scope, card)))
      return `no worker of component ${namespace}/${component} has registered a model card to keep listed`;
    // A worker that was not there when parked (a new pod: a new instance id) serves again.
    const watch = await runtime.discovery.watchInstances(scope, (event) => {
      const i = event.instance;
      if (event.kind === 'added' && !isStandbyEndpoint(i) && !workers.has(i.instanceId))
        void unpark(name).catch((err: unknown) =>
          log.error({ err, service: name }, 'planner: removing the standby card failed'),
        );
    });
    if (parking.has(name)) watches.set(name, watch);
    else watch.close();
    return undefined;
  }

  return {
    services: (names) => inner.services(names),

    async scale(name, replicas) {
      if (replicas !== 0) {
        kept.delete(name);
        return inner.scale(name, replicas);
      }
      let why: string | undefined;
      try {
        why = await park(name);
      } catch (err) {
        await unpark(name).catch(() => {});
        why = `parking the model failed: ${(err as Error).message}`;
      }
      if (why !== undefined) {
        await inner.scale(name, 1);
        if (kept.get(name) !== why) {
          kept.set(name, why);
          log.warn({ service: name, cause: why }, 'planner: kept at 1 replica instead of 0');
        }
        throw new ConnectorError(`kept ${name} at 1 replica, not 0: ${why}`);
      }
      kept.delete(name);
      try {
        await inner.scale(name, 0);
      } catch (err) {
        // The workers stay: so does the model, without a standby card.
        await unpark(name);
        throw err;
      }
    },

    async close() {
      for (const w of watches.values()) w.close();
      watches.clear();
      await parking?.close();
      await inner.close();
    },
  };
}
