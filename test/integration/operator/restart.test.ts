// Crashes: an operator killed in the middle of reconciling many graphs, and a new one started, converge
// to exactly the children the graphs ask for (deterministic names + server-side apply: no duplicates);
// and an operator whose API server restarts keeps watching (list again, watch again) and reconciling.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, RT } from '../../../src/operator/kube/types.js';
import { DCD_RT, DGD_RT } from '../../../src/operator/reconcilers/resource-types.js';
import { KubeApiServer } from '../../harness/kube-apiserver.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { dgd } from '../../unit/operator/manifests.js';
import { baseConfig, eventually, kube, newNamespace, operatorProcess, startOperator } from './helpers.js';

const GRAPHS = 20;

const graph = (ns: string, name: string): KubeObject => ({
  ...(dgd(name, {
    services: { Frontend: { componentType: 'frontend' }, Worker: { componentType: 'worker', replicas: 3 } },
  }) as KubeObject),
  metadata: { name, namespace: ns },
});

describe('operator restarted mid-reconcile', () => {
  let client: KubeClient;
  let ns: string;
  let dir: string;
  beforeAll(async () => {
    client = kube();
    ns = await newNamespace(client, 'op-restart');
    dir = await harnessTempDir('operator-restart');
  });
  afterAll(() => client?.close());

  it('converges without duplicates', async () => {
    const args = [
      '--namespace',
      ns,
      '--watch-namespace',
      ns,
      '--install-crds',
      '--no-webhooks',
      '--no-leader-elect',
    ];
    const first = await operatorProcess('operator-1', dir, [
      ...args,
      '--workers',
      '1',
      '--default-image',
      'dynamo-ts:test',
    ]);
    await Promise.all(Array.from({ length: GRAPHS }, (_, i) => client.create(DGD_RT, graph(ns, `g${i}`))));
    // Kill it as soon as it has made something, long before it can have made everything.
    await eventually(
      'first children',
      async () => (await client.list(DCD_RT, { namespace: ns })).items.length > 0,
    );
    await first.proc.kill();
    const partial = (await client.list(RT.deployment, { namespace: ns })).items.length;
    expect(partial).toBeLessThan(GRAPHS * 2);

    const second = await operatorProcess('operator-2', dir, [...args, '--default-image', 'dynamo-ts:test']);
    try {
      await eventually(
        'every Deployment',
        async () => (await client.list(RT.deployment, { namespace: ns })).items.length === GRAPHS * 2,
        60_000,
      );
      await eventually('every graph with a status', async () => {
        const graphs = (await client.list(DGD_RT, { namespace: ns })).items;
        return graphs.every((g) => (g.status as { state?: string } | undefined)?.state === 'pending');
      });
      const dcds = (await client.list(DCD_RT, { namespace: ns })).items;
      const deployments = (await client.list(RT.deployment, { namespace: ns })).items;
      const services = (await client.list(RT.service, { namespace: ns })).items;
      expect(dcds).toHaveLength(GRAPHS * 2);
      expect(services).toHaveLength(GRAPHS * 2);
      for (let i = 0; i < GRAPHS; i++) {
        expect(
          dcds
            .filter((d) => d.metadata.labels?.['nvidia.com/dynamo-graph-deployment-name'] === `g${i}`)
            .map((d) => d.metadata.name)
            .sort(),
        ).toEqual([`g${i}-frontend`, `g${i}-worker`]);
      }
      for (const d of [...dcds, ...deployments]) {
        expect(d.metadata.ownerReferences).toHaveLength(1);
        expect(new Set(d.metadata.finalizers ?? []).size).toBe((d.metadata.finalizers ?? []).length);
      }
      for (const d of deployments)
        expect((d.spec as { replicas: number }).replicas).toBe(d.metadata.name.endsWith('-worker') ? 3 : 1);
    } finally {
      await second.proc.stop();
    }
  }, 180_000);
});

describe('operator whose API server restarts', () => {
  let api: KubeApiServer;
  let client: KubeClient;
  let operator: { stop: () => Promise<void> };
  let ns: string;

  beforeAll(async () => {
    const dir = await harnessTempDir('operator-apiserver-restart');
    api = new KubeApiServer({ dir: join(dir, 'kube-apiserver'), etcdEndpoint: inject('etcdEndpoint') });
    await api.start();
    client = kube({ kubeconfig: api.kubeconfigPath });
    ns = await newNamespace(client, 'op-apirestart');
    operator = startOperator(baseConfig(ns, { kubeconfig: api.kubeconfigPath }), join(dir, 'operator.log'));
  }, 180_000);

  afterAll(async () => {
    await operator?.stop();
    client?.close();
    await api?.stop();
  });

  it('keeps reconciling after the API server comes back', async () => {
    await eventually('CRDs', () => client.get(RT.crd, undefined, 'dynamographdeployments.nvidia.com'));
    await eventually('first graph accepted', () => client.create(DGD_RT, graph(ns, 'before')));
    await eventually('first graph reconciled', () => client.get(RT.deployment, ns, 'before-worker'));

    await api.kill();
    await api.start();

    await client.create(DGD_RT, graph(ns, 'after'));
    await eventually('second graph reconciled', () => client.get(RT.deployment, ns, 'after-worker'), 60_000);
    await client.delete(DGD_RT, ns, 'before');
    await eventually(
      'first graph cleaned up',
      async () => (await client.get(DGD_RT, ns, 'before')) === undefined,
      60_000,
    );
    expect(await client.get(RT.deployment, ns, 'before-worker')).toBeUndefined();
  }, 180_000);
});
