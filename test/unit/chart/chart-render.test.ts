// What charts/dynamo-platform renders (`helm template`, no cluster) for security (DESIGN §14): every pod
// locked down, a token only in the operator, the bundled NATS and etcd with TLS and credentials, the
// runtime Secret by the contract's file names, and NetworkPolicies whose selectors match the pods they
// mean — the operator's graph pods by the label the operator stamps. Server-side dry-runs and upgrades
// are in test/integration/chart.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runtimeTlsSecret, securityVolumes } from '../../../src/operator/desired/pod-security.js';
import { LABEL } from '../../../src/operator/naming.js';
import { RUNTIME_SECRET_FILES } from '../../../src/runtime/index.js';
import { kubeTool, REPO_ROOT } from '../../harness/kube-apiserver.js';

const exec = promisify(execFile);
const CHART = join(REPO_ROOT, 'charts/dynamo-platform');
const NS = 'platform';

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

async function render(values: string[] = []): Promise<Obj[]> {
  const { stdout } = await exec(
    kubeTool('helm'),
    ['template', 'dyn', CHART, `--namespace=${NS}`, ...values.map((v) => `--set=${v}`)],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return (loadAll(stdout) as (Obj | null)[]).filter((o): o is Obj => o !== null);
}

const find = (objs: Obj[], kind: string, name: string, namespace = NS): Obj => {
  const o = objs.find(
    (x) => x.kind === kind && x.metadata.name === name && x.metadata.namespace === namespace,
  );
  if (!o) throw new Error(`no ${kind} ${namespace}/${name}`);
  return o;
};

const Container = z.object({
  name: z.string(),
  args: z.array(z.string()).optional(),
  command: z.array(z.string()).optional(),
  env: z.array(z.looseObject({ name: z.string(), value: z.string().optional() })).optional(),
  securityContext: z.record(z.string(), z.unknown()).optional(),
  volumeMounts: z.array(z.looseObject({ name: z.string(), mountPath: z.string() })).optional(),
});
const PodTemplate = z.object({
  metadata: z.object({ labels: z.record(z.string(), z.string()) }),
  spec: z.looseObject({
    automountServiceAccountToken: z.boolean().optional(),
    securityContext: z.record(z.string(), z.unknown()).optional(),
    containers: z.array(Container).min(1),
    initContainers: z.array(Container).optional(),
    volumes: z.array(z.looseObject({ name: z.string() })).optional(),
  }),
});
const podTemplate = (o: Obj) => PodTemplate.parse((o.spec as { template: unknown }).template);
const POD_KINDS = ['Deployment', 'StatefulSet', 'Job', 'DaemonSet', 'Pod', 'CronJob'];

const SecretData = z.object({ data: z.record(z.string(), z.string()).default({}) });
const secretFiles = (o: Obj) => Object.keys(SecretData.parse(o).data).sort();
const decoded = (o: Obj, key: string) =>
  Buffer.from(SecretData.parse(o).data[key] ?? '', 'base64').toString();

const VALUE_SETS: [string, string[]][] = [
  ['defaults', []],
  ['cert-manager certificates', ['certManager.enabled=true']],
  [
    'auth, TLS and network policies off',
    [
      'nats.auth.enabled=false',
      'nats.tls.enabled=false',
      'etcd.auth.enabled=false',
      'etcd.tls.enabled=false',
      'networkPolicy.enabled=false',
    ],
  ],
  ['one watched namespace', ['operator.watchNamespace=team-a']],
];

describe('pod security of everything the chart runs', () => {
  it.each(VALUE_SETS)(
    'every pod is non-root, seccomp RuntimeDefault, no capabilities, read-only root (%s)',
    async (_n, values) => {
      const pods = (await render(values)).filter((o) => POD_KINDS.includes(o.kind));
      expect(pods.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'StatefulSet']));
      for (const o of pods) {
        const where = `${o.kind} ${o.metadata.name}`;
        const { spec } = podTemplate(o);
        expect(spec.securityContext, where).toMatchObject({
          runAsNonRoot: true,
          runAsUser: 65532,
          seccompProfile: { type: 'RuntimeDefault' },
        });
        for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
          expect(c.securityContext, `${where} ${c.name}`).toEqual({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          });
        }
        // A token only where the process talks to the API server.
        expect(spec.automountServiceAccountToken, where).toBe(
          o.metadata.name === 'dyn-dynamo-platform-operator',
        );
      }
    },
  );
});

