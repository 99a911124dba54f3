// An `componentType: epp` service (issue 22): `dynamo epp`, the endpoint picker of the graph's
// InferencePool (Gateway API Inference Extension, inference.networking.k8s.io/v1). As pure functions of
// the graph: the InferencePool over the graph's frontends (the picker answers a frontend and hints the
// worker, `dynamo epp --pool-endpoints frontends`, its default), the frontends' trust of that hint, the
// Secret the picker and the frontends share so that only the picker's hints count, and the rules of the
// Role (made in graph.ts with the ServiceAccount and RoleBinding, as a planner's) that let the picker
// watch that pool and the namespace's pods — PoolWatch (src/epp/pool.ts) lists and watches both, so no
// resourceNames (RBAC cannot limit a list or a watch by name).
import { randomBytes } from 'node:crypto';
import type { ComponentSpec, DynamoGraphDeployment, EnvVar } from '../../api/k8s/index.js';
import type { KubeObject } from '../kube/types.js';
import { eppPoolName, LABEL, PORTS } from '../naming.js';

export const INFERENCE_POOL_GROUP = 'inference.networking.k8s.io';

export const isEpp = (service: Pick<ComponentSpec, 'componentType'>): boolean =>
  service.componentType === 'epp';

export const EPP_RULES = [
  { apiGroups: [INFERENCE_POOL_GROUP], resources: ['inferencepools'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
];

/** Where the shared secret is mounted in the picker's and the frontends' pods, and its key. */
export const WORKER_HINT_SECRET_DIR = '/etc/dynamo/worker-hint';
export const WORKER_HINT_SECRET_KEY = 'token';
const WORKER_HINT_VOLUME = 'dynamo-worker-hint';

const hasEpp = (dgd: DynamoGraphDeployment): boolean => Object.values(dgd.spec.services).some(isEpp);

/** The graph's worker-hint Secret: one per graph, whatever the number of epp services. */
export const workerHintSecretName = (graph: string): string => `${graph}-worker-hint`;

/**
 * A graph with an epp service: its frontends honour the picker's worker hint (`--trust-worker-hint`)
 * when it carries the graph's secret, which the picker sends (`--worker-hint-secret-file`, both).
 * First in the merge, so the graph's or the service's own envs can change it.
 */
export function eppEnv(dgd: DynamoGraphDeployment, service: Pick<ComponentSpec, 'componentType'>): EnvVar[] {
  if ((service.componentType !== 'frontend' && !isEpp(service)) || !hasEpp(dgd)) return [];
  const secretFile = {
    name: 'DYN_WORKER_HINT_SECRET_FILE',
    value: `${WORKER_HINT_SECRET_DIR}/${WORKER_HINT_SECRET_KEY}`,
  };
  return isEpp(service) ? [secretFile] : [{ name: 'DYN_TRUST_WORKER_HINT', value: 'true' }, secretFile];
}

/**
 * The service with the graph's worker-hint Secret mounted (a frontend or an epp of a graph with an
 * epp service): a volume and a mount added to its extraPodSpec, so its DCD shows them. A volume or a
 * mount of its own with the same name or path wins.
 */
export function withWorkerHintSecret(dgd: DynamoGraphDeployment, service: ComponentSpec): ComponentSpec {
  if ((service.componentType !== 'frontend' && !isEpp(service)) || !hasEpp(dgd)) return service;
  const extra = service.extraPodSpec ?? {};
  const main = extra.mainContainer ?? {};
  const volumes: unknown[] = Array.isArray(extra.volumes) ? extra.volumes : [];
  const mounts: unknown[] = Array.isArray(main.volumeMounts) ? main.volumeMounts : [];
  const named = (list: unknown[], key: string, value: string) =>
    list.some((v) => (v as Record<string, unknown> | null)?.[key] === value);
  const volume = {
    name: WORKER_HINT_VOLUME,
    // Owner root, group fsGroup: readable by the pod's user, by no one else (as the runtime Secret).
    secret: { secretName: workerHintSecretName(dgd.metadata.name ?? ''), defaultMode: 0o440 },
  };
  const mount = { name: WORKER_HINT_VOLUME, mountPath: WORKER_HINT_SECRET_DIR, readOnly: true };
  return {
    ...service,
    extraPodSpec: {
      ...extra,
      volumes: named(volumes, 'name', WORKER_HINT_VOLUME) ? volumes : [...volumes, volume],
      mainContainer: {
        ...main,
        volumeMounts:
          named(mounts, 'name', WORKER_HINT_VOLUME) || named(mounts, 'mountPath', WORKER_HINT_SECRET_DIR)
            ? mounts
            : [...mounts, mount],
      },
    },
  };
}

/**
 * The graph's worker-hint Secret, for a graph with an epp service: 32 random bytes (hex, an HTTP header
 * value as is). Created once and never applied again (a new value would split running pickers from
 * running frontends); owned by the graph, so the garbage collector removes it with the graph.
 */
export function desiredWorkerHintSecret(
  dgd: DynamoGraphDeployment,
  owner: KubeObject['metadata']['ownerReferences'],
  token: () => string = () => randomBytes(32).toString('hex'),
): KubeObject | undefined {
  if (!hasEpp(dgd)) return undefined;
  const graph = dgd.metadata.name ?? '';
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: workerHintSecretName(graph),
      namespace: dgd.metadata.namespace ?? 'default',
      labels: { [LABEL.graph]: graph },
      ownerReferences: owner,
    },
    type: 'Opaque',
    data: { [WORKER_HINT_SECRET_KEY]: Buffer.from(token()).toString('base64') },
  };
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
