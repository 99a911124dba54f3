// Status as pure functions of what the operator observed: per-service replica counts from the
// Deployments, a Ready condition with reason and message, Dynamo's `state`. Conditions keep their
// lastTransitionTime while their status holds, so writing the same status twice changes nothing.
import type { Condition, ServiceReplicaStatus } from '../../api/k8s/index.js';
import type { KubeObject } from '../kube/types.js';

export interface DeploymentStatusView {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
}

export function replicaStatus(deployment: KubeObject | undefined, name: string): ServiceReplicaStatus {
  const s = (deployment?.status ?? {}) as DeploymentStatusView;
  return {
    componentKind: 'Deployment',
    componentName: name,
    replicas: s.replicas ?? 0,
    updatedReplicas: s.updatedReplicas ?? 0,
    readyReplicas: s.readyReplicas ?? 0,
    availableReplicas: s.availableReplicas ?? 0,
  };
}

/** Ready when the Deployment has seen its latest spec and has as many ready replicas as desired. */
export function deploymentReady(
  deployment: KubeObject | undefined,
  desired: number,
): { ready: boolean; message: string } {
  if (!deployment) return { ready: false, message: 'Deployment not created yet' };
  const s = (deployment.status ?? {}) as DeploymentStatusView;
  const ready = s.readyReplicas ?? 0;
  const current = (s.observedGeneration ?? 0) >= (deployment.metadata.generation ?? 0);
  return {
    ready: current && ready >= desired && (s.updatedReplicas ?? 0) >= desired,
    message: `${ready}/${desired} replicas ready`,
  };
}

/** Sets one condition in a list: same status → lastTransitionTime kept; others untouched. */
export function setCondition(
  existing: readonly Condition[] | undefined,
  next: Condition,
  now: string,
): Condition[] {
  const list = [...(existing ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? list[i] : undefined;
  const merged: Condition = {
    ...next,
    lastTransitionTime: prev && prev.status === next.status ? (prev.lastTransitionTime ?? now) : now,
  };
  if (i >= 0) list[i] = merged;
  else list.push(merged);
  return list;
}

export function readyCondition(
  ready: boolean,
  reason: string,
  message: string,
  observedGeneration: number | undefined,
): Condition {
  return {
    type: 'Ready',
    status: ready ? 'True' : 'False',
    reason,
    message,
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  };
}

/** Deep equality of JSON values, for "has the status changed" (key order does not matter). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
