// DGD → its children, as pure functions of the graph (no I/O, unit-tested): one DCD per service, one
// scaling adapter per service with scalingAdapter.enabled, one PVC per `spec.pvcs` entry with create,
// a ServiceAccount + Role + RoleBinding per planner and epp service (planner.ts, epp.ts say what they
// grant), and an InferencePool per epp service (epp.ts).
import {
  ADAPTER_KIND,
  type ComponentSpec,
  componentTypeOf,
  DCD_KIND,
  type DcdSpec,
  type DynamoComponentDeployment,
  type DynamoGraphDeployment,
  GROUP_VERSION,
} from '../../api/k8s/index.js';
import type { KubeObject, OwnerReference } from '../kube/types.js';
import {
  adapterName,
  componentName,
  dynamoNamespace,
  eppPoolName,
  FINALIZER,
  LABEL,
  MANAGED_BY,
  plannerAccountName,
} from '../naming.js';
import { mergeEnv } from './env.js';
import { EPP_RULES, eppEnv, isEpp, withWorkerHintSecret } from './epp.js';
import { isPlanner, plannerArgs, plannerRules } from './planner.js';

export function ownerRef(owner: {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; uid?: string };
}) {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name ?? '',
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  } satisfies OwnerReference;
}

export function graphLabels(graph: string): Record<string, string> {
  return { [LABEL.managedBy]: MANAGED_BY, [LABEL.graph]: graph };
}

/** Replicas of a service: its own, 1 when unset (the defaulting webhook writes the same). */
export const replicasOf = (service: ComponentSpec): number => service.replicas ?? 1;

/** The service a DCD runs: `spec.serviceName`, or (a DCD made by hand, as Dynamo allows) its own name. */
export const serviceNameOf = (dcd: DynamoComponentDeployment): string =>
  dcd.spec.serviceName ?? dcd.metadata.name ?? '';

/**
 * DYN_NAMESPACE of a DCD's processes: its graph's (label set by desiredComponents), or for a DCD made by
 * hand one of its own. `spec.dynamoNamespace` is ignored, as Dynamo ignores it (deprecated there).
 */
export const dcdDynamoNamespace = (dcd: DynamoComponentDeployment): string =>
  dynamoNamespace(
    dcd.metadata.namespace ?? 'default',
    dcd.metadata.labels?.[LABEL.graph] ?? dcd.metadata.name ?? '',
  );

/**
 * A planner that names neither command nor args runs `plannerArgs` (the graph's mode and services, which
 * its DCD alone does not know): written into the DCD, so `kubectl get dcd -o yaml` shows what runs.
 */
function withPlannerArgs(dgd: DynamoGraphDeployment, service: ComponentSpec): ComponentSpec {
  const main = service.extraPodSpec?.mainContainer;
  if (!isPlanner(service) || main?.args !== undefined || main?.command !== undefined) return service;
  return {
    ...service,
    extraPodSpec: { ...service.extraPodSpec, mainContainer: { ...main, args: plannerArgs(dgd) } },
  };
}

export function desiredComponents(dgd: DynamoGraphDeployment): KubeObject[] {
  const graph = dgd.metadata.name ?? '';
  const namespace = dgd.metadata.namespace ?? 'default';
  const dynNs = dynamoNamespace(namespace, graph);
  return Object.entries(dgd.spec.services).map(([serviceName, service]) => {
    const name = componentName(graph, serviceName);
    // The deprecated dynamoNamespace is not copied: the DCD's is derived (dcdDynamoNamespace).
    const { dynamoNamespace: _deprecated, ...own } = withWorkerHintSecret(dgd, withPlannerArgs(dgd, service));
    const envs = mergeEnv(eppEnv(dgd, service), dgd.spec.envs, service.envs);
    const spec: DcdSpec = {
      ...own,
      // A type with no process (epp) gets no pods: 0 replicas, so its status is ready, not failing.
      replicas: replicasOf(service),
      serviceName,
      ...(dgd.spec.backendFramework ? { backendFramework: dgd.spec.backendFramework } : {}),
      // The graph's envs first, the service's own winning: Dynamo's merge, in the DCD's own field.
      ...(envs.length > 0 ? { envs } : {}),
    };
    return {
      apiVersion: GROUP_VERSION,
      kind: DCD_KIND.kind,
      metadata: {
        name,
        namespace,
        labels: {
          ...graphLabels(graph),
          [LABEL.component]: name,
          [LABEL.componentType]: componentTypeOf(service),
          [LABEL.namespace]: dynNs,
        },
        ownerReferences: [ownerRef(dgd)],
        // Set with the object itself: the DCD's reconciler need not add it in a write of its own.
        finalizers: [FINALIZER],
      },
      spec,
    };
  });
}

