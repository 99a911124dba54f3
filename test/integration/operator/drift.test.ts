// Drift repair without write storms, on the harness's real API server. The operator talks through a
// recording proxy (api-proxy.ts), so every request it makes is counted. The example graphs, plus one
// whose quantities the API server rewrites into canonical form, are reconciled to steady state; then
// full resyncs (every second) must make no write at all. A `kubectl edit` of a child Deployment's
// image, env and resources is applied back, and the steady state after it is again write-free.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, RT } from '../../../src/operator/kube/types.js';
import { DGD_RT } from '../../../src/operator/reconcilers/resource-types.js';
import { freePort } from '../../harness/process.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { dgd, example } from '../../unit/operator/manifests.js';
import { ApiProxy } from './api-proxy.js';
import {
  baseConfig,
  deleteWebhookConfigurations,
  eventually,
  inNamespace,
  kube,
  metric,
  newNamespace,
  startOperator,
} from './helpers.js';

let client: KubeClient;
let ns: string;
let proxy: ApiProxy;
let metricsPort: number;
let operator: { stop: () => Promise<void> };

interface Container {
  name: string;
  image: string;
  env?: { name: string; value?: string }[];
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
}
const container = (d: KubeObject | undefined): Container => {
  if (!d) throw new Error('no Deployment');
  const c = (d.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0];
  if (!c) throw new Error('no container');
  return c;
};

const GRAPHS = ['dgd-agg.yaml', 'dgd-disagg.yaml', 'dgd-kv-routed.yaml', 'dgd-planner.yaml'];
// Written in forms the API server stores differently (`1000m` → `1`, `1024Mi` → `1Gi`).
const quantities = dgd('quantities', {
  services: {
    Frontend: { componentType: 'frontend' },
    Worker: {
      componentType: 'worker',
      envs: [{ name: 'MODE', value: 'fast' }],
      resources: { requests: { cpu: '1000m', memory: '1024Mi' }, limits: { cpu: '2', memory: '2Gi' } },
    },
  },
});

/** What a controller-manager would write: every Deployment's pods are up for its current generation. */
async function markAllReady(): Promise<void> {
  for (const d of (await client.list(RT.deployment, { namespace: ns })).items) {
    const replicas = (d.spec as { replicas?: number }).replicas ?? 1;
    const st = d.status as { observedGeneration?: number } | undefined;
    if (st?.observedGeneration === d.metadata.generation) continue;
    await client.mergePatch(
      RT.deployment,
      ns,
      d.metadata.name,
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
}

async function allSuccessful(): Promise<boolean> {
  await markAllReady();
  const graphs = (await client.list(DGD_RT, { namespace: ns })).items;
  return (
    graphs.length === GRAPHS.length + 1 &&
    graphs.every((g) => (g.status as { state?: string } | undefined)?.state === 'successful')
  );
}

const reconciles = () => metric(metricsPort, 'dynamo_operator_reconcile_total');

/** Writes the operator makes while it reconciles everything `rounds` more times (resyncs, every second). */
async function writesOver(rounds: number): Promise<string[]> {
  const keys = (await client.list(DGD_RT, { namespace: ns })).items.length * 3;
  const from = proxy.writes().length;
  const start = await reconciles();
  await eventually('resyncs', async () => (await reconciles()) >= start + rounds * keys, 60_000);
  return proxy
    .writes()
    .slice(from)
    .map((r) => `${r.method} ${r.path}`);
}

// With the webhooks on, the defaulter rewrites the DCDs' spec: what it adds must not read as drift.
describe.each([{ webhooks: false }, { webhooks: true }])('drift (webhooks: $webhooks)', ({ webhooks }) => {
  beforeAll(async () => {
    client = kube();
    ns = await newNamespace(client, 'op-drift');
    const dir = await harnessTempDir('operator-drift');
    proxy = await ApiProxy.start(inject('kubeconfig'));
    metricsPort = await freePort();
    const config = baseConfig(ns, {
      kubeconfig: await proxy.writeKubeconfig(join(dir, 'operator.kubeconfig')),
      metricsPort,
      resyncMs: 1_000,
      ...(webhooks ? { webhooks, localWebhooks: true, webhookPort: await freePort() } : {}),
    });
    operator = startOperator(config, join(dir, 'operator.log'));
  });

  afterAll(async () => {
    if (webhooks) await deleteWebhookConfigurations(client, `dynamo-test-${ns}`);
    await operator?.stop();
    await proxy?.close();
    client?.close();
  });

  it('makes no write at steady state, and applies back an edited Deployment', async () => {
    await eventually('CRDs installed', () =>
      client.get(RT.crd, undefined, 'dynamographdeployments.nvidia.com'),
    );
    if (webhooks) {
      // Admission answers (a denial through the API server proves the round trip).
      let probes = 0;
      await eventually('webhook serving', async () => {
        const name = `probe-${++probes}`;
        const bad = { ...(dgd(name, { services: {} }) as KubeObject), metadata: { name, namespace: ns } };
        return client.create(DGD_RT, bad).then(
          // Admitted before the webhooks were registered: gone again, so steady state is not about it.
          () => client.delete(DGD_RT, ns, name).then(() => false),
          (err: Error) => err.message.includes('at least one service'),
        );
      });
    }
    for (const file of GRAPHS) {
      for (const doc of example(file).filter((d) => d.kind === 'DynamoGraphDeployment')) {
        await eventually(`${file} created`, () => client.create(DGD_RT, inNamespace(ns, doc)));
      }
    }
    await client.create(DGD_RT, {
      ...(quantities as KubeObject),
      metadata: { name: 'quantities', namespace: ns },
    });
    await eventually('every graph successful', allSuccessful, 60_000);
    // Trailing writes of the way there (last status patches) land in the first window.
    await writesOver(1);
    expect(await writesOver(3)).toEqual([]);

    // `kubectl edit`: another field manager changes what the operator owns.
    const name = 'quantities-worker';
    const before = container(await client.get(RT.deployment, ns, name));
    expect(before.resources?.requests).toEqual({ cpu: '1', memory: '1Gi' }); // stored canonical
    const edited = structuredClone(before);
    edited.image = 'someone-else:latest';
    edited.env = (edited.env ?? []).map((e) => (e.name === 'MODE' ? { ...e, value: 'slow' } : e));
    edited.resources = { ...edited.resources, limits: { cpu: '8', memory: '16Gi' } };
    await client.mergePatch(RT.deployment, ns, name, {
      spec: { template: { spec: { containers: [edited] } } },
    });
    const restored = await eventually('edit applied back', async () => {
      const c = container(await client.get(RT.deployment, ns, name));
      return c.image === before.image ? c : undefined;
    });
    expect(restored.env).toEqual(before.env);
    expect(restored.resources).toEqual(before.resources);

    await eventually('successful again', allSuccessful, 60_000);
    await writesOver(1);
    expect(await writesOver(3)).toEqual([]);
  }, 180_000);
});
