import { describe, expect, it } from 'vitest';
import {
  type DynamoComponentDeployment,
  type DynamoGraphDeployment,
  dynamoComponentDeployment,
  dynamoGraphDeployment,
} from '../../../src/api/k8s/index.js';
import {
  desiredDeployment,
  desiredIngress,
  desiredService,
  InvalidComponentError,
} from '../../../src/operator/desired/component.js';
import { mergeEnv } from '../../../src/operator/desired/env.js';
import { desiredAdapters, desiredComponents, desiredPvcs } from '../../../src/operator/desired/graph.js';
import { deploymentReady, jsonEqual, setCondition } from '../../../src/operator/desired/status.js';
import type { KubeObject } from '../../../src/operator/kube/types.js';
import { example } from './manifests.js';

function graph(file: string, uid = 'uid-1'): DynamoGraphDeployment {
  const doc = example(file)[0] as Record<string, unknown>;
  const parsed = dynamoGraphDeployment.parse(doc);
  return { ...parsed, metadata: { ...parsed.metadata, namespace: 'team-a', uid, generation: 1 } };
}

function components(dgd: DynamoGraphDeployment): DynamoComponentDeployment[] {
  return desiredComponents(dgd).map((o) =>
    dynamoComponentDeployment.parse({ ...o, metadata: { ...o.metadata, uid: `uid-${o.metadata.name}` } }),
  );
}

type Container = {
  image: string;
  args?: string[];
  env: { name: string; value?: string; valueFrom?: unknown }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  resources?: Record<string, Record<string, string>>;
  volumeMounts?: { name: string; mountPath: string }[];
};
const podSpec = (d: KubeObject) =>
  (
    d.spec as {
      template: {
        spec: { containers: Container[]; volumes?: unknown[] };
        metadata: { labels: Record<string, string> };
      };
    }
  ).template;

describe('DGD → children', () => {
  it('makes one DCD per service, owned by the graph, with the graph-wide settings', () => {
    const dgd = graph('dgd-agg.yaml');
    const dcds = desiredComponents(dgd);
    expect(dcds.map((d) => d.metadata.name)).toEqual(['agg-frontend', 'agg-onnxworker']);
    const worker = dcds[1];
    expect(worker?.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'nvidia.com/v1alpha1',
        kind: 'DynamoGraphDeployment',
        name: 'agg',
        uid: 'uid-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(worker?.spec).toMatchObject({
      serviceName: 'OnnxWorker',
      componentType: 'worker',
      replicas: 2,
      backendFramework: 'onnx',
    });
    // The graph's envs merged into the DCD's own (Dynamo's DCD has no field of ours for them).
    expect(worker?.spec).toMatchObject({
      envs: expect.arrayContaining([{ name: 'DYN_LOG', value: 'info' }]),
    });
    expect(worker?.spec).not.toHaveProperty('dynamoNamespace');
    expect(worker?.metadata.labels).toMatchObject({ 'nvidia.com/dynamo-graph-deployment-name': 'agg' });
  });

  it('makes adapters only for services that enable one, and the PVCs to create', () => {
    const dgd = graph('dgd-kv-routed.yaml');
    expect(desiredAdapters(dgd).map((a) => [a.metadata.name, a.spec])).toEqual([
      ['kv-routed-onnxworker', { replicas: 3, dgdRef: { name: 'kv-routed', serviceName: 'OnnxWorker' } }],
    ]);
    expect(desiredPvcs(dgd)[0]?.spec).toEqual({
      accessModes: ['ReadWriteMany'],
      storageClassName: 'standard',
      resources: { requests: { storage: '10Gi' } },
    });
  });

  it('is deterministic: the same graph gives the same children', () => {
    expect(
      jsonEqual(desiredComponents(graph('dgd-agg.yaml')), desiredComponents(graph('dgd-agg.yaml'))),
    ).toBe(true);
  });
});

