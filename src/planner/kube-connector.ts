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
import type { Logger } from '../runtime/logger.js';
import { ConnectorError, type PlannerConnector, type ServiceState } from './connector.js';

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
