// A graph with an `componentType: epp` service through the operator on a real API server (issue 22): the
// endpoint picker's Deployment (`dynamo epp`, its pool in the env, its ports and account), its Service
// (gRPC, appProtocol http2), its ServiceAccount + Role + RoleBinding, and the InferencePool over the
// graph's frontends (which trust the picker's worker hint) — with the Inference Extension's CRD
// (vendored, as the chart installs it) applied.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, RT } from '../../../src/operator/kube/types.js';
import { DGD_RT, INFERENCE_POOL_RT } from '../../../src/operator/reconcilers/resource-types.js';
import { REPO_ROOT } from '../../harness/kube-apiserver.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { dgd } from '../../unit/operator/manifests.js';
import { baseConfig, eventually, inNamespace, kube, newNamespace, startOperator } from './helpers.js';

const CRD_FILE = join(
  REPO_ROOT,
  'charts/dynamo-platform/files/inference.networking.k8s.io_inferencepools.yaml',
);

let client: KubeClient;
let ns: string;
let operator: { stop: () => Promise<void> };

beforeAll(async () => {
  client = kube();
  const crd = load(readFileSync(CRD_FILE, 'utf8')) as KubeObject;
  await client.apply(RT.crd, crd);
  ns = await newNamespace(client, 'op-epp');
  operator = startOperator(baseConfig(ns), join(await harnessTempDir('operator-epp'), 'operator.log'));
});

afterAll(async () => {
  await operator?.stop();
  client?.close();
});

describe('componentType: epp', () => {
  it('deploys the endpoint picker with its Service, account and rights, and the InferencePool', async () => {
    const image = { extraPodSpec: { mainContainer: { image: 'dynamo-ts:test' } } };
    const graph = dgd('gw', {
      services: {
        Epp: { componentType: 'epp', ...image },
        Frontend: { componentType: 'frontend', ...image },
        Worker: { componentType: 'worker', backendFramework: 'mocker', ...image },
      },
    });
    await eventually('CRDs installed', () =>
      client.get(RT.crd, undefined, 'dynamographdeployments.nvidia.com'),
    );
    await eventually('DGD created', () => client.create(DGD_RT, inNamespace(ns, graph)));

    const pool = await eventually('the InferencePool', () => client.get(INFERENCE_POOL_RT, ns, 'gw-epp'));
    expect(pool.spec).toEqual({
      selector: {
        matchLabels: {
          'nvidia.com/dynamo-graph-deployment-name': 'gw',
          'nvidia.com/dynamo-component-type': 'frontend',
        },
      },
      targetPorts: [{ number: 8000 }],
      endpointPickerRef: {
        group: '',
        kind: 'Service',
        name: 'gw-epp',
        port: { number: 9002 },
        failureMode: 'FailClose',
      },
    });
    expect(pool.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'DynamoGraphDeployment', name: 'gw' });

    const deployment = await eventually('the epp Deployment', () => client.get(RT.deployment, ns, 'gw-epp'));
    const pod = (deployment.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    expect(pod).toMatchObject({ serviceAccountName: 'gw-epp', automountServiceAccountToken: true });
    const [main] = pod.containers as {
      args?: string[];
      env?: { name: string; value?: string }[];
      ports?: { name: string; containerPort: number }[];
      readinessProbe?: { httpGet?: { port: string } };
    }[];
    expect(main?.args).toEqual(['epp']);
    expect(main?.env?.find((e) => e.name === 'DYN_EPP_POOL_NAME')?.value).toBe('gw-epp');
    expect(main?.env?.some((e) => e.name === 'DYN_ENGINE')).toBe(false);
    expect(main?.ports?.map((p) => [p.name, p.containerPort])).toEqual([
      ['grpc', 9002],
      ['grpc-health', 9003],
      ['metrics', 9090],
    ]);
    expect(main?.readinessProbe?.httpGet?.port).toBe('metrics');

    const service = await eventually('the epp Service', () => client.get(RT.service, ns, 'gw-epp'));
    expect((service.spec as { ports: unknown[] }).ports).toEqual([
      expect.objectContaining({ name: 'grpc', port: 9002, appProtocol: 'http2' }),
    ]);
    const role = await eventually('the epp Role', () => client.get(RT.role, ns, 'gw-epp'));
    expect(role.rules).toEqual([
      {
        apiGroups: ['inference.networking.k8s.io'],
        resources: ['inferencepools'],
        verbs: ['get', 'list', 'watch'],
      },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
    ]);
    const binding = await eventually('the epp RoleBinding', () => client.get(RT.roleBinding, ns, 'gw-epp'));
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'gw-epp', namespace: ns }]);
    // The other services keep no token.
    const frontend = await eventually('the frontend', () => client.get(RT.deployment, ns, 'gw-frontend'));
    const frontendPod = (frontend.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    expect(frontendPod).toMatchObject({ automountServiceAccountToken: false });
    // Behind the pool, the frontends route to the worker the picker hints; the pool's port is theirs.
    const [frontendMain] = frontendPod.containers as {
      env?: { name: string; value?: string }[];
      ports?: { name: string; containerPort: number }[];
    }[];
    expect(frontendMain?.env?.find((e) => e.name === 'DYN_TRUST_WORKER_HINT')?.value).toBe('true');
    expect(frontendMain?.ports?.find((p) => p.containerPort === 8000)?.name).toBe('http');
    // The pool selects the frontend's pods: its pod template carries the selector's labels.
    const labels = (frontend.spec as { template: { metadata: { labels: Record<string, string> } } }).template
      .metadata.labels;
    expect(labels).toMatchObject((pool.spec as { selector: { matchLabels: object } }).selector.matchLabels);
    const worker = await eventually('the worker', () => client.get(RT.deployment, ns, 'gw-worker'));
    const workerMain = (worker.spec as { template: { spec: { containers: { env?: { name: string }[] }[] } } })
      .template.spec.containers[0];
    expect(workerMain?.env?.some((e) => e.name === 'DYN_TRUST_WORKER_HINT')).toBe(false);
  });
});
