// The planner's Kubernetes connector against the harness's real kube-apiserver and an operator run in
// this process, authenticated as the planner's own ServiceAccount (a token from the TokenRequest API):
// scaling through the adapter's scale subresource, the fallback to the graph without an adapter, the
// errors the planner must be able to act on. No kubelet or controller-manager runs: Deployment status
// is written by the test, as a controller-manager would.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, RT } from '../../../src/operator/kube/types.js';
import { ADAPTER_RT, DGD_RT } from '../../../src/operator/reconcilers/resource-types.js';
import { ConnectorError, type PlannerConnector } from '../../../src/planner/connector.js';
import { createKubeConnector } from '../../../src/planner/kube-connector.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { freePort } from '../../harness/process.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { baseConfig, eventually, kube, newNamespace, startOperator } from '../operator/helpers.js';

const log = createLogger({ level: 'silent' });
let admin: KubeClient;
let ns: string;
let dir: string;
let operator: { stop: () => Promise<void> };
let plannerKubeconfig: string;
const connectors: PlannerConnector[] = [];

const GRAPH = {
  apiVersion: 'nvidia.com/v1alpha1',
  kind: 'DynamoGraphDeployment',
  metadata: { name: 'pg' },
  spec: {
    backendFramework: 'mocker',
    services: {
      Frontend: { componentType: 'frontend' },
      Planner: { componentType: 'planner' },
      Prefill: {
        componentType: 'worker',
        subComponentType: 'prefill',
        scalingAdapter: { enabled: true },
        resources: { limits: { gpu: '2' } },
      },
      // No adapter: the connector falls back to the graph's replicas.
      Decode: { componentType: 'worker', subComponentType: 'decode', replicas: 2 },
    },
  },
};

