// A real kube-apiserver on a free loopback port, as controller-runtime's envtest runs one: no kubelet, no
// controller-manager, no scheduler. It stores into an etcd given to it, under a key prefix of its own, so
// it can share the harness's etcd. TLS all the way: a throwaway CA signs the serving certificate and an
// admin client certificate in group system:masters; a kubeconfig holding both is written next to them.
// The binary comes from `make setup` (scripts/build-kube-tools.sh builds it from Go modules).
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CertificateAuthority, type KeyPair } from './certificates.js';
import { freePort, ServerProcess } from './process.js';

export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const TOOLS_BIN = join(REPO_ROOT, '.cache/bin');

/** A binary that `make setup` links into .cache/bin/; `<NAME>_BIN` (e.g. KUBECTL_BIN) overrides it. */
export function kubeTool(name: 'kube-apiserver' | 'kubectl' | 'helm'): string {
  const override = process.env[`${name.replace('-', '_').toUpperCase()}_BIN`];
  return override ?? join(TOOLS_BIN, name);
}

export interface KubeApiServerOptions {
  /** Holds certificates, the kubeconfig and the log. */
  dir: string;
  etcdEndpoint: string;
  /** Key prefix in etcd; by default one of its own per instance, so several can share one etcd. */
  etcdPrefix?: string;
  binary?: string;
  /** 0 picks a free one. */
  port?: number;
  readyTimeoutMs?: number;
  /** More kube-apiserver flags (feature gates, admission plugins, ...); they come last and win. */
  extraArgs?: string[];
}

interface Credentials {
  ca: CertificateAuthority;
  admin: KeyPair;
}

export class KubeApiServer {
  private process: ServerProcess | undefined;
  private credentials: Credentials | undefined;
  port: number;
  readonly etcdPrefix: string;

  constructor(private readonly options: KubeApiServerOptions) {
    this.port = options.port ?? 0;
    this.etcdPrefix = options.etcdPrefix ?? `/kube-apiserver-${randomUUID().slice(0, 8)}`;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get kubeconfigPath(): string {
    return join(this.options.dir, 'kubeconfig');
  }

  get logFile(): string {
    return join(this.options.dir, 'kube-apiserver.log');
  }

  /** Writes credentials and kubeconfig (once; a restart keeps them), then waits for `/readyz`. */
  async start(): Promise<void> {
    const dir = this.options.dir;
    const binary = this.options.binary ?? kubeTool('kube-apiserver');
    if (!existsSync(binary)) throw new Error(`${binary} is missing: run \`make setup\`, which builds it`);
    if (this.port === 0) this.port = await freePort();
    const credentials = this.credentials ?? (await this.prepare());
    this.credentials = credentials;
    this.process = new ServerProcess({
      name: 'kube-apiserver',
      command: binary,
      args: [
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${this.port}`,
        `--etcd-servers=${this.options.etcdEndpoint}`,
        `--etcd-prefix=${this.etcdPrefix}`,
        `--cert-dir=${join(dir, 'generated')}`,
        `--tls-cert-file=${join(dir, 'pki/serving.crt')}`,
        `--tls-private-key-file=${join(dir, 'pki/serving.key')}`,
        `--client-ca-file=${credentials.ca.ca.certFile}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${join(dir, 'pki/service-account.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'pki/service-account.key')}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        // RBAC as a cluster has it; the admin certificate's group system:masters passes every check.
        '--authorization-mode=RBAC',
        // Nothing else runs that would keep the `kubernetes` Service's endpoints; save the writes.
        '--endpoint-reconciler-type=none',
        '--profiling=false',
        ...(this.options.extraArgs ?? []),
      ],
      logFile: this.logFile,
      ready: () => this.ready(),
      readyTimeoutMs: this.options.readyTimeoutMs ?? 120_000,
    });
    await this.process.start();
  }

  async stop(): Promise<void> {
    await this.process?.stop();
  }

  async kill(): Promise<void> {
    await this.process?.kill();
  }

  private async prepare(): Promise<Credentials> {
    const pki = join(this.options.dir, 'pki');
    await mkdir(pki, { recursive: true });
    const ca = await CertificateAuthority.create(pki, 'kube-apiserver-ca');
    const [, admin] = await Promise.all([
      ca.issue({
        name: 'serving',
        commonName: 'kube-apiserver',
        dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
        ipAddresses: ['127.0.0.1', '10.0.0.1'],
        usage: 'server',
      }),
      ca.issue({ name: 'admin', commonName: 'admin', organizations: ['system:masters'], usage: 'client' }),
    ]);
    // Signs service-account tokens (the private key) and verifies them (the public one).
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(join(pki, 'service-account.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    await writeFile(join(pki, 'service-account.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(this.kubeconfigPath, kubeconfig(this.url, ca.bundle, admin), { mode: 0o600 });
    return { ca, admin };
  }

  /** `/readyz` answers 200 once etcd is reachable and every post-start hook (RBAC bootstrap, ...) ran. */
  private ready(): Promise<boolean> {
    const credentials = this.credentials;
    if (!credentials) return Promise.resolve(false);
    return new Promise((resolve) => {
      const req = request(
        `${this.url}/readyz`,
        {
          ca: credentials.ca.ca.cert,
          cert: credentials.admin.cert,
          key: credentials.admin.key,
          timeout: 2_000,
        },
        (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
  }
}

/** A kubeconfig with one context, `dynamo-test`, as admin. JSON is valid YAML, which kubeconfigs are. */
function kubeconfig(server: string, caBundle: string, admin: KeyPair): string {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'dynamo-test', cluster: { server, 'certificate-authority-data': caBundle } }],
    users: [
      {
        name: 'admin',
        user: {
          'client-certificate-data': Buffer.from(admin.cert).toString('base64'),
          'client-key-data': Buffer.from(admin.key).toString('base64'),
        },
      },
    ],
    contexts: [
      { name: 'dynamo-test', context: { cluster: 'dynamo-test', user: 'admin', namespace: 'default' } },
    ],
    'current-context': 'dynamo-test',
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}