/** Adapters to create when missing. Their spec.replicas is then theirs (HPA writes it): never re-applied. */
export function desiredAdapters(dgd: DynamoGraphDeployment): KubeObject[] {
  const graph = dgd.metadata.name ?? '';
  const namespace = dgd.metadata.namespace ?? 'default';
  return Object.entries(dgd.spec.services)
    .filter(([, s]) => s.scalingAdapter?.enabled === true)
    .map(([serviceName, service]) => ({
      apiVersion: GROUP_VERSION,
      kind: ADAPTER_KIND.kind,
      metadata: {
        name: adapterName(graph, serviceName),
        namespace,
        labels: graphLabels(graph),
        ownerReferences: [ownerRef(dgd)],
      },
      spec: { replicas: replicasOf(service), dgdRef: { name: graph, serviceName } },
    }));
}

export function desiredPvcs(dgd: DynamoGraphDeployment): KubeObject[] {
  const graph = dgd.metadata.name ?? '';
  const namespace = dgd.metadata.namespace ?? 'default';
  return (dgd.spec.pvcs ?? [])
    .filter((p) => p.create === true)
    .map((p) => ({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: p.name, namespace, labels: graphLabels(graph), ownerReferences: [ownerRef(dgd)] },
      spec: {
        accessModes: p.volumeAccessMode ? [p.volumeAccessMode] : [],
        ...(p.storageClass ? { storageClassName: p.storageClass } : {}),
        resources: { requests: { storage: String(p.size ?? '') } },
      },
    }));
}

const RBAC_GROUP_VERSION = 'rbac.authorization.k8s.io/v1';

/**
 * ServiceAccount + Role + RoleBinding per planner and per epp service (epp.ts: watch its InferencePool
 * and the pods), owned by the graph (deleted with it).
 */
export function desiredPlannerRbac(dgd: DynamoGraphDeployment): KubeObject[] {
  const graph = dgd.metadata.name ?? '';
  const namespace = dgd.metadata.namespace ?? 'default';
  const planners = Object.entries(dgd.spec.services).filter(([, s]) => isPlanner(s) || isEpp(s));
  if (planners.length === 0) return [];
  return planners.flatMap(([serviceName, service]) => {
    const epp = isEpp(service);
    const rules = epp ? EPP_RULES : plannerRules(dgd);
    const name = (epp ? eppPoolName : plannerAccountName)(graph, serviceName);
    const metadata = {
      name,
      namespace,
      labels: { ...graphLabels(graph), [LABEL.component]: componentName(graph, serviceName) },
      ownerReferences: [ownerRef(dgd)],
    };
    return [
      // Its token is mounted by the planner's pod alone (desiredDeployment: automountServiceAccountToken).
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata },
      { apiVersion: RBAC_GROUP_VERSION, kind: 'Role', metadata, rules },
      {
        apiVersion: RBAC_GROUP_VERSION,
        kind: 'RoleBinding',
        metadata,
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [{ kind: 'ServiceAccount', name, namespace }],
      },
    ];
  });
}
