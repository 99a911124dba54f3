// What a fresh machine meets first: the install list covers every tool the project calls (the check
// `make test` runs, shown here to catch a package left to a Recommends), and the `dynamo` entry point
// on an unsupported Node.js says what to run instead of crashing inside a dependency.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function run(command: string, args: string[]) {
  const r = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const installList = (): string[] =>
  run('scripts/install-system-packages.sh', ['--list']).stdout.trim().split('\n');

// apt-cache's recursive listing takes seconds on a loaded machine.
describe('scripts/check-system-tools.sh', { timeout: 60_000 }, () => {
  it('passes with the install list', () => {
    expect(run('scripts/check-system-tools.sh', [])).toMatchObject({ status: 0 });
  });

  it('names the tool and the package when a package is missing from the list (rust-lld → lld-14)', () => {
    const without = installList().filter((p) => p !== 'lld-14');
    const r = run('scripts/check-system-tools.sh', ['--packages', without.join(' ')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/rust-lld.*'lld-14'/);
  });

  it('flags a service whose package is not listed (etcd → etcd-server)', () => {
    const without = installList().filter((p) => p !== 'etcd-server');
    const r = run('scripts/check-system-tools.sh', ['--packages', without.join(' ')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/etcd: .*'etcd-server'/);
  });

  it('keeps the run-only list inside the full one, without Rust (the WASM package is checked in)', () => {
    const all = new Set(installList());
    const runOnly = run('scripts/install-system-packages.sh', ['--list-run']).stdout.trim().split('\n');
    expect(runOnly).toContain('make');
    expect(runOnly).not.toContain('rustc');
    expect(all.has('lld-14')).toBe(true);
    for (const pkg of runOnly) expect(all.has(pkg)).toBe(true);
  });
});

describe('make run', () => {
  it('sets up only what serving needs: npm, the build — no Rust, no Go builds, no test services', () => {
    // -B: as on a fresh clone, every step that would run; -n: print, run nothing.
    const r = run('make', ['-nB', 'run']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^npm ci/m);
    expect(r.stdout).not.toMatch(
      /install-system-packages|build-kube-tools|build-wasm|vendor-wasm|cargo|--all|\bgo (build|install)\b/,
    );
    expect(r.stdout).toMatch(/node bin\/dynamo\.js run/);
  });
});

// The machine's own Node.js (what a newcomer types `node` for) is not the pinned one.
const systemNode = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => {
  if (!existsSync(p)) return false;
  const v = spawnSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
  return v !== '' && !v.startsWith('24.');
});

describe('bin/dynamo.js on another Node.js', () => {
  it.skipIf(systemNode === undefined)('says which Node.js it needs and how to run it', () => {
    const r = run(systemNode as string, ['bin/dynamo.js', 'run', '--help']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/needs Node\.js 24/);
    expect(r.stderr).toMatch(/npx dynamo/);
    expect(r.stderr).not.toMatch(/TypeError|at .*\(node:/);
  });
});
