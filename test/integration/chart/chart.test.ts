// The Helm chart charts/dynamo-platform against the harness's kube-apiserver: lint, a server-side
// dry-run of what it renders, its values schema, and a real `helm install` + `helm upgrade` during
// which the operator runs as the chart's Deployment would run it — same args and env, and the chart's
// ServiceAccount token as its only credential, so the chart's RBAC is what it gets (no kubelet here:
// the container is a local process).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadAll } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, type ResourceType, RT } from '../../../src/operator/kube/types.js';
import { webhookConfigurations } from '../../../src/operator/webhooks/configurations.js';
import { type DynamoProcess, startDynamo, waitAlive, waitFor } from '../../harness/dynamo-process.js';
import { kubeTool, REPO_ROOT } from '../../harness/kube-apiserver.js';
import { freePort } from '../../harness/process.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

const exec = promisify(execFile);
const CHART = join(REPO_ROOT, 'charts/dynamo-platform');
const STATEFULSET: ResourceType = {
  group: 'apps',
  version: 'v1',
  plural: 'statefulsets',
  kind: 'StatefulSet',
  namespaced: true,
};
const CLUSTER_ROLE: ResourceType = {
  group: 'rbac.authorization.k8s.io',
  version: 'v1',
  plural: 'clusterroles',
  kind: 'ClusterRole',
  namespaced: false,
};
/** Kinds whose CRDs a cluster gets from cert-manager and prometheus-operator: not in the harness. */
const FOREIGN_GROUPS = ['monitoring.coreos.com/v1', 'cert-manager.io/v1'];

let env: NodeJS.ProcessEnv;
let admin: KubeClient;

beforeAll(async () => {
  // Helm's cache, config and data stay out of $HOME.
  const helmHome = await harnessTempDir('helm-home');
  env = {
    ...process.env,
    KUBECONFIG: inject('kubeconfig'),
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_DATA_HOME: join(helmHome, 'data'),
  };
  admin = KubeClient.fromKubeconfig(inject('kubeconfig'), 'chart-test');
});
afterAll(() => admin.close());

async function run(tool: 'helm' | 'kubectl', args: string[], input?: string): Promise<string> {
  const child = exec(kubeTool(tool), args, { env, maxBuffer: 64 * 1024 * 1024 });
  if (input !== undefined) child.child.stdin?.end(input);
  try {
    return (await child).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`${tool} ${args.join(' ')} failed: ${stderr || (err as Error).message}`);
  }
}

const setFlags = (values: string[]) => values.map((v) => `--set=${v}`);
const render = (namespace: string, values: string[], extra: string[] = []) =>
  run('helm', ['template', 'dyn', CHART, `--namespace=${namespace}`, ...setFlags(values), ...extra]);
// js-yaml, not the client's loadAllYaml: that one maps objects onto its classes (`from` → `_from`).
const objects = (yaml: string) => (loadAll(yaml) as (KubeObject | null)[]).filter((o) => o !== null);
const find = (objs: KubeObject[], kind: string, name?: string) =>
  objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
const toYaml = (objs: KubeObject[]) => objs.map((o) => JSON.stringify(o)).join('\n---\n');

