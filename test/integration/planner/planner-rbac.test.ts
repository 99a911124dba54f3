// A planner's ServiceAccount and rights, on the harness's real kube-apiserver (RBAC authorization on, as
// a cluster has it). The operator runs with the chart's ClusterRole as its only rights (bound in the
// test's namespace, as `operator.watchNamespace` binds it), so the API server's escalation check proves
// the chart holds everything the operator grants a planner. The planner's account is then exercised by
// impersonation: it may scale its own graph and nothing else.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadAllYaml } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { installCrds } from '../../../src/operator/crds.js';
import { KubeClient as Client, type KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, type ResourceType, RT } from '../../../src/operator/kube/types.js';
import { ADAPTER_RT, DGD_RT } from '../../../src/operator/reconcilers/resource-types.js';
import { kubeTool, REPO_ROOT } from '../../harness/kube-apiserver.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { baseConfig, eventually, kube, newNamespace, startOperator } from '../operator/helpers.js';

const exec = promisify(execFile);
const CLUSTER_ROLE: ResourceType = {
  group: 'rbac.authorization.k8s.io',
  version: 'v1',
  plural: 'clusterroles',
  kind: 'ClusterRole',
  namespaced: false,
};
const CLUSTER_ROLE_BINDING: ResourceType = {
  ...CLUSTER_ROLE,
  plural: 'clusterrolebindings',
  kind: 'ClusterRoleBinding',
};

let admin: KubeClient;
let planner: KubeClient;
let ns: string;
let dir: string;
let clusterRole: string;
let clusterRoles: KubeObject[] = [];
let operator: { stop: () => Promise<void> } | undefined;

const graph = (name: string, services: Record<string, unknown>): KubeObject => ({
  apiVersion: 'nvidia.com/v1alpha1',
  kind: 'DynamoGraphDeployment',
  metadata: { name, namespace: ns },
  spec: { backendFramework: 'mocker', services },
});

/**
 * The chart's operator ClusterRoles, rendered by Helm under a release name of this test's own: `<op>`
 * (workloads, bound here in the test's namespace as with operator.watchNamespace) and `<op>-cluster`
 * (its own namespace by name; no webhooks here).
 */
async function chartClusterRoles(release: string): Promise<KubeObject[]> {
  const helmHome = await harnessTempDir('planner-rbac-helm');
  const { stdout } = await exec(
    kubeTool('helm'),
    [
      'template',
      release,
      join(REPO_ROOT, 'charts/dynamo-platform'),
      `--namespace=${ns}`,
      '--show-only=templates/rbac.yaml',
    ],
    {
      env: {
        ...process.env,
        HELM_CACHE_HOME: join(helmHome, 'cache'),
        HELM_CONFIG_HOME: join(helmHome, 'config'),
        HELM_DATA_HOME: join(helmHome, 'data'),
      },
    },
  );
  const objs = (loadAllYaml(stdout) as (KubeObject | null)[]).filter((o) => o !== null);
  const roles = objs.filter((o) => o.kind === 'ClusterRole');
  expect(roles.map((o) => o.metadata.name).sort()).toEqual([
    `${release}-dynamo-platform-operator`,
    `${release}-dynamo-platform-operator-cluster`,
  ]);
  return roles;
}

/** A kubeconfig whose only credential is a token of `serviceAccount` (TokenRequest API). */
async function tokenKubeconfig(serviceAccount: string, file: string): Promise<string> {
  const review = await admin.request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${ns}/serviceaccounts/${serviceAccount}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      },
    },
  );
  const base = JSON.parse(await readFile(inject('kubeconfig'), 'utf8')) as { clusters: { name: string }[] };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: base.clusters,
    users: [{ name: serviceAccount, user: { token: review.status.token } }],
    contexts: [
      { name: 'sa', context: { cluster: base.clusters[0]?.name, user: serviceAccount, namespace: ns } },
    ],
    'current-context': 'sa',
  };
  await writeFile(file, JSON.stringify(config), { mode: 0o600 });
  return file;
}

/** The HTTP status of a request (2xx as 200), so allowed and forbidden read alike. */
async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    return (err as { status?: number }).status ?? -1;
  }
}