describe('the operator container', () => {
  it('runs node with a small young generation (operator.nodeOptions), or none when emptied', async () => {
    const env = async (values: string[]) => {
      const operator = (await render(values)).find(
        (o) => o.kind === 'Deployment' && o.metadata.name === 'dyn-dynamo-platform-operator',
      );
      if (!operator) throw new Error('no operator Deployment');
      const spec = (
        operator.spec as {
          template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } };
        }
      ).template.spec;
      return spec.containers[0]?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
    };
    // The same flag bench:operator gives the operator it measures (src/bench/operator-bench.ts).
    expect(await env([])).toBe('--max-semi-space-size=4');
    expect(await env(['operator.nodeOptions='])).toBeUndefined();
  });
});

describe('bundled NATS and etcd', () => {
  it('run with TLS and credentials by default; the setup Job enables etcd auth', async () => {
    const objs = await render();
    const conf = (find(objs, 'ConfigMap', 'dyn-dynamo-platform-nats').data as Record<string, string>)[
      'nats.conf'
    ];
    expect(conf).toMatch(/tls \{[^}]*verify: true/s);
    expect(conf).toContain('authorization {');
    // No secret in the ConfigMap: the password comes from the credentials Secret through env.
    expect(conf).toContain('password: $NATS_PASSWORD');
    const etcd = podTemplate(find(objs, 'StatefulSet', 'dyn-dynamo-platform-etcd')).spec.containers[0];
    expect(etcd?.command).toEqual(
      expect.arrayContaining([
        '--client-cert-auth',
        '--trusted-ca-file=/etc/etcd/tls/ca.crt',
        '--cert-file=/etc/etcd/tls/tls.crt',
        '--key-file=/etc/etcd/tls/tls.key',
        '--listen-client-urls=https://0.0.0.0:2379',
      ]),
    );
    const job = podTemplate(find(objs, 'Job', 'dyn-dynamo-platform-etcd-setup-1'));
    expect(job.spec.containers[0]?.command).toEqual(['node', '/etc/dynamo/setup/etcd-setup.mjs']);
    const operator = podTemplate(find(objs, 'Deployment', 'dyn-dynamo-platform-operator')).spec.containers[0];
    expect(operator?.args).toEqual(
      expect.arrayContaining([
        '--runtime-secret=dyn-dynamo-runtime',
        `--etcd-endpoints=https://dyn-dynamo-platform-etcd.${NS}.svc:2379`,
        `--nats-server=nats://dyn-dynamo-platform-nats.${NS}.svc:4222`,
      ]),
    );
  });

  it("gives clients the runtime contract's files, signed by the servers' CA", async () => {
    const objs = await render();
    const runtime = find(objs, 'Secret', 'dyn-dynamo-runtime');
    expect(secretFiles(runtime)).toEqual([
      'etcd-ca.crt',
      'etcd-password',
      'etcd-tls.crt',
      'etcd-tls.key',
      'etcd-user',
      'nats-ca.crt',
      'nats-password',
      'nats-tls.crt',
      'nats-tls.key',
      'nats-user',
    ]);
    const credentials = find(objs, 'Secret', 'dyn-dynamo-platform-credentials');
    expect(decoded(runtime, 'nats-password')).toBe(decoded(credentials, 'nats-password'));
    expect(decoded(runtime, 'etcd-password')).toBe(decoded(credentials, 'etcd-password'));
    expect(decoded(runtime, 'etcd-password')).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(decoded(runtime, 'etcd-user')).toBe('dynamo');
    for (const server of ['nats', 'etcd']) {
      const tls = find(objs, 'Secret', `dyn-dynamo-platform-${server}-tls`);
      expect(tls.type).toBe('kubernetes.io/tls');
      expect(decoded(tls, 'ca.crt')).toBe(decoded(runtime, `${server}-ca.crt`));
      const { X509Certificate } = await import('node:crypto');
      const ca = new X509Certificate(decoded(tls, 'ca.crt'));
      const serving = new X509Certificate(decoded(tls, 'tls.crt'));
      const client = new X509Certificate(decoded(runtime, `${server}-tls.crt`));
      expect(serving.verify(ca.publicKey)).toBe(true);
      expect(client.verify(ca.publicKey)).toBe(true);
      expect(serving.subjectAltName).toContain(`DNS:dyn-dynamo-platform-${server}.${NS}.svc`);
    }
  });

  it("names files only by the runtime's fixed names, as does the operator's projection", async () => {
    const objs = await render();
    for (const f of secretFiles(find(objs, 'Secret', 'dyn-dynamo-runtime')))
      expect(RUNTIME_SECRET_FILES).toContain(f);
    type Projected = { sources: { secret: { name: string; items?: { path: string }[] } }[] };
    const projected = securityVolumes('rt').volumes.find((v) => v.name === 'dynamo-runtime')?.projected as
      | Projected
      | undefined;
    if (!projected) throw new Error('the operator projects no runtime volume');
    const sources = projected.sources;
    const tls = sources.find((x) => x.secret.name === runtimeTlsSecret('rt'));
    for (const item of tls?.secret.items ?? []) expect(RUNTIME_SECRET_FILES).toContain(item.path);
    // The etcd setup Job projects the same volume as the operator does.
    const job = podTemplate(find(objs, 'Job', 'dyn-dynamo-platform-etcd-setup-1'));
    const jobVolume = job.spec.volumes?.find((v) => v.name === 'runtime') as
      | { projected: unknown }
      | undefined;
    expect(jobVolume?.projected).toEqual({
      ...projected,
      sources: [
        { secret: { name: 'dyn-dynamo-runtime' } },
        { secret: { ...tls?.secret, name: 'dyn-dynamo-runtime-tls' } },
      ],
    });
  });

  it.each([
    ['nats.auth.enabled=false', ['nats-user', 'nats-password'], 'authorization {'],
    ['nats.tls.enabled=false', ['nats-ca.crt', 'nats-tls.crt', 'nats-tls.key'], 'tls {'],
  ])('turn off one by one: %s', async (value, absent, confPart) => {
    const objs = await render([value]);
    const files = secretFiles(find(objs, 'Secret', 'dyn-dynamo-runtime'));
    for (const f of absent) expect(files).not.toContain(f);
    expect(files.length).toBe(10 - absent.length);
    const conf = (find(objs, 'ConfigMap', 'dyn-dynamo-platform-nats').data as Record<string, string>)[
      'nats.conf'
    ];
    expect(conf).not.toContain(confPart);
  });

  it('etcd.tls.enabled=false: http and no certificates; etcd.auth.enabled=false: no setup Job', async () => {
    const noTls = await render(['etcd.tls.enabled=false']);
    const etcd = podTemplate(find(noTls, 'StatefulSet', 'dyn-dynamo-platform-etcd')).spec.containers[0];
    expect(etcd?.command).not.toContain('--client-cert-auth');
    expect(etcd?.command).toContain('--listen-client-urls=http://0.0.0.0:2379');
    expect(secretFiles(find(noTls, 'Secret', 'dyn-dynamo-runtime'))).not.toContain('etcd-tls.crt');
    expect(noTls.some((o) => o.metadata.name === 'dyn-dynamo-platform-etcd-tls')).toBe(false);
    const noAuth = await render(['etcd.auth.enabled=false']);
    expect(noAuth.filter((o) => o.kind === 'Job')).toEqual([]);
    expect(secretFiles(find(noAuth, 'Secret', 'dyn-dynamo-runtime'))).not.toContain('etcd-password');
  });

  it('with cert-manager: Certificates instead of generated ones, the client certificate in <runtime>-tls', async () => {
    const objs = await render(['certManager.enabled=true']);
    expect(
      objs.some((o) => o.metadata.name === 'dyn-dynamo-platform-runtime-ca' && o.kind === 'Secret'),
    ).toBe(false);
    const client = find(objs, 'Certificate', 'dyn-dynamo-runtime');
    expect(client.spec).toMatchObject({ secretName: 'dyn-dynamo-runtime-tls', commonName: 'dynamo' });
    expect(find(objs, 'Certificate', 'dyn-dynamo-platform-nats').spec).toMatchObject({
      secretName: 'dyn-dynamo-platform-nats-tls',
    });
    expect(secretFiles(find(objs, 'Secret', 'dyn-dynamo-runtime'))).toEqual([
      'etcd-password',
      'etcd-user',
      'nats-password',
      'nats-user',
    ]);
  });

  it('copies the runtime Secret into every graph namespace', async () => {
    const objs = await render(['graphNamespaces={team-a,team-b}']);
    const copies = objs.filter((o) => o.kind === 'Secret' && o.metadata.name === 'dyn-dynamo-runtime');
    expect(copies.map((o) => o.metadata.namespace).sort()).toEqual([NS, 'team-a', 'team-b']);
    const [first, ...rest] = copies;
    for (const c of rest) expect(c.data).toEqual(first?.data);
  });
});

