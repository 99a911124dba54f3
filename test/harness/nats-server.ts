// A real NATS server (Debian's nats-server) with JetStream, on free loopback ports.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, ServerProcess } from './process.js';

export class NatsServer {
  private process: ServerProcess | undefined;
  port = 0;
  private monitorPort = 0;

  constructor(
    private readonly dir: string,
    // Debian installs it under /usr/sbin, which is not on every user's PATH.
    private readonly binary = process.env.NATS_SERVER_BIN ??
      (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server'),
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get logFile(): string {
    return join(this.dir, 'nats.log');
  }

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    if (this.port === 0) {
      this.port = await freePort();
      this.monitorPort = await freePort();
    }
    this.process = new ServerProcess({
      name: 'nats-server',
      command: this.binary,
      args: [
        '-a',
        '127.0.0.1',
        '-p',
        String(this.port),
        '-m',
        String(this.monitorPort),
        '-js',
        '-sd',
        join(this.dir, 'jetstream'),
      ],
      logFile: this.logFile,
      ready: async () => (await fetch(`http://127.0.0.1:${this.monitorPort}/healthz`)).ok,
    });
    await this.process.start();
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
