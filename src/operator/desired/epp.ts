// An `componentType: epp` service (issue 22): `dynamo epp`, the endpoint picker of the graph's
// InferencePool (Gateway API Inference Extension, inference.networking.k8s.io/v1). As pure functions of
// the graph: the InferencePool over the graph's frontends (the picker answers a frontend and hints the
// worker, `dynamo epp --pool-endpoints frontends`, its default), the frontends' trust of that hint, and
// the rules of the Role (made in graph.ts with the ServiceAccount and RoleBinding, as a planner's) that
// let the picker watch that pool and the namespace's pods — PoolWatch (src/epp/pool.ts) lists and
// watches both, so no resourceNames (RBAC cannot limit a list or a watch by name).
import type { ComponentSpec, DynamoGraphDeployment } from '../../api/k8s/index.js';
import type { KubeObject } from '../kube/types.js';
import { eppPoolName, LABEL, PORTS } from '../naming.js';

export const INFERENCE_POOL_GROUP = 'inference.networking.k8s.io';

export const isEpp = (service: Pick<ComponentSpec, 'componentType'>): boolean =>
  service.componentType === 'epp';

export const EPP_RULES = [
  { apiGroups: [INFERENCE_POOL_GROUP], resources: ['inferencepools'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
];

/**
 * A graph with an epp service: its frontends honour the picker's worker hint (`--trust-worker-hint`).
 * First in the merge, so the graph's or the service's own envs can turn it off.
 */
export function eppFrontendEnv(
  dgd: DynamoGraphDeployment,
  service: Pick<ComponentSpec, 'componentType'>,
): { name: string; value: string }[] {
  if (service.componentType !== 'frontend' || !Object.values(dgd.spec.services).some(isEpp)) return [];
  return [{ name: 'DYN_TRUST_WORKER_HINT', value: 'true' }];
}

/**
 * One InferencePool per epp service, named as the service's component: the graph's pods labelled
 * `componentType: frontend`, at the frontend's HTTP port (our workers serve no OpenAI API: a Gateway
 * sends to a frontend, which routes to the worker the picker hints); its endpoint picker is the epp
 * service's Service. FailClose, the Inference Extension's default.
 */
export function desiredInferencePools(
  dgd: DynamoGraphDeployment,
  owner: KubeObject['metadata']['ownerReferences'],
): KubeObject[] {
  const graph = dgd.metadata.name ?? '';
  const namespace = dgd.metadata.namespace ?? 'default';
  return Object.entries(dgd.spec.services)
    .filter(([, s]) => isEpp(s))
    .map(([service]) => {
      const name = eppPoolName(graph, service);
      return {
        apiVersion: `${INFERENCE_POOL_GROUP}/v1`,
        kind: 'InferencePool',
        metadata: { name, namespace, labels: { [LABEL.graph]: graph }, ownerReferences: owner },
        spec: {
          selector: { matchLabels: { [LABEL.graph]: graph, [LABEL.componentType]: 'frontend' } },
          targetPorts: [{ number: PORTS.frontend.port }],
          endpointPickerRef: {
            kind: 'Service',
            name,
            port: { number: PORTS.epp.port },
            failureMode: 'FailClose',
          },
        },
      };
    });
}