/** A kubeconfig whose only credential is a fresh token of `serviceAccount` (TokenRequest API). */
async function tokenKubeconfig(namespace: string, serviceAccount: string, file: string): Promise<string> {
  const review = await admin.request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      },
    },
  );
  const base = JSON.parse(await readFile(inject('kubeconfig'), 'utf8')) as {
    clusters: { name: string }[];
  };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: base.clusters,
    users: [{ name: serviceAccount, user: { token: review.status.token } }],
    contexts: [{ name: 'sa', context: { cluster: base.clusters[0]?.name, user: serviceAccount, namespace } }],
    'current-context': 'sa',
  };
  await writeFile(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

async function connector(graph: string, kubeconfig = plannerKubeconfig): Promise<PlannerConnector> {
  const c = await createKubeConnector({ graph, namespace: ns, kubeconfig, log });
  connectors.push(c);
  return c;
}

/** What a controller-manager would write once the pods run. */
async function markDeploymentReady(name: string): Promise<void> {
  const d = await admin.get(RT.deployment, ns, name);
  if (!d) throw new Error(`no deployment ${name}`);
  const replicas = (d.spec as { replicas: number }).replicas;
  await admin.mergePatch(
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

const servicesOf = async (graph: string) =>
  (
    (await admin.get(DGD_RT, ns, graph))?.spec as
      | { services?: Record<string, { replicas?: number }> }
      | undefined
  )?.services ?? {};

const deploymentReplicas = async (name: string) =>
  ((await admin.get(RT.deployment, ns, name))?.spec as { replicas?: number } | undefined)?.replicas;

beforeAll(async () => {
  admin = kube();
  ns = await newNamespace(admin, 'planner-conn');
  dir = await harnessTempDir('planner-kube-connector');
  operator = startOperator(baseConfig(ns), join(dir, 'operator.log'));
  await eventually('CRDs installed', () =>
    admin.get(RT.crd, undefined, 'dynamographdeploymentscalingadapters.nvidia.com'),
  );
  await eventually('DGD created', () =>
    admin.create(DGD_RT, {
      ...structuredClone(GRAPH),
      metadata: { name: 'pg', namespace: ns },
    } as KubeObject),
  );
  await eventually(
    'planner ServiceAccount and binding',
    async () =>
      (await admin.get(RT.serviceAccount, ns, 'pg-planner')) && admin.get(RT.roleBinding, ns, 'pg-planner'),
  );
  await eventually('adapter', () => admin.get(ADAPTER_RT, ns, 'pg-prefill'));
  plannerKubeconfig = await tokenKubeconfig(ns, 'pg-planner', join(dir, 'planner.kubeconfig'));
});

afterAll(async () => {
  for (const c of connectors) await c.close();
  await operator?.stop();
  admin?.close();
});

describe('the planner Kubernetes connector, as the planner ServiceAccount', () => {
  it('reads replicas (adapter, else graph), readiness from the graph status and GPUs per replica', async () => {
    const c = await connector('pg');
    expect(await c.services(['Prefill', 'Decode'])).toEqual([
      { name: 'Prefill', replicas: 1, readyReplicas: 0, gpusPerReplica: 2 },
      { name: 'Decode', replicas: 2, readyReplicas: 0, gpusPerReplica: 1 },
    ]);
    await eventually('Deployments', async () => (await deploymentReplicas('pg-decode')) === 2);
    await markDeploymentReady('pg-prefill');
    await markDeploymentReady('pg-decode');
    await eventually(
      'ready replicas reach the graph status',
      async () => {
        const s = await c.services(['Prefill', 'Decode']);
        return s.every((x) => x.readyReplicas === x.replicas);
      },
      20_000,
    );
  });

  it('scales through the adapter scale subresource; the operator then changes the Deployment', async () => {
    const c = await connector('pg');
    await c.scale('Prefill', 3);
    const scale = await admin.request<{ spec: { replicas: number } }>(
      'GET',
      `/apis/nvidia.com/v1alpha1/namespaces/${ns}/dynamographdeploymentscalingadapters/pg-prefill/scale`,
    );
    expect(scale.spec.replicas).toBe(3);
    await eventually(
      'Deployment scaled by the operator',
      async () => (await deploymentReplicas('pg-prefill')) === 3,
    );
    // Desired 3, not ready yet: the planner waits.
    const [before] = await c.services(['Prefill']);
    expect(before?.replicas).toBe(3);
    expect(before?.readyReplicas).toBeLessThan(3);
    await markDeploymentReady('pg-prefill');
    await eventually(
      'ready at 3',
      async () => (await c.services(['Prefill']))[0]?.readyReplicas === 3,
      20_000,
    );
  });

  it('merge-patches the graph when the service has no adapter (404 on its scale)', async () => {
    const c = await connector('pg');
    await c.scale('Decode', 4);
    expect((await servicesOf('pg')).Decode?.replicas).toBe(4);
    expect((await c.services(['Decode']))[0]?.replicas).toBe(4);
    await eventually(
      'Deployment scaled by the operator',
      async () => (await deploymentReplicas('pg-decode')) === 4,
    );
    await c.scale('Decode', 0); // scale to zero is a replica count like any other
    await eventually('Deployment at zero', async () => (await deploymentReplicas('pg-decode')) === 0);
  });

  it('names a service the graph lacks, in services() and scale(), and patches nothing', async () => {
    const c = await connector('pg');
    const err = await c.services(['Prefill', 'Nope']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectorError);
    expect((err as Error).message).toMatch(new RegExp(`${ns}/pg has no service "Nope"`));
    await expect(c.scale('Nope', 2)).rejects.toThrow(/has no service "Nope"/);
    expect(Object.keys(await servicesOf('pg'))).not.toContain('Nope');
  });

  it('reports a missing graph, a forbidden one and an unreachable API server as ConnectorErrors', async () => {
    // As admin: the graph is simply not there.
    const missing = await connector('no-such-graph', inject('kubeconfig'));
    await expect(missing.services(['Prefill'])).rejects.toThrow(/no-such-graph not found/);
    // As pg's planner: another graph is not its to read or scale.
    await admin.create(DGD_RT, {
      ...structuredClone(GRAPH),
      metadata: { name: 'other', namespace: ns },
    } as KubeObject);
    const other = await connector('other');
    const forbidden = await other.services(['Prefill']).catch((e: unknown) => e);
    expect(forbidden).toBeInstanceOf(ConnectorError);
    expect((forbidden as Error).message).toMatch(/forbidden \(HTTP 403\)/);
    await expect(other.scale('Prefill', 5)).rejects.toThrow(/forbidden/);
    // Nothing listens there.
    const port = await freePort();
    const file = join(dir, 'unreachable.kubeconfig');
    const cfg = JSON.parse(await readFile(plannerKubeconfig, 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    for (const cl of cfg.clusters) cl.cluster.server = `https://127.0.0.1:${port}`;
    await writeFile(file, JSON.stringify(cfg));
    const down = await connector('pg', file);
    const unreachable = await down.scale('Prefill', 2).catch((e: unknown) => e);
    expect(unreachable).toBeInstanceOf(ConnectorError);
    expect((unreachable as Error).message).toMatch(/unreachable \(ECONNREFUSED\)/);
  });
});
