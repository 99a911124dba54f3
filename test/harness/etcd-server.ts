// A real etcd (Debian's etcd-server) on free loopback ports, with its data in a directory of its own.
// Optionally it serves TLS (requiring client certificates) and turns authentication on after its first
// start: a root user and read-write users on every key, as `etcdctl user add / auth enable` would.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Etcd3, Range } from 'etcd3';
import type { KeyPair } from './certificates.js';
import { freePort, ServerProcess } from './process.js';

export interface EtcdServerOptions {
  binary?: string;
  /**
   * Serve https with `server`; `clientCertAuth` requires a client certificate signed by `caFile`. The
   * harness itself connects with `client` (needed to turn auth on when client certificates are required).
   */
  tls?: { server: KeyPair; caFile: string; clientCertAuth?: boolean; client?: KeyPair };
  /** Turn authentication on: root with this password, and users with read-write on every key. */
  auth?: { rootPassword: string; users: { name: string; password: string }[] };
}

export class EtcdServer {
  private process: ServerProcess | undefined;
  clientPort = 0;
  private peerPort = 0;
  // Health over plain http even when clients need TLS and certificates.
  private metricsPort = 0;
  private authEnabled = false;
  private readonly binary: string;

  constructor(
    private readonly dir: string,
    private readonly options: EtcdServerOptions = {},
  ) {
    this.binary = options.binary ?? process.env.ETCD_BIN ?? 'etcd';
  }

  get endpoint(): string {
    return `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${this.clientPort}`;
  }

  get logFile(): string {
    return join(this.dir, 'etcd.log');
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    if (this.clientPort !== 0) return this.startOn();
    // freePort's port is free when asked, not when etcd binds it: a parallel test file may take one
    // of the three meanwhile. Fresh ports then, a few times (a restart keeps its ports: no retry).
    for (let attempt = 1; ; attempt++) {
      this.clientPort = await freePort();
      this.peerPort = await freePort();
      this.metricsPort = await freePort();
      try {
        return await this.startOn();
      } catch (err) {
        const log = await readFile(this.logFile, 'utf8').catch(() => '');
        if (attempt >= 3 || !log.includes('address already in use')) throw err;
        // Its member was written with the old peer URL: start over.
        await rm(join(this.dir, 'data'), { recursive: true, force: true });
      }
    }
  }

  private async startOn(): Promise<void> {
    const client = this.endpoint;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const metrics = `http://127.0.0.1:${this.metricsPort}`;
    const tls = this.options.tls;
    this.process = new ServerProcess({
      name: 'etcd',
      command: this.binary,
      args: [
        '--name=harness',
        `--data-dir=${join(this.dir, 'data')}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=harness=${peer}`,
        `--listen-metrics-urls=${metrics}`,
        '--log-level=warn',
        '--logger=zap',
        ...(tls
          ? [
              `--cert-file=${tls.server.certFile}`,
              `--key-file=${tls.server.keyFile}`,
              `--trusted-ca-file=${tls.caFile}`,
              ...(tls.clientCertAuth ? ['--client-cert-auth'] : []),
            ]
          : []),
      ],
      logFile: this.logFile,
      ready: async () => {
        const res = await fetch(`${metrics}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      },
    });
    await this.process.start();
    if (this.options.auth && !this.authEnabled) await this.enableAuth(this.options.auth);
  }

  /** The users and roles persist in the data directory: once is enough, restarts keep them. */
  private async enableAuth(auth: NonNullable<EtcdServerOptions['auth']>): Promise<void> {
    const tls = this.options.tls;
    const client = new Etcd3({
      hosts: [this.endpoint],
      ...(tls
        ? {
            credentials: {
              rootCertificate: await readFile(tls.caFile),
              ...(tls.client
                ? { privateKey: Buffer.from(tls.client.key), certChain: Buffer.from(tls.client.cert) }
                : {}),
            },
          }
        : {}),
    });
    try {
      await client.user('root').create(auth.rootPassword);
      await client.user('root').addRole('root');
      const role = await client.role('readwrite').create();
      await role.grant({ permission: 'Readwrite', range: Range.prefix('') });
      for (const u of auth.users) {
        await client.user(u.name).create(u.password);
        await client.user(u.name).addRole(role);
      }
      await client.auth.authEnable();
      this.authEnabled = true;
    } finally {
      client.close();
    }
  }

  async stop(): Promise<void> {
    await this.process?.stop();
  }

  /** Stops and starts again on the same ports with the same data. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async kill(): Promise<void> {
    await this.process?.kill();
  }
}
