// Idempotent writes of children. A child is server-side applied with the operator's field manager and
// carries the hash of what was applied; when the cached child already carries the same hash the apply
// is skipped, so a steady-state reconcile of a large graph costs no request per child. (A field we own
// that someone else changed is restored at the next change of the desired object or a restart with a
// new operator version, as the hash then differs.)
import { createHash } from 'node:crypto';
import { API_GROUP } from '../../api/k8s/index.js';
import type { KubeClient } from '../kube/client.js';
import type { KubeObject, ResourceType } from '../kube/types.js';

export const APPLIED_HASH = `${API_GROUP}/applied-hash`;

export function hashOf(obj: unknown): string {
  return createHash('sha256').update(JSON.stringify(obj)).digest('hex').slice(0, 20);
}

/** Applies `desired` unless `current` already is what it says; returns the stored object, or undefined if skipped. */
export async function applyChild(
  client: KubeClient,
  rt: ResourceType,
  desired: KubeObject,
  current: KubeObject | undefined,
): Promise<KubeObject | undefined> {
  const hash = hashOf(desired);
  // A child being deleted is left alone: its deletion event brings us back to create it anew.
  if (current?.metadata.deletionTimestamp) return undefined;
  if (current && current.metadata.annotations?.[APPLIED_HASH] === hash) return undefined;
  const body: KubeObject = {
    ...desired,
    metadata: {
      ...desired.metadata,
      annotations: { ...(desired.metadata.annotations ?? {}), [APPLIED_HASH]: hash },
    },
  };
  return client.apply(rt, body);
}

/** True when `obj` is controlled by the owner with this uid. */
export const ownedBy = (obj: KubeObject, uid: string | undefined): boolean =>
  uid !== undefined &&
  (obj.metadata.ownerReferences ?? []).some((r) => r.uid === uid && r.controller === true);
