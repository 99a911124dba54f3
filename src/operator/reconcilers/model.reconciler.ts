// DynamoModel: status.endpoints lists the ready pods of the components that serve it (their DCD's
// modelRef names the model; the pods carry its hash as a label), with the worker's system port.
import { type DynamoModelStatus, dynamoModel } from '../../api/k8s/index.js';
import type { ReconcileResult, Reconciler } from '../controller.js';
import { TerminalError } from '../controller.js';
import { jsonEqual, readyCondition, setCondition } from '../desired/status.js';
import type { EventRecorder } from '../events.js';
import type { KubeClient } from '../kube/client.js';
import type { IndexFunc, Informer } from '../kube/informer.js';
import { type KubeObject, keyOf, type ObjectKey, objectKey } from '../kube/types.js';
import { LABEL, modelHash, PORTS } from '../naming.js';
import { MODEL_RT } from './resource-types.js';

export interface ModelReconcilerDeps {
  client: KubeClient;
  models: Informer;
  /** Pods with the base-model label (the informer's selector). */
  pods: Informer;
  events: EventRecorder;
}

interface PodView {
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
}

const podReady = (pod: KubeObject): boolean =>
  ((pod as PodView).status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/** Models and pods by `namespace/<model hash>`: a model's name hashed, a pod's base-model label. */
const MODEL_INDEX = 'model';
const hashOfModel: IndexFunc = (m) => [objectKey(m.metadata.namespace, modelHash(m.metadata.name))];
const modelOfPod: IndexFunc = (p) => {
  const hash = p.metadata.labels?.[LABEL.baseModelHash];
  return hash ? [objectKey(p.metadata.namespace, hash)] : [];
};

/** Maps a pod's change to the models it serves (an index lookup; registers the index). */
export function modelsOfPod(models: Informer): (pod: KubeObject) => ObjectKey[] {
  models.addIndex(MODEL_INDEX, hashOfModel);
  return (pod) => modelOfPod(pod).flatMap((v) => models.byIndex(MODEL_INDEX, v).map(keyOf));
}

export class ModelReconciler implements Reconciler {
  constructor(private readonly deps: ModelReconcilerDeps) {
    deps.pods.addIndex(MODEL_INDEX, modelOfPod);
  }

  async reconcile(key: ObjectKey, signal: AbortSignal): Promise<ReconcileResult> {
    const { client, models, pods, events } = this.deps;
    const obj = models.get(key);
    if (!obj || obj.metadata.deletionTimestamp) return {};
    const parsed = dynamoModel.safeParse(obj);
    if (!parsed.success) throw new TerminalError(`${key}: ${parsed.error.message}`);
    const serving = pods
      .byIndex(MODEL_INDEX, objectKey(obj.metadata.namespace, modelHash(obj.metadata.name)))
      .filter((p) => !p.metadata.deletionTimestamp && Boolean((p as PodView).status?.podIP));
    const endpoints = serving
      .filter(podReady)
      .map((p) => ({
        address: `${(p as PodView).status?.podIP}:${PORTS.worker.port}`,
        podName: p.metadata.name,
        ready: true,
      }))
      .sort((a, b) => a.podName.localeCompare(b.podName));
    const prev = (obj.status ?? {}) as DynamoModelStatus;
    const ready = endpoints.length > 0;
    const generation = obj.metadata.generation;
    const status: DynamoModelStatus = {
      observedGeneration: generation,
      endpoints,
      readyEndpoints: endpoints.length,
      totalEndpoints: serving.length,
      conditions: setCondition(
        prev.conditions,
        readyCondition(
          ready,
          ready ? 'EndpointsReady' : 'NoReadyEndpoints',
          `${endpoints.length}/${serving.length} endpoints ready`,
          generation,
        ),
        new Date().toISOString(),
      ),
    };
    if (jsonEqual(prev, status)) return {};
    await client.mergePatch(MODEL_RT, obj.metadata.namespace, obj.metadata.name, { status }, 'status', {
      signal,
    });
    if ((prev.readyEndpoints ?? 0) > 0 !== ready) {
      events.record(
        obj,
        ready ? 'Normal' : 'Warning',
        ready ? 'EndpointsReady' : 'NoReadyEndpoints',
        status.conditions?.[0]?.message ?? '',
        { signal },
      );
    }
    return {};
  }
}