describe('DCD → Deployment, Service, Ingress', () => {
  const opts = {
    defaultImage: 'dynamo-ts:default',
    etcdEndpoints: 'http://etcd:2379',
    natsServer: 'nats://nats:4222',
  };

  it('gives a worker the runtime env, port 9090 and its probes', () => {
    const [, worker] = components(graph('dgd-agg.yaml'));
    if (!worker) throw new Error('no worker');
    const d = desiredDeployment(worker, opts);
    expect((d.spec as { replicas: number }).replicas).toBe(2);
    const c = podSpec(d).spec.containers[0];
    expect(c?.image).toBe('dynamo-ts:0.1.0');
    const env = Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      DYN_NAMESPACE: 'team-a-agg',
      DYN_COMPONENT: 'onnxworker',
      ETCD_ENDPOINTS: 'http://etcd:2379',
      NATS_SERVER: 'nats://nats:4222',
      POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
      POD_NAMESPACE: { fieldRef: { fieldPath: 'metadata.namespace' } },
      DYN_SYSTEM_PORT: '9090',
      DYN_ENGINE: 'onnx',
      DYN_LOG: 'info',
    });
    // An aggregated worker: its role, and the KV data plane it serves blocks on (pod IP, fixed port).
    expect(env).toMatchObject({
      DYN_DISAGGREGATION_MODE: 'agg',
      POD_IP: { fieldRef: { fieldPath: 'status.podIP' } },
      DYN_KV_DATA_PLANE_PORT: '9999',
    });
    expect(c?.ports).toEqual([
      { name: 'system', containerPort: 9090, protocol: 'TCP' },
      { name: 'kv-data', containerPort: 9999, protocol: 'TCP' },
    ]);
    expect(c?.livenessProbe.httpGet).toEqual({ path: '/live', port: 'system' });
    expect(c?.readinessProbe.httpGet).toEqual({ path: '/health', port: 'system' });
    expect(c?.resources).toEqual({ requests: { cpu: '2', memory: '4Gi' }, limits: { memory: '8Gi' } });
    expect(c?.volumeMounts).toEqual([
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'shared-memory', mountPath: '/dev/shm' },
    ]);
    expect(podSpec(d).spec.volumes).toEqual([
      { name: 'tmp', emptyDir: {} },
      { name: 'shared-memory', emptyDir: { medium: 'Memory', sizeLimit: '1Gi' } },
    ]);
    expect(podSpec(d).metadata.labels['nvidia.com/selector']).toBe('agg-onnxworker');
    expect((d.spec as { selector: unknown }).selector).toEqual({
      matchLabels: { 'nvidia.com/selector': 'agg-onnxworker' },
    });
  });

  it("keeps the main container's own ports after ours, dropping one that reuses our name or number", () => {
    const [frontend] = components(graph('dgd-kv-routed.yaml'));
    if (!frontend) throw new Error('missing components');
    const withPorts = {
      ...frontend,
      spec: {
        ...frontend.spec,
        extraPodSpec: {
          mainContainer: {
            image: 'dynamo-ts:1',
            ports: [
              { name: 'metrics', containerPort: 9085 },
              { name: 'http', containerPort: 9000 },
              { name: 'other', containerPort: 8000 },
            ],
          },
        },
      },
    } as DynamoComponentDeployment;
    const c = podSpec(desiredDeployment(withPorts, opts)).spec.containers[0];
    expect(c?.ports).toEqual([
      { name: 'http', containerPort: 8000, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9085 },
    ]);
  });

  it('gives a frontend port 8000, a Service, and an Ingress when it asks', () => {
    const [frontend, worker] = components(graph('dgd-kv-routed.yaml'));
    if (!frontend || !worker) throw new Error('missing components');
    const c = podSpec(desiredDeployment(frontend, opts)).spec.containers[0];
    expect(c?.ports).toEqual([{ name: 'http', containerPort: 8000, protocol: 'TCP' }]);
    expect(c?.env.find((e) => e.name === 'DYN_HTTP_PORT')?.value).toBe('8000');
    expect(desiredService(frontend).spec).toEqual({
      type: 'ClusterIP',
      selector: { 'nvidia.com/selector': 'kv-routed-frontend' },
      ports: [{ name: 'http', port: 8000, targetPort: 'http', protocol: 'TCP' }],
    });
    expect(desiredIngress(frontend)?.spec).toMatchObject({
      ingressClassName: 'nginx',
      rules: [{ host: 'llm.example.com' }],
    });
    expect(desiredIngress(worker)).toBeUndefined();
    const workerPod = podSpec(desiredDeployment(worker, opts));
    expect(workerPod.spec.containers[0]?.resources?.limits).toEqual({ 'nvidia.com/gpu': '1' });
    expect(workerPod.spec.containers[0]?.volumeMounts).toEqual([
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'kv-routed-models', mountPath: '/models' },
    ]);
    expect(workerPod.metadata.labels['nvidia.com/dynamo-base-model-hash']).toMatch(/^[0-9a-f]{16}$/);
  });

  it('uses the default image and default args when the component names none, and fails without either', () => {
    const dgd = dynamoGraphDeployment.parse({
      apiVersion: 'nvidia.com/v1alpha1',
      kind: 'DynamoGraphDeployment',
      metadata: { name: 'bare', namespace: 'ns', uid: 'u' },
      spec: {
        services: { Worker: { componentType: 'worker', envs: [{ name: 'DYN_COMPONENT', value: 'mine' }] } },
      },
    });
    const [dcd] = components(dgd);
    if (!dcd) throw new Error('no dcd');
    const c = podSpec(desiredDeployment(dcd, opts)).spec.containers[0];
    expect(c?.image).toBe('dynamo-ts:default');
    expect(c?.args).toEqual(['worker']);
    // The user's env wins over the injected one, without a duplicate.
    expect(c?.env.filter((e) => e.name === 'DYN_COMPONENT')).toEqual([
      { name: 'DYN_COMPONENT', value: 'mine' },
    ]);
    expect(() => desiredDeployment(dcd, {})).toThrow(InvalidComponentError);
  });

  describe('worker roles (disaggregated serving)', () => {
    const roles = components(
      dynamoGraphDeployment.parse({
        apiVersion: 'nvidia.com/v1alpha1',
        kind: 'DynamoGraphDeployment',
        metadata: { name: 'pd', namespace: 'ns', uid: 'u' },
        spec: {
          backendFramework: 'onnx',
          services: {
            Frontend: { componentType: 'frontend' },
            Planner: { componentType: 'planner' },
            Agg: { componentType: 'worker' },
            SubPrefill: { componentType: 'worker', subComponentType: 'prefill' },
            SubDecode: { componentType: 'worker', subComponentType: 'decode' },
            Prefill: { componentType: 'prefill' },
            Decode: { componentType: 'decode' },
            Odd: { componentType: 'worker', subComponentType: 'main' },
            Pinned: {
              componentType: 'worker',
              subComponentType: 'prefill',
              envs: [{ name: 'DYN_KV_DATA_PLANE_PORT', value: '7000' }],
            },
          },
        },
      }),
    );
    const byService = (service: string) => {
      const dcd = roles.find((d) => d.spec.serviceName === service);
      if (!dcd) throw new Error(`no ${service}`);
      const d = desiredDeployment(dcd, opts);
      const c = podSpec(d).spec.containers[0];
      return {
        env: Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom])),
        ports: (c?.ports ?? []).map((p) => p.name),
        containerPorts: c?.ports ?? [],
        labels: podSpec(d).metadata.labels,
        serviceLabels: desiredService(dcd).metadata.labels ?? {},
        servicePorts: (desiredService(dcd).spec as { ports: { name: string }[] }).ports.map((p) => p.name),
      };
    };
    const SUB = 'nvidia.com/dynamo-sub-component-type';

    it.each([
      ['Agg', 'agg', ['system', 'kv-data']],
      ['SubPrefill', 'prefill', ['system', 'kv-data']],
      ['Prefill', 'prefill', ['system', 'kv-data']],
      ['SubDecode', 'decode', ['system']],
      ['Decode', 'decode', ['system']],
      ['Odd', 'agg', ['system', 'kv-data']],
    ])('%s runs as %s, with POD_IP and the data plane port', (service, mode, ports) => {
      const w = byService(service);
      expect(w.env).toMatchObject({
        DYN_DISAGGREGATION_MODE: mode,
        POD_IP: { fieldRef: { fieldPath: 'status.podIP' } },
        DYN_KV_DATA_PLANE_PORT: '9999',
        DYN_ENGINE: 'onnx',
      });
      expect(w.ports).toEqual(ports);
      expect(w.labels[SUB]).toBe(mode === 'agg' ? undefined : mode);
      expect(w.serviceLabels[SUB]).toBe(mode === 'agg' ? undefined : mode);
      // Blocks are pulled at a pod's own IP: a Service never balances the data plane.
      expect(w.servicePorts).toEqual(['system']);
    });

    it('gives frontends and planners no role and no data plane', () => {
      for (const service of ['Frontend', 'Planner']) {
        const w = byService(service);
        expect(Object.keys(w.env)).not.toContain('DYN_DISAGGREGATION_MODE');
        expect(Object.keys(w.env)).not.toContain('POD_IP');
        expect(Object.keys(w.env)).not.toContain('DYN_KV_DATA_PLANE_PORT');
        expect(w.ports).not.toContain('kv-data');
        expect(w.labels[SUB]).toBeUndefined();
      }
    });

    it("lets the service's own env win over the injected one, and declares the port it names", () => {
      const w = byService('Pinned');
      expect(w.env).toMatchObject({ DYN_DISAGGREGATION_MODE: 'prefill', DYN_KV_DATA_PLANE_PORT: '7000' });
      expect(w.containerPorts).toContainEqual({ name: 'kv-data', containerPort: 7000, protocol: 'TCP' });
    });
  });

  it('merges env lists by name, later winning', () => {
    expect(
      mergeEnv(
        [
          { name: 'A', value: '1' },
          { name: 'B', value: '2' },
        ],
        undefined,
        [{ name: 'A', value: '3' }],
      ),
    ).toEqual([
      { name: 'A', value: '3' },
      { name: 'B', value: '2' },
    ]);
  });
});

