// `dynamo worker` as a child process run from source, on the harness's etcd and NATS; resolves once the
// worker serves, with what its JSON log said: the instance id and the system server's port.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { inject } from 'vitest';
import { z } from 'zod';
import { sourceCli } from './dynamo-process.js';
import { harnessTempDir } from './temp-dir.js';

const logLine = z.looseObject({ msg: z.string() });

export interface WorkerProcess {
  child: ChildProcess;
  instanceId: string;
  /** The port of /live, /health, /metrics (the worker runs with --system-port 0). */
  systemPort: number;
  exited: Promise<number | null>;
}

/**
 * Starts `dynamo worker --system-port 0 <args>` in `namespace`; its stderr goes to `<name>.log`. `env`
 * overrides the worker's environment (another etcd or NATS than the harness's, say).
 */
export async function spawnWorker(
  namespace: string,
  args: string[],
  name = 'worker',
  env: Readonly<Record<string, string>> = {},
): Promise<WorkerProcess> {
  const logFile = join(await harnessTempDir(name), `${name}.log`);
  const child = spawn(process.execPath, sourceCli(['worker', '--system-port', '0', ...args]), {
    env: {
      ...process.env,
      DYN_NAMESPACE: namespace,
      ETCD_ENDPOINTS: inject('etcdEndpoint'),
      NATS_SERVER: inject('natsUrl'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr?.pipe(createWriteStream(logFile));
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let instanceId = '';
  let systemPort = 0;
  // JSON log lines: the system server's port, then "worker serving" with the instance id.
  for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue; // not a log line
    }
    const entry = logLine.safeParse(parsed);
    if (!entry.success) continue;
    if (entry.data.msg === 'system server listening') systemPort = Number(entry.data.port);
    if (entry.data.msg === 'worker serving') {
      instanceId = String(entry.data.instanceId);
      break;
    }
  }
  if (instanceId === '') throw new Error(`the worker exited before serving:\n${stderrTail}`);
  // Keep draining stdout so the child never blocks on a full pipe.
  child.stdout?.resume();
  return { child, instanceId, systemPort, exited };
}
