// DynamoComponentDeployment → Deployment + Service (+ Ingress for a frontend that asks); status from
// the Deployment. Deletion: the finalizer holds the DCD until its children are gone.
import { type DcdStatus, describeZodError, dynamoComponentDeployment } from '../../api/k8s/index.js';
import { type ReconcileResult, type Reconciler, TerminalError } from '../controller.js';
import {
  desiredDeployment,
  desiredIngress,
  desiredService,
  InvalidComponentError,
  type WorkloadOptions,
} from '../desired/component.js';
import {
  deploymentReady,
  jsonEqual,
  readyCondition,
  replicaStatus,
  setCondition,
} from '../desired/status.js';
import type { EventRecorder } from '../events.js';
import type { KubeClient } from '../kube/client.js';
import type { Informer } from '../kube/informer.js';
import { type KubeObject, type ObjectKey, RT } from '../kube/types.js';
import { applyChild, ownedBy } from './apply.js';
import { addFinalizer, hasFinalizer, removeFinalizer } from './finalizers.js';
import { DCD_RT } from './resource-types.js';

export interface ComponentReconcilerDeps {
  client: KubeClient;
  components: Informer;
  deployments: Informer;
  services: Informer;
  ingresses: Informer;
  events: EventRecorder;
  workload: WorkloadOptions;
}

const isReady = (o: KubeObject): boolean =>
  ((o.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).some(
    (c) => c.type === 'Ready' && c.status === 'True',
  );

export class ComponentReconciler implements Reconciler {
  constructor(private readonly deps: ComponentReconcilerDeps) {}

  async reconcile(key: ObjectKey, signal: AbortSignal): Promise<ReconcileResult> {
    const { client, components, deployments, services, ingresses } = this.deps;
    const obj = components.get(key);
    if (!obj) return {};
    const call = { signal };
    if (obj.metadata.deletionTimestamp) return this.finalize(key, obj, signal);
    const parsed = dynamoComponentDeployment.safeParse(obj);
    if (!parsed.success) {
      const message = describeZodError(parsed.error).join('; ');
      await this.writeStatus(obj, undefined, { failed: message }, signal);
      throw new TerminalError(`${key}: ${message}`);
    }
    const dcd = parsed.data;
    // Normally set by the graph's reconciler with the DCD itself; a DCD made by hand gets it here.
    await addFinalizer(client, DCD_RT, obj, call);
    let deployment: KubeObject;
    try {
      deployment = desiredDeployment(dcd, this.deps.workload);
    } catch (err) {
      if (!(err instanceof InvalidComponentError)) throw err;
      await this.writeStatus(obj, undefined, { failed: err.message }, signal);
      throw new TerminalError(`${key}: ${err.message}`);
    }
    const ingress = desiredIngress(dcd);
    const existingIngress = ingresses.get(key);
    const [appliedDeployment] = await Promise.all([
      applyChild(client, RT.deployment, deployment, deployments.get(key), call),
      applyChild(client, RT.service, desiredService(dcd), services.get(key), call),
      ingress
        ? applyChild(client, RT.ingress, ingress, existingIngress, call)
        : existingIngress && ownedBy(existingIngress, obj.metadata.uid)
          ? client.delete(RT.ingress, existingIngress.metadata.namespace, existingIngress.metadata.name, call)
          : undefined,
    ]);
    // The object just applied is newer than the cache, which has it only when its event arrives.
    await this.writeStatus(obj, appliedDeployment ?? deployments.get(key), {}, signal);
    return {};
  }

  private async writeStatus(
    obj: KubeObject,
    deployment: KubeObject | undefined,
    s: { failed?: string },
    signal: AbortSignal,
  ) {
    const prev = (obj.status ?? {}) as DcdStatus;
    const generation = obj.metadata.generation;
    const name = obj.metadata.name;
    const desired = ((obj.spec as { replicas?: number } | undefined)?.replicas ?? 1) as number;
    const { ready, message } = s.failed
      ? { ready: false, message: s.failed }
      : deploymentReady(deployment, desired);
    const reason = s.failed ? 'InvalidSpec' : ready ? 'AllReplicasReady' : 'ReplicasNotReady';
    const status: DcdStatus = {
      observedGeneration: generation,
      state: s.failed ? 'failed' : ready ? 'successful' : 'pending',
      conditions: setCondition(
        prev.conditions,
        readyCondition(ready, reason, message, generation),
        new Date().toISOString(),
      ),
      service: replicaStatus(deployment, name),
    };
    if (jsonEqual(prev, status)) return;
    const wasReady = isReady(obj);
    await this.deps.client.mergePatch(DCD_RT, obj.metadata.namespace, name, { status }, 'status', {
      signal,
    });
    if (ready !== wasReady || (s.failed && prev.state !== 'failed')) {
      this.deps.events.record(obj, ready ? 'Normal' : 'Warning', reason, message, { signal });
    }
  }

  private async finalize(key: ObjectKey, obj: KubeObject, signal: AbortSignal): Promise<ReconcileResult> {
    const { client, deployments, services, ingresses } = this.deps;
    if (!hasFinalizer(obj)) return {};
    const left = [
      [RT.deployment, deployments.get(key)],
      [RT.service, services.get(key)],
      [RT.ingress, ingresses.get(key)],
    ] as const;
    let waiting = 0;
    for (const [rt, child] of left) {
      if (!child || !ownedBy(child, obj.metadata.uid)) continue;
      waiting++;
      if (!child.metadata.deletionTimestamp)
        await client.delete(rt, child.metadata.namespace, child.metadata.name, { signal });
    }
    if (waiting > 0) return { requeueAfterMs: 1_000 };
    await removeFinalizer(client, DCD_RT, obj, { signal });
    return {};
  }
}