describe('status', () => {
  it('keeps lastTransitionTime while a condition holds', () => {
    const first = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'A' }, 't1');
    const same = setCondition(first, { type: 'Ready', status: 'False', reason: 'B' }, 't2');
    expect(same[0]).toMatchObject({ reason: 'B', lastTransitionTime: 't1' });
    const flipped = setCondition(same, { type: 'Ready', status: 'True', reason: 'C' }, 't3');
    expect(flipped[0]?.lastTransitionTime).toBe('t3');
  });

  it('calls a Deployment ready when it has seen its generation and enough ready replicas', () => {
    const dep = (status: Record<string, number>, generation = 2): KubeObject => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd', generation },
      status,
    });
    expect(deploymentReady(undefined, 1).ready).toBe(false);
    expect(deploymentReady(dep({ observedGeneration: 2, readyReplicas: 2, updatedReplicas: 2 }), 2)).toEqual({
      ready: true,
      message: '2/2 replicas ready',
    });
    expect(
      deploymentReady(dep({ observedGeneration: 1, readyReplicas: 2, updatedReplicas: 2 }), 2).ready,
    ).toBe(false);
    expect(
      deploymentReady(dep({ observedGeneration: 2, readyReplicas: 1, updatedReplicas: 2 }), 2).ready,
    ).toBe(false);
  });
});