async function newNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await admin.create(RT.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

const Container = z.object({
  args: z.array(z.string()),
  volumeMounts: z.array(z.looseObject({ name: z.string() })).optional(),
  env: z.array(
    z.object({
      name: z.string(),
      value: z.string().optional(),
      valueFrom: z.object({ fieldRef: z.object({ fieldPath: z.string() }) }).optional(),
    }),
  ),
});
const Deployment = z.object({
  spec: z.object({
    replicas: z.number(),
    template: z.object({ spec: z.object({ containers: z.array(Container).min(1) }) }),
  }),
});
const operatorContainer = (obj: KubeObject | undefined) => {
  const c = Deployment.parse(obj).spec.template.spec.containers[0];
  if (!c) throw new Error('the operator Deployment has no container');
  return c;
};

describe('helm lint', () => {
  it.each([
    [[]],
    [['webhook.certManager.enabled=true', 'metrics.serviceMonitor.enabled=true']],
    [['certManager.enabled=true', 'graphNamespaces={team-a,team-b}', 'networkPolicy.enabled=false']],
    [
      [
        'nats.auth.enabled=false',
        'nats.tls.enabled=false',
        'etcd.auth.enabled=false',
        'etcd.tls.enabled=false',
      ],
    ],
    [
      [
        'nats.enabled=false',
        'natsServer=nats://nats.example:4222',
        'etcd.enabled=false',
        'etcdEndpoints=http://etcd.example:2379',
      ],
    ],
  ])('is clean with %j', async (values) => {
    const out = await run('helm', ['lint', '--strict', CHART, ...setFlags(values)]);
    expect(out).toContain('0 chart(s) failed');
    expect(out).not.toMatch(/\[(WARNING|ERROR)\]/);
  });
});

describe('helm template', () => {
  let namespace: string;
  let watched: string;
  beforeAll(async () => {
    namespace = await newNamespace('chart-dry');
    watched = await newNamespace('chart-watched');
  });

  it.each([
    ['defaults', []],
    ['watching one namespace', ['operator.watchNamespace=WATCHED']],
    [
      'external NATS and etcd',
      [
        'nats.enabled=false',
        'natsServer=nats://nats.example:4222',
        'etcd.enabled=false',
        'etcdEndpoints=http://etcd.example:2379',
      ],
    ],
    ['no webhooks, dashboard on', ['webhook.enabled=false', 'grafana.dashboards.enabled=true']],
    [
      'NATS and etcd without auth or TLS, no network policies',
      [
        'nats.auth.enabled=false',
        'nats.tls.enabled=false',
        'etcd.auth.enabled=false',
        'etcd.tls.enabled=false',
        'networkPolicy.enabled=false',
      ],
    ],
    ['graphs in another namespace', ['graphNamespaces={WATCHED}']],
    ['no runtime Secret', ['runtimeSecret.create=false', 'etcd.auth.enabled=false']],
  ])('passes a server-side dry-run (%s)', async (_name, values) => {
    const yaml = await render(
      namespace,
      values.map((v) => v.replace('WATCHED', watched)),
    );
    const out = await run('kubectl', ['apply', '--dry-run=server', '--filename=-'], yaml);
    expect(out.trim().split('\n')).toHaveLength(objects(yaml).length);
    expect(out).not.toMatch(/error|invalid/i);
  });

  it('passes a server-side dry-run of its crds/ (what `helm install` creates first)', async () => {
    const out = await run('kubectl', [
      'apply',
      '--dry-run=server',
      '--server-side',
      `--filename=${join(CHART, 'crds')}`,
    ]);
    expect(out.trim().split('\n')).toHaveLength(4);
  });

  it('renders the operator with leader election, the webhooks and the bundled NATS and etcd', async () => {
    const objs = objects(await render(namespace, []));
    const [deployment] = find(objs, 'Deployment', 'dyn-dynamo-platform-operator');
    const container = operatorContainer(deployment);
    expect(Deployment.parse(deployment).spec.replicas).toBe(2);
    expect(container.args).toEqual(
      expect.arrayContaining([
        'operator',
        '--leader-elect',
        '--leader-election-id=dyn-dynamo-platform-operator',
        `--nats-server=nats://dyn-dynamo-platform-nats.${namespace}.svc:4222`,
        `--etcd-endpoints=https://dyn-dynamo-platform-etcd.${namespace}.svc:2379`,
        '--runtime-secret=dyn-dynamo-runtime',
        '--webhook-service=dyn-dynamo-platform-operator-webhook',
        '--webhook-config-name=dyn-dynamo-platform-operator',
      ]),
    );
    expect(
      find(objs, 'StatefulSet')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['dyn-dynamo-platform-etcd', 'dyn-dynamo-platform-nats']);
    expect(find(objs, 'ValidatingWebhookConfiguration')).toHaveLength(1);
    expect(find(objs, 'MutatingWebhookConfiguration')).toHaveLength(1);
    expect(find(objs, 'Service', 'dyn-dynamo-platform-operator-webhook')).toHaveLength(1);
    expect(find(objs, 'ServiceMonitor')).toHaveLength(0);
  });

  it.each([
    ['every namespace', undefined],
    ['one namespace', 'team-a'],
  ])('renders webhook configurations equal to what the operator registers (%s)', async (_n, watch) => {
    const objs = objects(
      await render(namespace, watch ? [`operator.watchNamespace=${watch}`] : [], [
        '--show-only=templates/webhooks.yaml',
      ]),
    );
    const operators = webhookConfigurations(
      {
        target: { kind: 'service', namespace, name: 'dyn-dynamo-platform-operator-webhook', port: 443 },
        name: 'dyn-dynamo-platform-operator',
        namespace: watch,
      },
      '',
    );
    // What may differ: the caBundle (written later by the operator) and the labels.
    const comparable = (o: KubeObject) => ({
      kind: o.kind,
      name: o.metadata.name,
      webhooks: (o.webhooks as { clientConfig: Record<string, unknown> }[]).map((w) => {
        const { caBundle: _ca, ...clientConfig } = w.clientConfig;
        return { ...w, clientConfig };
      }),
    });
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect(objs.map(comparable).sort(byName)).toEqual(operators.map(comparable).sort(byName));
  });

  it('renders the monitors and cert-manager objects, the rest passing a dry-run without their CRDs', async () => {
    const values = [
      'metrics.serviceMonitor.enabled=true',
      'metrics.podMonitor.enabled=true',
      'webhook.certManager.enabled=true',
      'certManager.enabled=true',
    ];
    const objs = objects(await render(namespace, values));
    expect(find(objs, 'ServiceMonitor')).toHaveLength(1);
    expect(find(objs, 'PodMonitor')).toHaveLength(1);
    expect(find(objs, 'PrometheusRule')).toHaveLength(1);
    // The webhook's self-signed Issuer; for NATS and etcd a self-signed root and the CA Issuer of it.
    expect(find(objs, 'Issuer')).toHaveLength(3);
    // The webhook's; the runtime CA, NATS, etcd and the clients'.
    expect(find(objs, 'Certificate')).toHaveLength(5);
    const [certificate] = find(objs, 'Certificate', 'dyn-dynamo-platform-operator-webhook');
    expect(certificate?.spec).toMatchObject({
      secretName: 'dyn-dynamo-platform-operator-webhook-tls',
      dnsNames: expect.arrayContaining([`dyn-dynamo-platform-operator-webhook.${namespace}.svc`]),
    });
    const [validating] = find(objs, 'ValidatingWebhookConfiguration');
    expect(validating?.metadata.annotations).toEqual({
      'cert-manager.io/inject-ca-from': `${namespace}/dyn-dynamo-platform-operator-webhook`,
    });
    // cert-manager fills the caBundle: the operator reads mounted files and gets no rights on
    // Secrets or webhook configurations.
    const container = operatorContainer(find(objs, 'Deployment', 'dyn-dynamo-platform-operator')[0]);
    expect(container.args).toContain('--cert-dir=/tmp/k8s-webhook-server/serving-certs');
    expect(JSON.stringify(find(objs, 'Role'))).not.toContain('secrets');
    expect(JSON.stringify(find(objs, 'ClusterRole'))).not.toContain('webhookconfigurations');

    const known = objs.filter((o) => !FOREIGN_GROUPS.includes(o.apiVersion));
    expect(known.length).toBe(objs.length - 11);
    await run('kubectl', ['apply', '--dry-run=server', '--filename=-'], toYaml(known));
  });

  it("installs the Inference Extension's InferencePool CRD only when asked (inferenceExtension.installCRD)", async () => {
    expect(find(objects(await render(namespace, [])), 'CustomResourceDefinition')).toEqual([]);
    const crds = find(
      objects(await render(namespace, ['inferenceExtension.installCRD=true'])),
      'CustomResourceDefinition',
    );
    expect(crds.map((c) => c.metadata.name)).toEqual(['inferencepools.inference.networking.k8s.io']);
    await run('kubectl', ['apply', '--dry-run=server', '--filename=-'], toYaml(crds));
  });
});

describe('values.schema.json', () => {
  it.each([
    ['operator.replicas=0', /operator\/replicas.*minimum|minimum.*operator\/replicas/s],
    ['natsServer=http://nats:4222', /natsServer.*pattern|pattern.*natsServer/s],
    ['image.pullPolicy=Sometimes', /image\/pullPolicy/],
    ['operator.watchNamespace=Team_A', /operator\/watchNamespace/],
    ['webhook.failurePolicy=Ignore', /additional propert.*failurePolicy/],
    ['nats.tls.enabled=maybe', /nats\/tls\/enabled/],
    ['etcd.auth.user=root', /etcd\/auth\/user/],
    ['graphNamespaces={Team_A}', /graphNamespaces\/0/],
    ['networkPolicy.ingress=open', /additional propert.*ingress/],
  ])('rejects %s with a message naming it', async (value, message) => {
    const err = await render('default', [value]).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain("values don't meet the specifications of the schema");
    expect((err as Error).message).toMatch(message);
  });

  it('refuses to render without a NATS: neither bundled nor given', async () => {
    const err = await render('default', ['nats.enabled=false']).catch((e: unknown) => e as Error);
    expect((err as Error).message).toContain('natsServer is empty and nats.enabled is false');
  });
});

describe('helm install and helm upgrade', () => {
  const release = `dyn${randomBytes(2).toString('hex')}`;
  const operator = `${release}-dynamo-platform-operator`;
  let namespace: string;
  let running: DynamoProcess | undefined;
  afterAll(async () => {
    await running?.stop();
    if (namespace) await run('helm', ['uninstall', release, `--namespace=${namespace}`]).catch(() => '');
  });

  /** A kubeconfig whose only credential is a token of the chart's ServiceAccount. */
  async function serviceAccountKubeconfig(): Promise<string> {
    const token = (
      await run('kubectl', ['create', 'token', operator, `--namespace=${namespace}`, '--duration=1h'])
    ).trim();
    const adminConfig = z
      .object({
        clusters: z.array(
          z.object({ cluster: z.object({ server: z.string(), 'certificate-authority-data': z.string() }) }),
        ),
      })
      .parse(JSON.parse(await readFile(inject('kubeconfig'), 'utf8')));
    const cluster = adminConfig.clusters[0]?.cluster;
    const file = join(await harnessTempDir('chart-sa'), 'kubeconfig');
    await writeFile(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'harness', cluster }],
        users: [{ name: 'operator', user: { token } }],
        contexts: [{ name: 'operator', context: { cluster: 'harness', user: 'operator', namespace } }],
        'current-context': 'operator',
      }),
      { mode: 0o600 },
    );
    return file;
  }

  /** Runs the container of the operator Deployment, as it is now, as a local process. */
  async function runOperatorContainer(kubeconfig: string, podName: string): Promise<DynamoProcess> {
    const container = operatorContainer(await admin.get(RT.deployment, namespace, operator));
    const fieldRefs: Record<string, string> = { 'metadata.name': podName, 'metadata.namespace': namespace };
    const containerEnv: Record<string, string> = {};
    for (const e of container.env) {
      const value = e.valueFrom ? fieldRefs[e.valueFrom.fieldRef.fieldPath] : e.value;
      if (value === undefined) throw new Error(`env ${e.name}: cannot resolve it outside a pod`);
      containerEnv[e.name] = value;
    }
    const [health, metrics, webhook] = [await freePort(), await freePort(), await freePort()];
    // Only what a pod has that a shared test machine has not: its own network namespace (ports) and
    // the mounted token (the kubeconfig). The chart's args come first; later flags win.
    const args = [
      ...container.args,
      `--kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--health-port=${health}`,
      `--metrics-port=${metrics}`,
      `--webhook-port=${webhook}`,
    ];
    const proc = await startDynamo(args, containerEnv, podName);
    await waitAlive(
      [proc],
      async () => (await fetch(`http://127.0.0.1:${health}/readyz`)).ok,
      `the operator (${podName}) to be ready`,
    );
    await waitFor(async () => {
      const lease = await admin.get(RT.lease, namespace, operator);
      return (lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity === podName;
    }, `${podName} to hold the Lease ${operator}`);
    return proc;
  }

  /** The data of the Secrets the chart generates once (certificates, passwords), by name suffix. */
  const generatedSecrets = async () => {
    const out: Record<string, unknown> = {};
    for (const suffix of ['runtime-ca', 'nats-tls', 'etcd-tls', 'credentials']) {
      out[suffix] = (await admin.get(RT.secret, namespace, `${release}-dynamo-platform-${suffix}`))?.data;
    }
    out['dynamo-runtime'] = (await admin.get(RT.secret, namespace, `${release}-dynamo-runtime`))?.data;
    for (const [name, data] of Object.entries(out)) expect(data, name).toBeDefined();
    return out as Record<string, Record<string, string>>;
  };

  const caBundles = async () =>
    Promise.all(
      [RT.validatingWebhook, RT.mutatingWebhook].map(async (rt) => {
        const name = `${operator}-${rt === RT.validatingWebhook ? 'validating' : 'mutating'}`;
        const config = await admin.get(rt, undefined, name);
        return ((config?.webhooks ?? []) as { clientConfig: { caBundle?: string } }[]).map(
          (w) => w.clientConfig.caBundle ?? '',
        );
      }),
    );

  it('installs; the operator runs on its RBAC; upgrades keep its caBundle, then drop webhooks and NATS', async () => {
    namespace = await newNamespace('chart-install');
    // watchNamespace scopes the webhooks (failurePolicy Fail, no pod behind their Service) to this
    // namespace, so that the other tests sharing the API server are not refused.
    await run('helm', [
      'install',
      release,
      CHART,
      `--namespace=${namespace}`,
      `--set=operator.watchNamespace=${namespace}`,
    ]);
    const deployment = await admin.get(RT.deployment, namespace, operator);
    expect(Deployment.parse(deployment).spec.replicas).toBe(2);
    expect(await admin.get(STATEFULSET, namespace, `${release}-dynamo-platform-nats`)).toBeDefined();
    expect(await admin.get(STATEFULSET, namespace, `${release}-dynamo-platform-etcd`)).toBeDefined();
    expect(await admin.get(RT.crd, undefined, 'dynamographdeployments.nvidia.com')).toBeDefined();
    expect((await caBundles()).flat()).toEqual(['', '', '', '', '', '', '']);
    const generated = await generatedSecrets();
    expect(Object.keys(generated['dynamo-runtime'] ?? {})).toContain('etcd-password');

    // The operator as the chart's pod: its own certificate, Secret and caBundle, under the chart's RBAC.
    const kubeconfig = await serviceAccountKubeconfig();
    running = await runOperatorContainer(kubeconfig, `${operator}-pod-a`);
    const logs = [running.logFile];
    await waitFor(
      async () => (await caBundles()).flat().every((b) => b.length > 0),
      'the operator to write the caBundle into the chart webhook configurations',
    );
    expect(await admin.get(RT.secret, namespace, 'dynamo-operator-webhook-cert')).toBeDefined();

    // An upgrade that keeps the webhooks: the chart and the operator share their fields, no conflict,
    // and the caBundle the operator wrote stays.
    await run('helm', [
      'upgrade',
      release,
      CHART,
      `--namespace=${namespace}`,
      '--reuse-values',
      '--set=operator.replicas=3',
    ]);
    expect(Deployment.parse(await admin.get(RT.deployment, namespace, operator)).spec.replicas).toBe(3);
    expect((await caBundles()).flat().every((b) => b.length > 0)).toBe(true);
    // Certificates and passwords generated at install are read back (`lookup`) and kept.
    expect(await generatedSecrets()).toEqual(generated);

    // An upgrade to an external NATS without webhooks: the chart's objects follow.
    await run('helm', [
      'upgrade',
      release,
      CHART,
      `--namespace=${namespace}`,
      '--reuse-values',
      '--set=webhook.enabled=false',
      '--set=nats.enabled=false',
      '--set=natsServer=nats://nats.example:4222',
    ]);
    expect(await admin.get(STATEFULSET, namespace, `${release}-dynamo-platform-nats`)).toBeUndefined();
    expect(await admin.get(RT.validatingWebhook, undefined, `${operator}-validating`)).toBeUndefined();
    const args = operatorContainer(await admin.get(RT.deployment, namespace, operator)).args;
    expect(args).toEqual(expect.arrayContaining(['--no-webhooks', '--nats-server=nats://nats.example:4222']));

    // The upgraded pod reconciles a graph with only the chart's RBAC: children made, then removed.
    await running.stop();
    running = await runOperatorContainer(kubeconfig, `${operator}-pod-b`);
    logs.push(running.logFile);
    const graph = {
      apiVersion: 'nvidia.com/v1alpha1',
      kind: 'DynamoGraphDeployment',
      metadata: { name: 'g', namespace },
      spec: {
        services: {
          Frontend: { componentType: 'frontend', replicas: 1 },
          Worker: {
            componentType: 'worker',
            replicas: 2,
            extraPodSpec: { mainContainer: { args: ['worker', '--engine', 'mocker'] } },
          },
          // Its worker-hint Secret is made with the chart's right to create Secrets (and none to read them).
          Epp: { componentType: 'epp', replicas: 1 },
        },
      },
    };
    await run('kubectl', ['apply', '--filename=-'], JSON.stringify(graph));
    const workers = await (async () => {
      let found: KubeObject | undefined;
      await waitFor(async () => {
        found = await admin.get(RT.deployment, namespace, 'g-worker');
        return found !== undefined && (await admin.get(RT.deployment, namespace, 'g-frontend')) !== undefined;
      }, 'the operator to create the Deployments of graph g');
      return operatorContainer(found);
    })();
    expect(workers.env).toContainEqual({ name: 'NATS_SERVER', value: 'nats://nats.example:4222' });
    expect(await admin.get(RT.secret, namespace, 'g-worker-hint')).toBeDefined();
    // The chart's runtime Secret, through the operator's --runtime-secret, in every graph pod.
    expect(workers.env).toContainEqual({ name: 'DYN_RUNTIME_SECRETS_DIR', value: '/etc/dynamo/runtime' });
    expect(workers.volumeMounts).toContainEqual({
      name: 'dynamo-runtime',
      mountPath: '/etc/dynamo/runtime',
      readOnly: true,
    });
    // v1alpha1 named: kubectl's default is v1beta1, which needs the conversion webhook, dropped above.
    await run('kubectl', [
      'delete',
      'dynamographdeployments.v1alpha1.nvidia.com',
      'g',
      `--namespace=${namespace}`,
      '--wait=false',
    ]);
    await waitFor(
      async () =>
        (await admin.get(RT.deployment, namespace, 'g-worker')) === undefined &&
        (await admin.get(RT.deployment, namespace, 'g-frontend')) === undefined,
      'the operator to remove the Deployments of graph g',
    );

    // Everything it needed, the chart granted.
    for (const file of logs) expect(await readFile(file, 'utf8'), file).not.toMatch(/forbidden/i);

    await run('helm', ['uninstall', release, `--namespace=${namespace}`]);
    expect(await admin.get(CLUSTER_ROLE, undefined, operator)).toBeUndefined();
  }, 240_000);
});
