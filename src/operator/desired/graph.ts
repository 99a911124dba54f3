// DGD → its children, as pure functions of the graph (no I/O, unit-tested): one DCD per service, one
// scaling adapter per service with scalingAdapter.enabled, one PVC per `spec.pvcs` entry with create.
import {
  ADAPTER_KIND,
  type ComponentSpec,
  DCD_KIND,
  type DcdSpec,
  type DynamoGraphDeployment,
  GROUP_VERSION,
} from '../../api/k8s/index.js';
import type { KubeObject, OwnerReference } from '../kube/types.js';
import { adapterName, componentName, dynamoNamespace, FINALIZER, LABEL, MANAGED_BY } from '../naming.js';

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

export function desiredComponents(dgd: DynamoGraphDeployment): KubeObject[] {
  const graph = dgd.metadata.name ?? '';
  const namespace = dgd.metadata.namespace ?? 'default';
  const dynNs = dynamoNamespace(namespace, graph);
  return Object.entries(dgd.spec.services).map(([serviceName, service]) => {
    const name = componentName(graph, serviceName);
    const spec: DcdSpec = {
      ...service,
      replicas: replicasOf(service),
      serviceName,
      dynamoNamespace: dynNs,
      ...(dgd.spec.backendFramework ? { backendFramework: dgd.spec.backendFramework } : {}),
      ...(dgd.spec.envs && dgd.spec.envs.length > 0 ? { graphEnvs: dgd.spec.envs } : {}),
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
          [LABEL.componentType]: service.componentType,
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
