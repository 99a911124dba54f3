// Names, labels and annotations the operator puts on what it creates. Children have deterministic
// names (derived from their parent), so a reconcile repeated after a crash applies the same objects
// again instead of making duplicates.
import { createHash } from 'node:crypto';
import { API_GROUP, type ComponentType } from '../api/k8s/index.js';

export const FIELD_MANAGER = 'dynamo-operator';
export const FINALIZER = `${API_GROUP}/finalizer`;

export const LABEL = {
  managedBy: 'app.kubernetes.io/managed-by',
  graph: `${API_GROUP}/dynamo-graph-deployment-name`,
  component: `${API_GROUP}/dynamo-component`,
  componentType: `${API_GROUP}/dynamo-component-type`,
  /** Dynamo's label for a worker's sub-role (prefill, decode). */
  subComponentType: `${API_GROUP}/dynamo-sub-component-type`,
  namespace: `${API_GROUP}/dynamo-namespace`,
  selector: `${API_GROUP}/selector`,
  baseModelHash: `${API_GROUP}/dynamo-base-model-hash`,
  /** On every pod of a graph: the chart's NetworkPolicies admit these to NATS and etcd. */
  platform: `${API_GROUP}/dynamo-platform`,
} as const;

export const MANAGED_BY = 'dynamo-operator';

/** Name of the DCD (and of its Deployment and Service) for one service of a graph: Dynamo's scheme. */
export function componentName(graph: string, service: string): string {
  return `${graph}-${service.toLowerCase()}`;
}

export function adapterName(graph: string, service: string): string {
  return `${graph}-${service.toLowerCase()}`;
}

/**
 * The ServiceAccount, Role and RoleBinding of a planner service: the component's own name (distinct
 * kinds, so no clash with its Deployment; unique per graph and service, so two planners never share rights).
 */
export function plannerAccountName(graph: string, service: string): string {
  return componentName(graph, service);
}

/** Dynamo namespace of a graph: `^[a-z0-9_-]+$` (DESIGN §5), unique per Kubernetes namespace and graph. */
export function dynamoNamespace(k8sNamespace: string, graph: string): string {
  return `${k8sNamespace}-${graph}`.toLowerCase().replace(/[^a-z0-9_-]/g, '-');
}

/** DYN_COMPONENT of a service: its name lowered into the runtime's alphabet. */
export function dynamoComponent(service: string): string {
  return service.toLowerCase().replace(/[^a-z0-9_-]/g, '-');
}

/** Label value standing for a model name (names hold '/' and may pass 63 characters). */
export function modelHash(modelName: string): string {
  return createHash('sha256').update(modelName).digest('hex').slice(0, 16);
}

export const PORTS: Record<'frontend' | 'worker' | 'epp', { name: string; port: number }> = {
  frontend: { name: 'http', port: 8000 },
  worker: { name: 'system', port: 9090 },
  // ext_proc, as the Inference Extension's EPP (its gRPC health is on 9003, /metrics on 9090).
  epp: { name: 'grpc', port: 9002 },
};

/** The endpoint picker's other ports: gRPC health (probes) and /metrics /health /live. */
export const EPP_PORTS = {
  health: { name: 'grpc-health', port: 9003 },
  metrics: { name: 'metrics', port: 9090 },
} as const;

/**
 * The InferencePool an epp service picks for, and its ServiceAccount, Role and RoleBinding: the
 * component's own name, as a planner's account (distinct kinds: no clash with its Deployment).
 */
export function eppPoolName(graph: string, service: string): string {
  return componentName(graph, service);
}

/**
 * The worker's KV data plane (DESIGN §12): a fixed port in pods (`DYN_KV_DATA_PLANE_PORT`), so the
 * container can declare it; peers reach it at the pod's IP, which the worker advertises in discovery.
 */
export const KV_DATA_PORT = { name: 'kv-data', port: 9999 } as const;

/** Frontends serve the OpenAI API on 8000, endpoint pickers ext_proc on 9002; every other kind a system port on 9090. */
export function portOf(type: ComponentType): { name: string; port: number } {
  return type === 'frontend' ? PORTS.frontend : type === 'epp' ? PORTS.epp : PORTS.worker;
}
