// There is no Docker engine here, so the Dockerfile is checked statically: every path it copies must
// exist after `make build` (which `make test` runs first), and it must build on the pinned Node.js.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const copies = dockerfile
  .split('\n')
  .filter((line) => line.startsWith('COPY '))
  .map((line) => line.split(/\s+/).slice(1));

describe('Dockerfile', () => {
  it('copies only paths that exist in the checkout after make build', () => {
    const missing: string[] = [];
    let checked = 0;
    for (const words of copies) {
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const args = words.filter((w) => !w.startsWith('--'));
      const sources = args.slice(0, -1);
      if (from === undefined) {
        for (const src of sources.filter((s) => s !== '.')) {
          checked++;
          if (!existsSync(join(root, src))) missing.push(src);
        }
      } else if (from === 'build' || from === 'deps') {
        // /src of the build stages is the checkout; node_modules of `deps` is the npm ci output.
        for (const src of sources.filter((s) => s.startsWith('/src/'))) {
          checked++;
          if (!existsSync(join(root, src.slice('/src/'.length)))) missing.push(src);
        }
      }
    }
    expect(checked).toBeGreaterThan(5);
    expect(missing).toEqual([]);
  });

  it('uses the Node.js version the project pins', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      devDependencies: { node: string };
    };
    const pinned = readFileSync(join(root, '.node-version'), 'utf8').trim();
    expect(pkg.devDependencies.node.replace(/^[\^~]/, '')).toBe(pinned);
    expect(dockerfile).toContain(`ARG NODE_VERSION=${pinned}`);
  });

  it('runs as a non-root user', () => {
    expect(dockerfile).toMatch(/^USER (?!0\b|root\b)\S+/m);
  });
});
