// A real server process for tests: spawned with its output appended to a log file in its directory,
// waited on until a readiness probe passes, stopped with SIGTERM (SIGKILL after a grace period).
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';

/** A port that was free a moment ago on 127.0.0.1 (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port assigned'));
      });
    });
  });
}

/** A server that exited before it was ready; `output` is the end of what it printed. */
export class ServerExitedError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

/**
 * Starts a server on `count` ports from `pick`, and again on fresh ones (up to `attempts` in all) when
 * it exits during start because one was taken: freePort's port is free when asked, not when the server
 * binds it, and parallel test files ask too. Any other failure is thrown at once.
 */
export async function startOnFreePorts<T>(
  count: number,
  start: (ports: number[]) => Promise<T>,
  { attempts = 3, pick = freePort }: { attempts?: number; pick?: () => Promise<number> } = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) ports.push(await pick());
    try {
      return await start(ports);
    } catch (err) {
      const bindFailure = err instanceof ServerExitedError && /address already in use/i.test(err.output);
      if (!bindFailure || attempt >= attempts) throw err;
    }
  }
}

export interface ServerProcessOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  /** Resolves true once the server answers. */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// What a start error quotes of the server's output, and how much of it is kept.
const TAIL_LINES = 20;
const TAIL_CHARS = 16_384;

export class ServerProcess {
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private exited: Promise<void> = Promise.resolve();
  private closed: Promise<void> = Promise.resolve();
  private output = '';

  constructor(private readonly options: ServerProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.options.name} is already running`);
    const log = createWriteStream(this.options.logFile, { flags: 'a' });
    this.log = log;
    log.write(`--- ${new Date().toISOString()} ${this.options.command} ${this.options.args.join(' ')}\n`);
    const child = spawn(this.options.command, this.options.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: this.options.env ?? process.env,
    });
    this.child = child;
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    this.output = '';
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-TAIL_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    // 'exit' may come before the last output is read; 'close' comes after it.
    this.closed = new Promise((resolve) => child.once('close', () => resolve()));
    let spawnError: Error | undefined;
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        spawnError = err;
        resolve();
      });
      child.once('exit', () => resolve());
    });
    const deadline = Date.now() + (this.options.readyTimeoutMs ?? 30_000);
    while (Date.now() < deadline) {
      if (spawnError)
        throw new Error(`${this.options.name}: cannot start ${this.options.command}: ${spawnError.message}`);
      if (!this.running) {
        await Promise.race([this.closed, sleep(1_000)]);
        const tail = this.output.trimEnd().split('\n').slice(-TAIL_LINES).join('\n');
        throw new ServerExitedError(
          `${this.options.name} exited during start (code ${child.exitCode}, signal ${child.signalCode}); the end of ${this.options.logFile}:\n${tail}`,
          this.output,
        );
      }
      if (await this.options.ready().catch(() => false)) return;
      await sleep(50);
    }
    await this.stop();
    throw new Error(`${this.options.name} not ready in time; see ${this.options.logFile}`);
  }

  /** SIGTERM, then SIGKILL after graceMs. */
  async stop(graceMs = 5_000): Promise<void> {
    const child = this.child;
    if (child && this.running) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    await this.exited;
    this.child = undefined;
    const log = this.log;
    this.log = undefined;
    if (log) await new Promise<void>((resolve) => log.end(resolve));
  }

  /** Dies at once, as a crashed or OOM-killed process would. */
  async kill(): Promise<void> {
    if (this.child && this.running) this.child.kill('SIGKILL');
    await this.stop(0);
  }
}
