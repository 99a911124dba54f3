// The secret an epp service shares with its graph's frontends (issue 22 follow-up), through the operator
// on a real API server: one Secret per graph with an epp service (32 random bytes, hex), owned by the
// graph; mounted into the picker's and the frontends' pods with DYN_WORKER_HINT_SECRET_FILE; created once
// and kept as it is across reconciles and an operator restart; none for a graph without an epp service.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, RT } from '../../../src/operator/kube/types.js';
import { DGD_RT } from '../../../src/operator/reconcilers/resource-types.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { dgd } from '../../unit/operator/manifests.js';
import { baseConfig, eventually, inNamespace, kube, newNamespace, startOperator } from './helpers.js';

interface Container {
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string; defaultMode?: number } }[];
}
const podOf = (d: KubeObject): PodSpec => (d.spec as { template: { spec: PodSpec } }).template.spec;

let client: KubeClient;
let ns: string;
let dir: string;
let operator: { stop: () => Promise<void> } | undefined;

beforeAll(async () => {
  client = kube();
  ns = await newNamespace(client, 'op-hint-secret');
  dir = await harnessTempDir('operator-hint-secret');
  operator = startOperator(baseConfig(ns), join(dir, 'operator.log'));
});

afterAll(async () => {
  await operator?.stop();
  client?.close();
});

/** Changes the worker's replicas and waits until its Deployment shows it: a whole reconcile ran. */
async function reconcileWith(replicas: number): Promise<void> {
  await client.mergePatch(DGD_RT, ns, 'hs', { spec: { services: { Worker: { replicas } } } });
  await eventually(`the worker Deployment at ${replicas} replicas`, async () => {
    const d = await client.get(RT.deployment, ns, 'hs-worker');
    return (d?.spec as { replicas?: number } | undefined)?.replicas === replicas;
  });
}

describe('the worker-hint Secret of a graph with an epp service', () => {
  it('is created once, owned by the graph, mounted in the picker and the frontends, and kept', async () => {
    const image = { extraPodSpec: { mainContainer: { image: 'dynamo-ts:test' } } };
    await eventually('CRDs installed', () =>
      client.get(RT.crd, undefined, 'dynamographdeployments.nvidia.com'),
    );
    await eventually('DGD created', () =>
      client.create(
        DGD_RT,
        inNamespace(
          ns,
          dgd('hs', {
            services: {
              Epp: { componentType: 'epp', ...image },
              Frontend: { componentType: 'frontend', ...image },
              Worker: { componentType: 'worker', backendFramework: 'mocker', replicas: 1, ...image },
            },
          }),
        ),
      ),
    );
    const secret = await eventually('the Secret', () => client.get(RT.secret, ns, 'hs-worker-hint'));
    const token = Buffer.from((secret.data as { token: string }).token, 'base64').toString();
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    const graph = await client.get(DGD_RT, ns, 'hs');
    expect(secret.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'DynamoGraphDeployment', name: 'hs', uid: graph?.metadata.uid }),
    ]);

    const mounted = {
      volume: { name: 'dynamo-worker-hint', secret: { secretName: 'hs-worker-hint', defaultMode: 0o440 } },
      mount: { name: 'dynamo-worker-hint', mountPath: '/etc/dynamo/worker-hint', readOnly: true },
      env: { name: 'DYN_WORKER_HINT_SECRET_FILE', value: '/etc/dynamo/worker-hint/token' },
    };
    for (const name of ['hs-epp', 'hs-frontend']) {
      const pod = podOf(await eventually(name, () => client.get(RT.deployment, ns, name)));
      expect(pod.volumes).toContainEqual(mounted.volume);
      expect(pod.containers[0]?.volumeMounts).toContainEqual(mounted.mount);
      expect(pod.containers[0]?.env).toContainEqual(mounted.env);
    }
    const frontend = podOf((await client.get(RT.deployment, ns, 'hs-frontend')) as KubeObject);
    expect(frontend.containers[0]?.env).toContainEqual({ name: 'DYN_TRUST_WORKER_HINT', value: 'true' });
    const worker = podOf(await eventually('hs-worker', () => client.get(RT.deployment, ns, 'hs-worker')));
    expect(worker.volumes?.some((v) => v.name === 'dynamo-worker-hint')).toBe(false);
    expect(worker.containers[0]?.env?.some((e) => e.name === 'DYN_WORKER_HINT_SECRET_FILE')).toBe(false);

    // Reconciles, then a new operator process (which remembers nothing), leave it as it is.
    await reconcileWith(2);
    await operator?.stop();
    operator = startOperator(baseConfig(ns), join(dir, 'operator-2.log'));
    await reconcileWith(3);
    const after = await client.get(RT.secret, ns, 'hs-worker-hint');
    expect(after?.data).toEqual(secret.data);
    expect(after?.metadata.resourceVersion).toBe(secret.metadata.resourceVersion);
  });

  it('is not made for a graph without an epp service', async () => {
    await client.create(
      DGD_RT,
      inNamespace(
        ns,
        dgd('plain', {
          services: {
            Frontend: { componentType: 'frontend', extraPodSpec: { mainContainer: { image: 'x' } } },
          },
        }),
      ),
    );
    const frontend = podOf(
      await eventually('plain-frontend', () => client.get(RT.deployment, ns, 'plain-frontend')),
    );
    expect(frontend.volumes?.some((v) => v.name === 'dynamo-worker-hint')).toBe(false);
    expect(frontend.containers[0]?.env?.some((e) => e.name === 'DYN_TRUST_WORKER_HINT')).toBe(false);
    expect(await client.get(RT.secret, ns, 'plain-worker-hint')).toBeUndefined();
  });
});
