// A `componentType: planner` service: its default command line, env, ServiceAccount and the exact RBAC
// the operator gives it (DESIGN §13, §14), as pure functions of the graph.
import { describe, expect, it } from 'vitest';
import {
  type DynamoComponentDeployment,
  type DynamoGraphDeployment,
  dynamoComponentDeployment,
  dynamoGraphDeployment,
} from '../../../src/api/k8s/index.js';
import { COMMON_OPTIONS } from '../../../src/cli/command.js';
import { COMMANDS } from '../../../src/cli/commands/index.js';
import { parseOptions } from '../../../src/cli/options.js';
import { desiredDeployment } from '../../../src/operator/desired/component.js';
import { desiredComponents, desiredPlannerRbac } from '../../../src/operator/desired/graph.js';
import { plannerArgs, plannerMode, plannerRules } from '../../../src/operator/desired/planner.js';
import type { KubeObject } from '../../../src/operator/kube/types.js';

function dgd(services: Record<string, unknown>, name = 'g'): DynamoGraphDeployment {
  return dynamoGraphDeployment.parse({
    apiVersion: 'nvidia.com/v1alpha1',
    kind: 'DynamoGraphDeployment',
    metadata: { name, namespace: 'team-a', uid: 'uid-g' },
    spec: { services },
  });
}

const DISAGG = {
  Frontend: { componentType: 'frontend' },
  Planner: { componentType: 'planner' },
  VllmPrefillWorker: {
    componentType: 'worker',
    subComponentType: 'prefill',
    scalingAdapter: { enabled: true },
  },
  VllmDecodeWorker: { componentType: 'worker', subComponentType: 'decode' },
};
const AGG = {
  Frontend: { componentType: 'frontend' },
  Planner: { componentType: 'planner' },
  Worker: { componentType: 'worker' },
};

function dcdOf(graph: DynamoGraphDeployment, service: string): DynamoComponentDeployment {
  const o = desiredComponents(graph).find((d) => (d.spec as { serviceName: string }).serviceName === service);
  if (!o) throw new Error(`no DCD for ${service}`);
  return dynamoComponentDeployment.parse({
    ...o,
    metadata: { ...o.metadata, uid: `uid-${o.metadata.name}` },
  });
}

const IMG = { defaultImage: 'dynamo-ts:test' };

type Pod = {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  containers: { args?: string[]; env: { name: string; value?: string }[] }[];
};
const pod = (d: KubeObject) => (d.spec as { template: { spec: Pod } }).template.spec;
const envOf = (d: KubeObject) =>
  Object.fromEntries((pod(d).containers[0]?.env ?? []).map((e) => [e.name, e.value]));

