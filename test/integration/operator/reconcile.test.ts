// The operator against the harness's real kube-apiserver (no kubelet, controller-manager or garbage
// collector runs there: Deployment status is written by the test, as a controller-manager would).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, type ResourceType, RT } from '../../../src/operator/kube/types.js';
import { modelHash } from '../../../src/operator/naming.js';
import { ADAPTER_RT, DCD_RT, DGD_RT, MODEL_RT } from '../../../src/operator/reconcilers/resource-types.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { example } from '../../unit/operator/manifests.js';
import { baseConfig, eventually, inNamespace, kube, newNamespace, startOperator } from './helpers.js';

let client: KubeClient;
let ns: string;
let operator: { stop: () => Promise<void> };

type Status = {
  state?: string;
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
};
const status = (o: KubeObject | undefined) => (o?.status ?? {}) as Status & Record<string, unknown>;
const ready = (o: KubeObject | undefined) => status(o).conditions?.find((c) => c.type === 'Ready');

const withNs = (doc: Record<string, unknown>): KubeObject => inNamespace(ns, doc);

async function list(rt: ResourceType, graph: string): Promise<KubeObject[]> {
  return (
    await client.list(rt, {
      namespace: ns,
      labelSelector: `nvidia.com/dynamo-graph-deployment-name=${graph}`,
    })
  ).items;
}

/** What a controller-manager would write once the pods run. */
async function markDeploymentReady(name: string): Promise<void> {
  const d = await client.get(RT.deployment, ns, name);
  if (!d) throw new Error(`no deployment ${name}`);
  const replicas = (d.spec as { replicas: number }).replicas;
  await client.mergePatch(
    RT.deployment,
    ns,
    name,
    {
      status: {
        observedGeneration: d.metadata.generation,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
      },
    },
    'status',
  );
}

beforeAll(async () => {
  client = kube();
  ns = await newNamespace(client, 'op-reconcile');
  const dir = await harnessTempDir('operator-reconcile');
  operator = startOperator(baseConfig(ns), join(dir, 'operator.log'));
});

afterAll(async () => {
  await operator?.stop();
  client?.close();
});

