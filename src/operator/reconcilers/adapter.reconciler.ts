// DynamoGraphDeploymentScalingAdapter: its spec.replicas (written through the scale subresource by an
// HPA, KEDA or `kubectl scale`) is copied into its service's replicas in the graph; the validating
// webhook refuses that field from anyone else while the adapter is enabled. Status: the replicas the
// service runs and the label selector of its pods, as the scale subresource reports them.
import {
  type DgdStatus,
  type DynamoGraphDeployment,
  dynamoGraphDeployment,
  scalingAdapter,
} from '../../api/k8s/index.js';
import type { ReconcileResult, Reconciler } from '../controller.js';
import { TerminalError } from '../controller.js';
import { jsonEqual } from '../desired/status.js';
import type { EventRecorder } from '../events.js';
import type { KubeClient } from '../kube/client.js';
import type { IndexFunc, Informer } from '../kube/informer.js';
import { type KubeObject, keyOf, type ObjectKey, objectKey } from '../kube/types.js';
import { componentName, LABEL } from '../naming.js';
import { ADAPTER_RT, DGD_RT } from './resource-types.js';

export interface AdapterReconcilerDeps {
  client: KubeClient;
  adapters: Informer;
  graphs: Informer;
  events: EventRecorder;
}

/** Adapters by the key (`namespace/name`) of the graph they scale, `spec.dgdRef.name`. */
const GRAPH_INDEX = 'graph';
const adapterGraph: IndexFunc = (a) => {
  const graph = (a.spec as { dgdRef?: { name?: string } } | undefined)?.dgdRef?.name;
  return graph ? [objectKey(a.metadata.namespace, graph)] : [];
};

/** Maps a graph's change to its adapters' keys (an index lookup; registers the index). */
export function adaptersOfGraph(adapters: Informer): (graph: KubeObject) => ObjectKey[] {
  adapters.addIndex(GRAPH_INDEX, adapterGraph);
  return (graph) => adapters.byIndex(GRAPH_INDEX, keyOf(graph)).map(keyOf);
}

export class AdapterReconciler implements Reconciler {
  constructor(private readonly deps: AdapterReconcilerDeps) {}

  async reconcile(key: ObjectKey, signal: AbortSignal): Promise<ReconcileResult> {
    const { client, adapters, graphs, events } = this.deps;
    const obj = adapters.get(key);
    if (!obj || obj.metadata.deletionTimestamp) return {};
    const parsed = scalingAdapter.safeParse(obj);
    if (!parsed.success) throw new TerminalError(`${key}: ${parsed.error.message}`);
    const adapter = parsed.data;
    const { name: graphName, serviceName } = adapter.spec.dgdRef;
    const graphObj = graphs.get(objectKey(obj.metadata.namespace, graphName));
    const graph = graphObj ? dynamoGraphDeployment.safeParse(graphObj) : undefined;
    if (!graphObj || !graph?.success) return {}; // the graph's own events bring us back
    const dgd: DynamoGraphDeployment = graph.data;
    const service = dgd.spec.services[serviceName];
    if (service?.scalingAdapter?.enabled !== true || graphObj.metadata.deletionTimestamp) return {};

    const want = adapter.spec.replicas;
    const have = service.replicas ?? 1;
    if (want !== have) {
      await client.mergePatch(
        DGD_RT,
        obj.metadata.namespace,
        graphName,
        { spec: { services: { [serviceName]: { replicas: want } } } },
        undefined,
        { signal },
      );
      events.record(
        graphObj,
        'Normal',
        'Scaled',
        `${serviceName}: ${have} → ${want} replicas (by ${obj.metadata.name})`,
        { signal },
      );
    }
    const serviceStatus = ((graphObj.status ?? {}) as DgdStatus).services?.[serviceName];
    const prev = (obj.status ?? {}) as Record<string, unknown>;
    const status = {
      ...prev,
      replicas: serviceStatus?.replicas ?? 0,
      selector: `${LABEL.selector}=${componentName(graphName, serviceName)}`,
      ...(want !== have ? { lastScaleTime: new Date().toISOString() } : {}),
    };
    if (!jsonEqual(prev, status)) {
      await client.mergePatch(ADAPTER_RT, obj.metadata.namespace, obj.metadata.name, { status }, 'status', {
        signal,
      });
    }
    return {};
  }
}
