// A real etcd (Debian's etcd-server) on free loopback ports, with its data in a directory of its own.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, ServerProcess } from './process.js';

export class EtcdServer {
  private process: ServerProcess | undefined;
  clientPort = 0;
  private peerPort = 0;

  constructor(
    private readonly dir: string,
    private readonly binary = process.env.ETCD_BIN ?? 'etcd',
  ) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  get logFile(): string {
    return join(this.dir, 'etcd.log');
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    if (this.clientPort === 0) {
      this.clientPort = await freePort();
      this.peerPort = await freePort();
    }
    const client = `http://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
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
        '--log-level=warn',
        '--logger=zap',
      ],
      logFile: this.logFile,
      ready: async () => {
        const res = await fetch(`${client}/health`);
        return res.ok && ((await res.json()) as { health?: string }).health === 'true';
      },
    });
    await this.process.start();
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
