// A real NATS server (Debian's nats-server) with JetStream, on free loopback ports. Optionally it
// requires TLS (and client certificates) and credentials: users with passwords or NKeys, or one token.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyPair } from './certificates.js';
import type { NatsOperator } from './nats-jwt.js';
import { freePort, ServerProcess, startOnFreePorts } from './process.js';

export type NatsUser = { user: string; password: string } | { nkey: string };

export interface NatsServerOptions {
  /** Debian installs it under /usr/sbin, which is not on every user's PATH. */
  binary?: string;
  /** Serve TLS with this certificate; `verify` also requires a client certificate signed by `caFile`. */
  tls?: { server: KeyPair; caFile: string; verify?: boolean };
  /**
   * Who may connect: users (password or NKey public key), one token, or the users of an operator's
   * account (JWTs, nats-jwt.ts); anyone when absent.
   */
  auth?: { users: NatsUser[] } | { token: string } | { operator: NatsOperator };
  /** Where its ports come from (freePort); the harness's own test hands out a taken one first. */
  pickPort?: () => Promise<number>;
}

export class NatsServer {
  private process: ServerProcess | undefined;
  port = 0;
  private monitorPort = 0;
  private readonly binary: string;

  constructor(
    private readonly dir: string,
    private readonly options: NatsServerOptions = {},
  ) {
    this.binary =
      options.binary ??
      process.env.NATS_SERVER_BIN ??
      (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server');
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get logFile(): string {
    return join(this.dir, 'nats.log');
  }

  /** On fresh ports, again on others if one was taken meanwhile; a restart keeps its ports. */
  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    if (this.port !== 0) return this.startOn();
    try {
      await startOnFreePorts(
        2,
        ([port = 0, monitorPort = 0]) => {
          this.port = port;
          this.monitorPort = monitorPort;
          return this.startOn();
        },
        { pick: this.options.pickPort ?? freePort },
      );
    } catch (err) {
      this.port = 0;
      throw err;
    }
  }

  private async startOn(): Promise<void> {
    const configFile = join(this.dir, 'nats.conf');
    await writeFile(configFile, this.config());
    this.process = new ServerProcess({
      name: 'nats-server',
      command: this.binary,
      args: ['-c', configFile],
      logFile: this.logFile,
      ready: async () => (await fetch(`http://127.0.0.1:${this.monitorPort}/healthz`)).ok,
    });
    await this.process.start();
  }

  /** nats-server's config format takes JSON strings as values. */
  private config(): string {
    const q = JSON.stringify;
    const lines = [
      `listen: ${q(`127.0.0.1:${this.port}`)}`,
      `http: ${q(`127.0.0.1:${this.monitorPort}`)}`,
      `jetstream { store_dir: ${q(join(this.dir, 'jetstream'))} }`,
    ];
    const { tls, auth } = this.options;
    if (tls) {
      lines.push(
        `tls { cert_file: ${q(tls.server.certFile)}, key_file: ${q(tls.server.keyFile)}, ca_file: ${q(tls.caFile)}, verify: ${tls.verify ?? false}, timeout: 2 }`,
      );
    }
    if (auth && 'token' in auth) lines.push(`authorization { token: ${q(auth.token)} }`);
    else if (auth && 'operator' in auth) {
      const { operatorJwt, account, systemAccount: sys } = auth.operator;
      lines.push(
        `operator: ${q(operatorJwt)}`,
        `system_account: ${sys.publicKey}`,
        'resolver: MEMORY',
        `resolver_preload: { ${account.publicKey}: ${q(account.jwt)}, ${sys.publicKey}: ${q(sys.jwt)} }`,
      );
    } else if (auth) {
      const users = auth.users.map((u) =>
        'nkey' in u ? `{ nkey: ${q(u.nkey)} }` : `{ user: ${q(u.user)}, password: ${q(u.password)} }`,
      );
      lines.push(`authorization { users: [ ${users.join(', ')} ] }`);
    }
    return `${lines.join('\n')}\n`;
  }

  async stop(): Promise<void> {
    await this.process?.stop();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async kill(): Promise<void> {
    await this.process?.kill();
  }
}
