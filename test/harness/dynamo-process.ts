// `dynamo <command>` as a child process, the way a container would run it: the built CLI (dist/, made
// by `make build`), its own env, output in a log file of the harness directory.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { harnessTempDir } from './temp-dir.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'dynamo.js');

/**
 * Node arguments that run `dynamo <args>` from source (src/cli/main.ts through the harness's TypeScript
 * resolver): for tests of the CLI that must not depend on a build.
 */
export function sourceCli(args: readonly string[]): string[] {
  return [
    '--experimental-transform-types',
    '--no-warnings',
    '--import',
    join(ROOT, 'test', 'harness', 'ts-resolve.ts'),
    join(ROOT, 'src', 'cli', 'main.ts'),
    ...args,
  ];
}

export interface DynamoProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  /** SIGTERM and wait (SIGKILL after graceMs). */
  stop(graceMs?: number): Promise<number | null>;
  kill(): Promise<number | null>;
}

export async function startDynamo(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  name = args[0] ?? 'dynamo',
): Promise<DynamoProcess> {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `make build` before the tests that start dynamo processes');
  }
  const logFile = join(await harnessTempDir(name), `${name}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, DYN_LOG: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (graceMs = 10_000) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    }
    return exited;
  };
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  };
  return { child, logFile, exited, stop, kill };
}

/** Polls until `check` is true; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** waitFor, failing at once with the log's tail when one of `procs` exits meanwhile. */
export async function waitAlive(
  procs: readonly DynamoProcess[],
  check: () => Promise<boolean>,
  what: string,
  timeoutMs?: number,
): Promise<void> {
  let dead: DynamoProcess | undefined;
  await waitFor(
    async () => {
      dead = procs.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
      return dead !== undefined || (await check());
    },
    what,
    timeoutMs,
  );
  if (dead) {
    const log = await readFile(dead.logFile, 'utf8').catch(() => '');
    throw new Error(`${basename(dead.logFile)} exited while waiting for ${what}:\n${log.slice(-2000)}`);
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `dynamo <args>` from the build (dist/), run to its exit: its status and all it printed. */
export function runDynamo(args: readonly string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