describe('planner defaults', () => {
  it('picks the mode from the graph: disagg with prefill/decode workers (either spelling), else agg', () => {
    expect(plannerMode(dgd(DISAGG))).toBe('disagg');
    expect(plannerMode(dgd({ P: { componentType: 'prefill' }, D: { componentType: 'decode' } }))).toBe(
      'disagg',
    );
    expect(plannerMode(dgd(AGG))).toBe('agg');
    expect(plannerMode(dgd({ Planner: { componentType: 'planner' } }))).toBe('agg');
  });

  it("names the graph's services in the planner's args", () => {
    expect(plannerArgs(dgd(DISAGG))).toEqual([
      'planner',
      '--mode',
      'disagg',
      '--prefill-service',
      'VllmPrefillWorker',
      '--decode-service',
      'VllmDecodeWorker',
    ]);
    expect(plannerArgs(dgd(AGG))).toEqual(['planner', '--mode', 'agg', '--agg-service', 'Worker']);
    expect(plannerArgs(dgd({ Planner: { componentType: 'planner' } }))).toEqual(['planner', '--mode', 'agg']);
  });

  it('are a command line `dynamo planner` accepts', async () => {
    const entry = COMMANDS.find((c) => c.name === 'planner');
    expect(entry, 'dynamo planner').toBeDefined();
    const command = await (entry as NonNullable<typeof entry>).load();
    for (const graph of [dgd(DISAGG), dgd(AGG)]) {
      const [name, ...rest] = plannerArgs(graph);
      expect(name).toBe('planner');
      expect(() => parseOptions({ ...command.options, ...COMMON_OPTIONS }, rest, {})).not.toThrow();
    }
  });

  it("writes them into the planner's DCD, and the pod runs them", () => {
    const graph = dgd(DISAGG);
    const dcd = dcdOf(graph, 'Planner');
    expect(dcd.spec.extraPodSpec?.mainContainer?.args).toEqual(plannerArgs(graph));
    expect(pod(desiredDeployment(dcd, IMG)).containers[0]?.args).toEqual(plannerArgs(graph));
    // Other services are not touched.
    expect(dcdOf(graph, 'VllmDecodeWorker').spec.extraPodSpec).toBeUndefined();
  });

  it('keeps the args or command a manifest gives', () => {
    const own = dgd({
      ...AGG,
      Planner: {
        componentType: 'planner',
        extraPodSpec: { mainContainer: { args: ['planner', '--advisory'] } },
      },
    });
    expect(pod(desiredDeployment(dcdOf(own, 'Planner'), IMG)).containers[0]?.args).toEqual([
      'planner',
      '--advisory',
    ]);
    const command = dgd({
      ...AGG,
      Planner: { componentType: 'planner', extraPodSpec: { mainContainer: { command: ['/bin/plan'] } } },
    });
    expect(dcdOf(command, 'Planner').spec.extraPodSpec?.mainContainer).toEqual({ command: ['/bin/plan'] });
  });

  it('gives the planner its graph, Prometheus and its own ServiceAccount with a mounted token', () => {
    const graph = dgd(DISAGG);
    const d = desiredDeployment(dcdOf(graph, 'Planner'), {
      ...IMG,
      prometheusEndpoint: 'http://prom.monitoring:9090',
    });
    expect(envOf(d)).toMatchObject({
      DYN_PARENT_DGD_K8S_NAME: 'g',
      PROMETHEUS_ENDPOINT: 'http://prom.monitoring:9090',
    });
    expect(pod(d).serviceAccountName).toBe('g-planner');
    expect(pod(d).automountServiceAccountToken).toBe(true);
    // No --prometheus-endpoint: no PROMETHEUS_ENDPOINT (the planner says what it lacks).
    expect(envOf(desiredDeployment(dcdOf(graph, 'Planner'), IMG))).not.toHaveProperty('PROMETHEUS_ENDPOINT');
  });

  it('gives no other pod the planner env or an account', () => {
    const graph = dgd(DISAGG);
    for (const service of ['Frontend', 'VllmPrefillWorker', 'VllmDecodeWorker']) {
      const d = desiredDeployment(dcdOf(graph, service), { ...IMG, prometheusEndpoint: 'http://prom:9090' });
      expect(envOf(d)).not.toHaveProperty('DYN_PARENT_DGD_K8S_NAME');
      expect(envOf(d)).not.toHaveProperty('PROMETHEUS_ENDPOINT');
      expect(pod(d).serviceAccountName).toBeUndefined();
      expect(pod(d).automountServiceAccountToken).toBe(false);
    }
  });

  it("lets the manifest's own env and pod spec win", () => {
    const graph = dgd({
      ...AGG,
      Planner: {
        componentType: 'planner',
        envs: [{ name: 'PROMETHEUS_ENDPOINT', value: 'http://mine:9090' }],
        extraPodSpec: { serviceAccountName: 'my-planner' },
      },
    });
    const d = desiredDeployment(dcdOf(graph, 'Planner'), { ...IMG, prometheusEndpoint: 'http://prom:9090' });
    expect(envOf(d).PROMETHEUS_ENDPOINT).toBe('http://mine:9090');
    expect(pod(d).serviceAccountName).toBe('my-planner');
  });

  it('runs `planner` in a planner DCD made by hand (no graph: no account, no graph env)', () => {
    const dcd = dynamoComponentDeployment.parse({
      apiVersion: 'nvidia.com/v1alpha1',
      kind: 'DynamoComponentDeployment',
      metadata: { name: 'lone', namespace: 'team-a', uid: 'u' },
      spec: { componentType: 'planner', serviceName: 'Planner', dynamoNamespace: 'team-a-lone' },
    });
    const d = desiredDeployment(dcd, { defaultImage: 'img' });
    expect(pod(d).containers[0]?.args).toEqual(['planner']);
    expect(pod(d).serviceAccountName).toBeUndefined();
    expect(envOf(d)).not.toHaveProperty('DYN_PARENT_DGD_K8S_NAME');
  });
});

