// The wasm-pack package checked in at crates-wasm/pkg/ (what `make run` loads, so that it needs no Rust)
// must be what the current sources build: this rebuilds it with scripts/build-wasm-pkg.sh from a copy of
// the crate at another path (which also proves the build does not depend on where the clone is) and
// compares every file. A mismatch names the files; `make wasm-pkg` regenerates the package.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PKG = join(ROOT, 'crates-wasm', 'pkg');
const SCRIPTS = ['build-wasm-pkg.sh', 'vendor-wasm-crates.sh', 'build-wasm-tools.sh'];
const CRATE_FILES = ['Cargo.toml', 'Cargo.lock', '.cargo', 'src'];

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
}

describe('crates-wasm/pkg', () => {
  it('keeps the module within its 400 KB budget', () => {
    expect(statSync(join(PKG, 'dynamo_wasm_bg.wasm')).size).toBeLessThanOrEqual(400 * 1024);
  });

  it(
    'is what the current sources build (else run `make wasm-pkg`)',
    () => {
      const clone = mkdtempSync(join(tmpdir(), 'dynamo-wasm-pkg-'));
      try {
        for (const f of SCRIPTS) cpSync(join(ROOT, 'scripts', f), join(clone, 'scripts', f));
        for (const f of CRATE_FILES) {
          cpSync(join(ROOT, 'crates-wasm', f), join(clone, 'crates-wasm', f), { recursive: true });
        }
        const out = join(clone, 'pkg');
        const r = spawnSync('scripts/build-wasm-pkg.sh', [out], { cwd: clone, encoding: 'utf8' });
        expect(r.status, `scripts/build-wasm-pkg.sh failed:\n${r.stdout}${r.stderr}`).toBe(0);

        const built = files(out);
        const checkedIn = files(PKG);
        const stale = [...new Set([...built, ...checkedIn])]
          .filter((f) => {
            if (!built.includes(f) || !checkedIn.includes(f)) return true;
            return !readFileSync(join(out, f)).equals(readFileSync(join(PKG, f)));
          })
          .map((f) => relative(ROOT, join(PKG, f)));
        expect(stale, 'these files differ from a fresh build: run `make wasm-pkg`').toEqual([]);
      } finally {
        rmSync(clone, { recursive: true, force: true });
      }
    },
    15 * 60_000,
  );
});