describe('operator reconciles on a real API server', () => {
  it('turns the aggregated example into DCDs, Deployments and Services with the right fields', async () => {
    await eventually('CRDs installed', () =>
      client.get(RT.crd, undefined, 'dynamographdeployments.nvidia.com'),
    );
    await eventually('DGD created', () => client.create(DGD_RT, withNs(example('dgd-agg.yaml')[0] ?? {})));
    const dgd = await eventually('finalizer', async () => {
      const o = await client.get(DGD_RT, ns, 'agg');
      return o?.metadata.finalizers?.includes('nvidia.com/finalizer') ? o : undefined;
    });

    const dcds = await eventually('two DCDs', async () => {
      const items = await list(DCD_RT, 'agg');
      return items.length === 2 ? items : undefined;
    });
    expect(dcds.map((d) => d.metadata.name).sort()).toEqual(['agg-frontend', 'agg-onnxworker']);
    for (const d of dcds) {
      expect(d.metadata.ownerReferences).toEqual([
        expect.objectContaining({
          kind: 'DynamoGraphDeployment',
          name: 'agg',
          uid: dgd.metadata.uid,
          controller: true,
        }),
      ]);
    }

    const deployment = await eventually('worker Deployment', () =>
      client.get(RT.deployment, ns, 'agg-onnxworker'),
    );
    const dcd = dcds.find((d) => d.metadata.name === 'agg-onnxworker');
    expect(deployment.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'DynamoComponentDeployment',
        name: 'agg-onnxworker',
        uid: dcd?.metadata.uid,
      }),
    ]);
    const spec = deployment.spec as {
      replicas: number;
      template: {
        spec: { containers: { image: string; env: { name: string; value?: string }[]; ports: unknown[] }[] };
      };
    };
    expect(spec.replicas).toBe(2);
    const container = spec.template.spec.containers[0];
    expect(container?.image).toBe('dynamo-ts:0.1.0');
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      DYN_NAMESPACE: `${ns}-agg`,
      DYN_COMPONENT: 'onnxworker',
      ETCD_ENDPOINTS: 'http://etcd.test:2379',
      NATS_SERVER: 'nats://nats.test:4222',
    });
    expect(container?.ports).toEqual([
      { name: 'system', containerPort: 9090, protocol: 'TCP' },
      { name: 'kv-data', containerPort: 9999, protocol: 'TCP' },
    ]);

    const service = await eventually('frontend Service', () => client.get(RT.service, ns, 'agg-frontend'));
    expect((service.spec as { ports: { port: number }[] }).ports[0]?.port).toBe(8000);
    expect((service.spec as { selector: Record<string, string> }).selector).toEqual({
      'nvidia.com/selector': 'agg-frontend',
    });

    // Not ready until the Deployments are.
    const pending = await eventually('pending status', async () => {
      const o = await client.get(DGD_RT, ns, 'agg');
      return status(o).state === 'pending' ? o : undefined;
    });
    expect(ready(pending)).toMatchObject({ status: 'False', reason: 'ServicesNotReady' });
    expect(status(pending).observedGeneration).toBe(pending.metadata.generation);

    await markDeploymentReady('agg-frontend');
    await markDeploymentReady('agg-onnxworker');
    const done = await eventually('successful status', async () => {
      const o = await client.get(DGD_RT, ns, 'agg');
      return status(o).state === 'successful' ? o : undefined;
    });
    expect(ready(done)).toMatchObject({ status: 'True', reason: 'AllServicesReady' });
    expect((status(done).services as Record<string, unknown>).OnnxWorker).toMatchObject({
      componentKind: 'Deployment',
      componentName: 'agg-onnxworker',
      readyReplicas: 2,
      availableReplicas: 2,
    });
    const events = (await client.list(RT.event, { namespace: ns })).items.filter(
      (e) => (e.involvedObject as { name?: string }).name === 'agg',
    );
    expect(events.map((e) => e.reason)).toContain('AllServicesReady');
  });

  it('turns the disaggregated example into prefill and decode workers the API server accepts', async () => {
    await client.create(DGD_RT, withNs(example('dgd-disagg.yaml')[0] ?? {}));
    type Container = {
      env: { name: string; value?: string; valueFrom?: unknown }[];
      ports: { name: string; containerPort: number }[];
    };
    const worker = async (name: string) => {
      const d = await eventually(`${name} Deployment`, () => client.get(RT.deployment, ns, name));
      const template = (
        d.spec as {
          template: { metadata: { labels: Record<string, string> }; spec: { containers: Container[] } };
        }
      ).template;
      const c = template.spec.containers[0];
      return {
        env: Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom])),
        ports: (c?.ports ?? []).map((p) => `${p.name}:${p.containerPort}`),
        role: template.metadata.labels['nvidia.com/dynamo-sub-component-type'],
      };
    };
    const prefill = await worker('disagg-onnxprefillworker');
    const decode = await worker('disagg-onnxdecodeworker');
    for (const [w, mode] of [
      [prefill, 'prefill'],
      [decode, 'decode'],
    ] as const) {
      expect(w.env).toMatchObject({
        DYN_DISAGGREGATION_MODE: mode,
        DYN_ENGINE: 'onnx',
        // Stored as sent: the API server accepted the downward-API field.
        POD_IP: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } },
        DYN_KV_DATA_PLANE_PORT: '9999',
      });
      expect(w.role).toBe(mode);
    }
    expect(prefill.ports).toEqual(['system:9090', 'kv-data:9999']);
    expect(decode.ports).toEqual(['system:9090']);
    const frontend = await worker('disagg-frontend');
    expect(frontend.env.DYN_DISAGGREGATION_MODE).toBeUndefined();
  });

  it('scales a service through its adapter, which then owns its replicas', async () => {
    await client.create(DGD_RT, withNs(example('dgd-kv-routed.yaml')[0] ?? {}));
    await eventually('adapter', () => client.get(ADAPTER_RT, ns, 'kv-routed-onnxworker'));
    await eventually('ingress for the frontend', () => client.get(RT.ingress, ns, 'kv-routed-frontend'));
    await eventually('PVC created', () => client.get(RT.pvc, ns, 'kv-routed-models'));

    // What an HPA or `kubectl scale` does: write the scale subresource.
    const scale = await client.request<{ spec: { replicas: number } }>(
      'GET',
      `/apis/nvidia.com/v1alpha1/namespaces/${ns}/dynamographdeploymentscalingadapters/kv-routed-onnxworker/scale`,
    );
    expect(scale.spec.replicas).toBe(3);
    await client.mergePatch(ADAPTER_RT, ns, 'kv-routed-onnxworker', { spec: { replicas: 5 } }, 'scale');

    await eventually('graph replicas follow the adapter', async () => {
      const g = await client.get(DGD_RT, ns, 'kv-routed');
      const spec = g?.spec as { services: { OnnxWorker: { replicas: number } } } | undefined;
      return spec?.services.OnnxWorker.replicas === 5;
    });
    const d = await eventually('Deployment scaled', async () => {
      const o = await client.get(RT.deployment, ns, 'kv-routed-onnxworker');
      return (o?.spec as { replicas: number } | undefined)?.replicas === 5 ? o : undefined;
    });
    expect(d.metadata.name).toBe('kv-routed-onnxworker');
    const adapter = await eventually('adapter status', async () => {
      const a = await client.get(ADAPTER_RT, ns, 'kv-routed-onnxworker');
      return status(a).selector ? a : undefined;
    });
    expect(status(adapter).selector).toBe('nvidia.com/selector=kv-routed-onnxworker');

    // Someone else writes the service's replicas (no webhook here to refuse it): the adapter puts its own back.
    await client.mergePatch(DGD_RT, ns, 'kv-routed', { spec: { services: { OnnxWorker: { replicas: 9 } } } });
    await eventually('adapter replicas restored', async () => {
      const g = await client.get(DGD_RT, ns, 'kv-routed');
      const spec = g?.spec as { services: { OnnxWorker: { replicas: number } } } | undefined;
      return spec?.services.OnnxWorker.replicas === 5;
    });
  });

  it('lists the ready pods serving a DynamoModel as its endpoints', async () => {
    await client.create(MODEL_RT, withNs(example('dynamo-model.yaml')[0] ?? {}));
    // No controller-manager makes the namespace's default ServiceAccount, which pod admission wants.
    await client.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
      body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } },
    });
    const pod = await client.create(RT.pod, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'worker-0',
        namespace: ns,
        labels: { 'nvidia.com/dynamo-base-model-hash': modelHash('qwen3-tiny') },
      },
      spec: { containers: [{ name: 'main', image: 'dynamo-ts:test' }] },
    });
    // What a kubelet would report once the pod runs and passes its readiness probe.
    const now = new Date().toISOString();
    await client.mergePatch(
      RT.pod,
      ns,
      pod.metadata.name,
      {
        status: {
          phase: 'Running',
          podIP: '10.1.2.3',
          podIPs: [{ ip: '10.1.2.3' }],
          conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
        },
      },
      'status',
    );
    const m = await eventually('model endpoints', async () => {
      const o = await client.get(MODEL_RT, ns, 'qwen3-tiny');
      return (status(o).readyEndpoints as number | undefined) === 1 ? o : undefined;
    });
    expect(status(m).endpoints).toEqual([{ address: '10.1.2.3:9090', podName: 'worker-0', ready: true }]);
    expect(ready(m)).toMatchObject({ status: 'True', reason: 'EndpointsReady' });
  });

  it('reports a graph that its webhook would have refused as failed, and reconciles it once fixed', async () => {
    // No webhooks run with this operator: the graph is stored as it is.
    await client.create(
      DGD_RT,
      withNs({
        apiVersion: 'nvidia.com/v1alpha1',
        kind: 'DynamoGraphDeployment',
        metadata: { name: 'broken' },
        spec: { services: { 'Bad.Name': { componentType: 'worker' } } },
      }),
    );
    const failed = await eventually('failed status', async () => {
      const o = await client.get(DGD_RT, ns, 'broken');
      return status(o).state === 'failed' ? o : undefined;
    });
    expect(ready(failed)).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(ready(failed)?.message).toContain('spec.services.Bad.Name: the component name "broken-bad.name"');
    expect(await list(DCD_RT, 'broken')).toEqual([]);

    await client.mergePatch(DGD_RT, ns, 'broken', {
      spec: { services: { 'Bad.Name': null, Good: { componentType: 'worker' } } },
    });
    await eventually('fixed graph reconciled', () => client.get(RT.deployment, ns, 'broken-good'));
    await eventually(
      'pending status',
      async () => status(await client.get(DGD_RT, ns, 'broken')).state === 'pending',
    );
  });

  it('removes the children it made when a graph is deleted, then lets the graph go', async () => {
    await client.delete(DGD_RT, ns, 'agg');
    await eventually('graph gone', async () => (await client.get(DGD_RT, ns, 'agg')) === undefined);
    expect(await list(DCD_RT, 'agg')).toEqual([]);
    expect(await client.get(RT.deployment, ns, 'agg-frontend')).toBeUndefined();
    expect(await client.get(RT.deployment, ns, 'agg-onnxworker')).toBeUndefined();
    expect(await client.get(RT.service, ns, 'agg-frontend')).toBeUndefined();
    // The other graph is untouched.
    expect(await client.get(RT.deployment, ns, 'kv-routed-frontend')).toBeDefined();
  });
});