const scalePath = (name: string) => Client.path(ADAPTER_RT, ns, name, 'scale');

beforeAll(async () => {
  admin = kube();
  ns = await newNamespace(admin, 'planner-rbac');
  dir = await harnessTempDir('planner-rbac');
  await installCrds(admin);
  // The operator: a ServiceAccount holding the chart's ClusterRole in this namespace, nothing else.
  const release = `prbac-${randomBytes(3).toString('hex')}`;
  clusterRoles = await chartClusterRoles(release);
  clusterRole = `${release}-dynamo-platform-operator`;
  for (const role of clusterRoles) await admin.create(CLUSTER_ROLE, role);
  await admin.create(CLUSTER_ROLE_BINDING, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: `${clusterRole}-cluster` },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${clusterRole}-cluster` },
    subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: ns }],
  });
  await admin.create(RT.serviceAccount, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'operator', namespace: ns },
  });
  await admin.create(RT.roleBinding, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'operator', namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
    subjects: [{ kind: 'ServiceAccount', name: 'operator', namespace: ns }],
  });
  const kubeconfig = await tokenKubeconfig('operator', join(dir, 'operator.kubeconfig'));
  operator = startOperator(
    baseConfig(ns, { kubeconfig, installCrds: false, prometheusEndpoint: 'http://prometheus.test:9090' }),
    join(dir, 'operator.log'),
  );
  planner = kube({
    impersonate: {
      user: `system:serviceaccount:${ns}:alpha-planner`,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
    },
  });
  await eventually('graphs created', async () => {
    await admin.create(
      DGD_RT,
      graph('alpha', {
        Frontend: { componentType: 'frontend' },
        Planner: { componentType: 'planner' },
        Prefill: { componentType: 'prefill', scalingAdapter: { enabled: true } },
        Decode: { componentType: 'decode' },
      }),
    );
    await admin.create(
      DGD_RT,
      graph('beta', { Worker: { componentType: 'worker', scalingAdapter: { enabled: true } } }),
    );
    return true;
  });
});

afterAll(async () => {
  await operator?.stop();
  if (clusterRole) await admin.delete(CLUSTER_ROLE_BINDING, undefined, `${clusterRole}-cluster`);
  for (const role of clusterRoles) await admin.delete(CLUSTER_ROLE, undefined, role.metadata.name);
  planner?.close();
  admin?.close();
});

describe("a planner's ServiceAccount, made by an operator holding only the chart's rights", () => {
  it('gets a ServiceAccount, a Role with exactly its graph’s rules and a RoleBinding, owned by the graph', async () => {
    const role = await eventually('planner Role', () => admin.get(RT.role, ns, 'alpha-planner'));
    expect(role.rules).toEqual([
      {
        apiGroups: ['nvidia.com'],
        resources: ['dynamographdeploymentscalingadapters/scale'],
        resourceNames: ['alpha-decode', 'alpha-prefill'],
        verbs: ['get', 'patch'],
      },
      {
        apiGroups: ['nvidia.com'],
        resources: ['dynamographdeployments'],
        resourceNames: ['alpha'],
        verbs: ['get', 'patch'],
      },
    ]);
    const binding = await eventually('planner RoleBinding', () =>
      admin.get(RT.roleBinding, ns, 'alpha-planner'),
    );
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'alpha-planner', namespace: ns }]);
    const sa = await eventually('planner ServiceAccount', () =>
      admin.get(RT.serviceAccount, ns, 'alpha-planner'),
    );
    const dgd = await admin.get(DGD_RT, ns, 'alpha');
    for (const o of [role, binding, sa]) {
      expect(o.metadata.ownerReferences?.map((r) => r.uid)).toEqual([dgd?.metadata.uid]);
    }
    // Only the planner's pod runs as it, with its token, its graph and Prometheus.
    const d = await eventually('planner Deployment', () => admin.get(RT.deployment, ns, 'alpha-planner'));
    const pod = (d.spec as { template: { spec: Record<string, unknown> } }).template.spec as {
      serviceAccountName?: string;
      automountServiceAccountToken?: boolean;
      containers: { args?: string[]; env: { name: string; value?: string }[] }[];
    };
    expect(pod.serviceAccountName).toBe('alpha-planner');
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(pod.containers[0]?.args).toEqual([
      'planner',
      '--mode',
      'disagg',
      '--prefill-service',
      'Prefill',
      '--decode-service',
      'Decode',
    ]);
    expect(pod.containers[0]?.env).toEqual(
      expect.arrayContaining([
        { name: 'DYN_PARENT_DGD_K8S_NAME', value: 'alpha' },
        { name: 'PROMETHEUS_ENDPOINT', value: 'http://prometheus.test:9090' },
      ]),
    );
    const worker = await eventually('worker Deployment', () => admin.get(RT.deployment, ns, 'alpha-prefill'));
    expect(
      (worker.spec as { template: { spec: { serviceAccountName?: string } } }).template.spec
        .serviceAccountName,
    ).toBeUndefined();
  });

  it('can read and patch its own graph’s adapter scale and its graph', async () => {
    await eventually(
      'adapters',
      async () =>
        (await admin.get(ADAPTER_RT, ns, 'alpha-prefill')) && admin.get(ADAPTER_RT, ns, 'beta-worker'),
    );
    expect(await statusOf(planner.request('GET', scalePath('alpha-prefill')))).toBe(200);
    expect(
      await statusOf(planner.mergePatch(ADAPTER_RT, ns, 'alpha-prefill', { spec: { replicas: 2 } }, 'scale')),
    ).toBe(200);
    // An adapter of its graph that does not exist: the API server's 404, the connector's cue to fall back.
    expect(await statusOf(planner.request('GET', scalePath('alpha-decode')))).toBe(404);
    expect(await statusOf(planner.get(DGD_RT, ns, 'alpha'))).toBe(200);
    expect(
      await statusOf(
        planner.mergePatch(DGD_RT, ns, 'alpha', { spec: { services: { Decode: { replicas: 2 } } } }),
      ),
    ).toBe(200);
  });

  it('cannot touch another graph, the adapters themselves, workloads or secrets', async () => {
    const forbidden: [string, () => Promise<unknown>][] = [
      [
        'patch another graph’s adapter scale',
        () => planner.mergePatch(ADAPTER_RT, ns, 'beta-worker', { spec: { replicas: 3 } }, 'scale'),
      ],
      ['read another graph’s adapter scale', () => planner.request('GET', scalePath('beta-worker'))],
      [
        'patch another graph',
        () => planner.mergePatch(DGD_RT, ns, 'beta', { spec: { services: { Worker: { replicas: 3 } } } }),
      ],
      [
        'patch its adapter itself',
        () => planner.mergePatch(ADAPTER_RT, ns, 'alpha-prefill', { spec: { replicas: 4 } }),
      ],
      ['delete its graph', () => planner.request('DELETE', Client.path(DGD_RT, ns, 'alpha'))],
      ['list graphs', () => planner.list(DGD_RT, { namespace: ns })],
      ['list secrets', () => planner.list(RT.secret, { namespace: ns })],
      ['read a secret', () => planner.request('GET', Client.path(RT.secret, ns, 'anything'))],
      ['read Deployments', () => planner.list(RT.deployment, { namespace: ns })],
      ['patch its own Role', () => planner.mergePatch(RT.role, ns, 'alpha-planner', { rules: [] })],
    ];
    for (const [what, call] of forbidden) expect(await statusOf(call()), what).toBe(403);
  });

  it('leaves no forbidden request in the operator’s log, and goes with its graph', async () => {
    await admin.request('DELETE', Client.path(DGD_RT, ns, 'alpha'));
    await eventually('planner objects removed', async () => {
      const left = await Promise.all([
        admin.get(RT.serviceAccount, ns, 'alpha-planner'),
        admin.get(RT.role, ns, 'alpha-planner'),
        admin.get(RT.roleBinding, ns, 'alpha-planner'),
      ]);
      return left.every((o) => o === undefined);
    });
    await eventually('graph gone', async () => (await admin.get(DGD_RT, ns, 'alpha')) === undefined);
    await operator?.stop();
    operator = undefined;
    const logText = await readFile(join(dir, 'operator.log'), 'utf8');
    expect(logText.match(/.*forbidden.*/gi) ?? []).toEqual([]);
  });
});
