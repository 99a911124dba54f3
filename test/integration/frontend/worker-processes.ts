// `dynamo worker` child processes for the frontend's integration tests, on the harness's etcd and NATS.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { inject } from 'vitest';
import { z } from 'zod';
import { harnessTempDir } from '../../harness/temp-dir.js';

const REPO_ROOT = join(import.meta.dirname, '../../..');
const logLine = z.looseObject({ msg: z.string() });

export interface WorkerProcess {
  child: ChildProcess;
  instanceId: string;
  exited: Promise<number | null>;
}

/** Starts `dynamo worker` with `args` in `namespace`; resolves once it serves. */
export async function spawnWorker(namespace: string, args: string[]): Promise<WorkerProcess> {
  const logFile = join(await harnessTempDir('frontend-worker'), 'worker.log');
  const child = spawn(
    process.execPath,
    [
      '--experimental-transform-types',
      '--no-warnings',
      '--import',
      join(REPO_ROOT, 'test/harness/ts-resolve.ts'),
      join(REPO_ROOT, 'src/cli/main.ts'),
      'worker',
      '--system-port',
      '0',
      ...args,
    ],
    {
      env: {
        ...process.env,
        DYN_NAMESPACE: namespace,
        ETCD_ENDPOINTS: inject('etcdEndpoint'),
        NATS_SERVER: inject('natsUrl'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stderr?.pipe(createWriteStream(logFile));
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let instanceId = '';
  for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue; // not a log line
    }
    const entry = logLine.safeParse(parsed);
    if (entry.success && entry.data.msg === 'worker serving') {
      instanceId = String(entry.data.instanceId);
      break;
    }
  }
  if (instanceId === '') throw new Error(`the worker exited before serving:\n${stderrTail}`);
  // Keep draining stdout so the child never blocks on a full pipe.
  child.stdout?.resume();
  return { child, instanceId, exited };
}