describe('NetworkPolicies', () => {
  type Peer = {
    namespaceSelector?: { matchLabels?: Record<string, string> };
    podSelector?: { matchLabels?: Record<string, string> };
  };
  type Rule = { from?: Peer[]; ports?: { port: number }[] };
  type Policy = {
    podSelector: { matchLabels: Record<string, string>; matchExpressions?: unknown[] };
    ingress: Rule[];
  };
  const policy = (objs: Obj[], name: string, namespace = NS) =>
    find(objs, 'NetworkPolicy', name, namespace).spec as Policy;
  const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(selector).every(([k, v]) => labels[k] === v);
  const rulesFor = (p: Policy, port: number) =>
    p.ingress.filter((r) => r.ports?.some((x) => x.port === port));

  it('let only platform pods reach NATS and etcd, and only monitoring their metrics', async () => {
    const objs = await render(['graphNamespaces={team-a}']);
    for (const [server, port, metrics] of [
      ['nats', 4222, 8222],
      ['etcd', 2379, 2381],
    ] as const) {
      const p = policy(objs, `dyn-dynamo-platform-${server}`);
      const sts = podTemplate(find(objs, 'StatefulSet', `dyn-dynamo-platform-${server}`));
      expect(selects(p.podSelector.matchLabels, sts.metadata.labels), server).toBe(true);
      const [client] = rulesFor(p, port);
      const peers = client?.from ?? [];
      // Graph pods: by the label the operator stamps, in the graph namespaces only.
      expect(peers).toContainEqual({
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'team-a' } },
        podSelector: { matchLabels: { [LABEL.platform]: 'true' } },
      });
      // The operator's pods (same namespace) and, for etcd, the setup Job's.
      const operator = podTemplate(find(objs, 'Deployment', 'dyn-dynamo-platform-operator')).metadata.labels;
      expect(
        peers.some(
          (peer) => !peer.namespaceSelector && selects(peer.podSelector?.matchLabels ?? {}, operator),
        ),
      ).toBe(true);
      if (server === 'etcd') {
        const job = podTemplate(find(objs, 'Job', 'dyn-dynamo-platform-etcd-setup-1')).metadata.labels;
        expect(peers.some((peer) => selects(peer.podSelector?.matchLabels ?? { none: 'x' }, job))).toBe(true);
      }
      // Nothing else: every peer names pods (no namespace-wide or empty peer).
      for (const peer of peers)
        expect(Object.keys(peer.podSelector?.matchLabels ?? {}).length).toBeGreaterThan(0);
      expect(rulesFor(p, metrics)[0]?.from).toEqual([
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
          podSelector: {},
        },
      ]);
      expect(p.ingress).toHaveLength(2);
    }
  });

  it('keep the webhook port open to the API server and lock graph pods but frontends and endpoint pickers to their namespace', async () => {
    const objs = await render(['graphNamespaces={team-a}']);
    const op = policy(objs, 'dyn-dynamo-platform-operator');
    expect(rulesFor(op, 9443)).toEqual([{ ports: [{ port: 9443, protocol: 'TCP' }] }]);
    expect(rulesFor(op, 8080)[0]?.from).toHaveLength(1);
    const graph = policy(objs, 'dyn-dynamo-platform-graph-pods', 'team-a');
    expect(graph.podSelector).toEqual({
      matchLabels: { [LABEL.platform]: 'true' },
      matchExpressions: [{ key: LABEL.componentType, operator: 'NotIn', values: ['frontend', 'epp'] }],
    });
    expect(graph.ingress[0]).toEqual({
      from: [{ podSelector: { matchLabels: { [LABEL.platform]: 'true' } } }],
    });
    expect(rulesFor(graph, 9090)).toHaveLength(1);
    // No policy selects frontends: they take traffic from anywhere.
    expect(objs.filter((o) => o.kind === 'NetworkPolicy' && o.metadata.namespace === 'team-a')).toHaveLength(
      1,
    );
  });

  it('are left out with networkPolicy.enabled=false, and the monitoring peer is a value', async () => {
    expect((await render(['networkPolicy.enabled=false'])).filter((o) => o.kind === 'NetworkPolicy')).toEqual(
      [],
    );
    const objs = await render(['networkPolicy.monitoring.namespaceSelector.matchLabels.team=obs']);
    expect(rulesFor(policy(objs, 'dyn-dynamo-platform-nats'), 8222)[0]?.from?.[0]?.namespaceSelector).toEqual(
      {
        matchLabels: { 'kubernetes.io/metadata.name': 'monitoring', team: 'obs' },
      },
    );
  });
});
