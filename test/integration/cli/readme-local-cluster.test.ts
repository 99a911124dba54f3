// The README's several-processes example, run as written: etcd, NATS, one frontend and two workers on
// fixed ports, from a shell in the repository root. It runs in a network namespace of its own (as root),
// so its fixed ports cannot meet those of other tests; the probe inside checks what the README promises.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PROBE = 'test/integration/cli/local-cluster-probe.mjs';

function readmeBlock(): string {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8');
  const m = /<!-- local-cluster:begin[^>]*-->\n```sh\n([\s\S]*?)```\n<!-- local-cluster:end -->/.exec(readme);
  if (!m?.[1]) throw new Error('README.md: the local-cluster block is missing');
  return m[1];
}

const isolated = spawnSync('unshare', ['--net', 'true']).status === 0;

it('runs the README example: two workers join one frontend and a chat request is served', async () => {
  const script = [
    isolated ? 'ip link set lo up' : ':',
    readmeBlock(),
    `"${process.execPath}" ${PROBE}; status=$?`,
    'kill $(jobs -p) 2>/dev/null; wait',
    'exit $status',
  ].join('\n');
  const [command, args] = isolated ? ['unshare', ['--net', 'bash', '-c', script]] : ['bash', ['-c', script]];
  const child = spawn(command, args, { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const status = await new Promise<number | null>((resolve) => child.on('exit', resolve)).finally(() => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // the group is gone already
    }
  });
  expect(status, `stdout:\n${stdout.slice(-4000)}\nstderr:\n${stderr.slice(-4000)}`).toBe(0);
  // The processes log to stdout too: the probe's line is the one it marks.
  const line = stdout.split('\n').find((l) => l.startsWith('probe: ')) ?? '';
  const result = JSON.parse(line.slice('probe: '.length)) as {
    instances: string[];
    workers: number[];
    finishReason: string;
  };
  expect(new Set(result.instances).size).toBe(2);
  expect(result.workers).toEqual([200, 200]);
  expect(['stop', 'length']).toContain(result.finishReason);
}, 180_000);
