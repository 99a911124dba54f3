// Adds and removes the operator's finalizer. Both send the resourceVersion read, so a write based on a
// stale copy fails with a conflict (and is retried) instead of dropping someone else's finalizer.
import type { CallOptions, KubeClient } from '../kube/client.js';
import type { KubeObject, ResourceType } from '../kube/types.js';
import { FINALIZER } from '../naming.js';

export const hasFinalizer = (obj: KubeObject): boolean => (obj.metadata.finalizers ?? []).includes(FINALIZER);

export async function addFinalizer(
  client: KubeClient,
  rt: ResourceType,
  obj: KubeObject,
  opts: CallOptions = {},
): Promise<void> {
  if (hasFinalizer(obj)) return;
  await client.mergePatch(
    rt,
    obj.metadata.namespace,
    obj.metadata.name,
    {
      metadata: {
        finalizers: [...(obj.metadata.finalizers ?? []), FINALIZER],
        resourceVersion: obj.metadata.resourceVersion,
      },
    },
    undefined,
    opts,
  );
}

export async function removeFinalizer(
  client: KubeClient,
  rt: ResourceType,
  obj: KubeObject,
  opts: CallOptions = {},
): Promise<void> {
  if (!hasFinalizer(obj)) return;
  await client.mergePatch(
    rt,
    obj.metadata.namespace,
    obj.metadata.name,
    {
      metadata: {
        finalizers: (obj.metadata.finalizers ?? []).filter((f) => f !== FINALIZER),
        resourceVersion: obj.metadata.resourceVersion,
      },
    },
    undefined,
    opts,
  );
}