describe('planner RBAC', () => {
  const owner = {
    apiVersion: 'nvidia.com/v1alpha1',
    kind: 'DynamoGraphDeployment',
    name: 'g',
    uid: 'uid-g',
    controller: true,
    blockOwnerDeletion: true,
  };

  it('grants exactly get/patch on its graph and on the scale of its workers’ adapters', () => {
    expect(plannerRules(dgd(DISAGG))).toEqual([
      {
        apiGroups: ['nvidia.com'],
        resources: ['dynamographdeploymentscalingadapters/scale'],
        resourceNames: ['g-vllmdecodeworker', 'g-vllmprefillworker'],
        verbs: ['get', 'patch'],
      },
      {
        apiGroups: ['nvidia.com'],
        resources: ['dynamographdeployments'],
        resourceNames: ['g'],
        verbs: ['get', 'patch'],
      },
    ]);
  });

  it('never writes an empty resourceNames (in RBAC: every name)', () => {
    const rules = plannerRules(dgd({ Planner: { componentType: 'planner' } }));
    expect(rules).toEqual([
      {
        apiGroups: ['nvidia.com'],
        resources: ['dynamographdeployments'],
        resourceNames: ['g'],
        verbs: ['get', 'patch'],
      },
    ]);
    for (const r of rules) expect(r.resourceNames.length).toBeGreaterThan(0);
  });

  it('makes a ServiceAccount, Role and RoleBinding per planner, owned by the graph', () => {
    const graph = dgd(DISAGG);
    const objs = desiredPlannerRbac(graph);
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'ServiceAccount/g-planner',
      'Role/g-planner',
      'RoleBinding/g-planner',
    ]);
    for (const o of objs) {
      expect(o.metadata.namespace).toBe('team-a');
      expect(o.metadata.ownerReferences).toEqual([owner]);
      expect(o.metadata.labels).toMatchObject({
        'app.kubernetes.io/managed-by': 'dynamo-operator',
        'nvidia.com/dynamo-graph-deployment-name': 'g',
      });
    }
    const [sa, role, binding] = objs;
    expect(sa).toMatchObject({ apiVersion: 'v1' });
    expect(Object.keys(sa ?? {}).sort()).toEqual(['apiVersion', 'kind', 'metadata']);
    expect(role).toMatchObject({ apiVersion: 'rbac.authorization.k8s.io/v1', rules: plannerRules(graph) });
    expect(binding).toMatchObject({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'g-planner' },
      subjects: [{ kind: 'ServiceAccount', name: 'g-planner', namespace: 'team-a' }],
    });
  });

  it('makes nothing for a graph without a planner, and one set per planner', () => {
    expect(desiredPlannerRbac(dgd({ Worker: { componentType: 'worker' } }))).toEqual([]);
    const two = desiredPlannerRbac(dgd({ ...AGG, Shadow: { componentType: 'planner' } })).map(
      (o) => `${o.kind}/${o.metadata.name}`,
    );
    expect(two).toEqual([
      'ServiceAccount/g-planner',
      'Role/g-planner',
      'RoleBinding/g-planner',
      'ServiceAccount/g-shadow',
      'Role/g-shadow',
      'RoleBinding/g-shadow',
    ]);
  });
});
