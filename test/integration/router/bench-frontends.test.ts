// `dynamo bench --compare kv --frontends 1,2` as a user runs it (from source): one deployment per
// frontend count, counts above one with router replica sync and without, requests spread over the
// frontends, and the report's frontend ratios.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { sourceCli } from '../../harness/dynamo-process.js';

const run = promisify(execFile);

async function bench(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, sourceCli(['bench', ...args]), {
      maxBuffer: 16 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('dynamo bench --frontends', () => {
  it('runs each frontend count, with and without replica sync, and reports the ratios to one frontend', async () => {
    const { code, stdout, stderr } = await bench([
      ...['--compare', 'kv', '--frontends', '1,2', '--workers', '2'],
      ...['--block-size', '16', '--num-gpu-blocks', '200', '--speedup-ratio', '10'],
      ...['--groups', '2', '--prompts-per-group', '6', '--system-prompt-len', '256', '--question-len', '32'],
      ...['--output-len', '2', '--rate', '20'],
    ]);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout.trim().split('\n').at(-1) as string);
    expect(Object.keys(report.policies)).toEqual(['kv-1fe', 'kv-2fe', 'kv-2fe-nosync']);
    for (const s of Object.values(report.policies) as { errors: number; hitRate: number }[]) {
      expect(s.errors).toBe(0);
      expect(s.hitRate).toBeGreaterThan(0);
    }
    for (const key of ['hitRate2Over1', 'ttftMean2Over1', 'hitRate2Over1NoSync', 'ttftMean2Over1NoSync'])
      expect(report.ratios[key], key).toBeGreaterThan(0);
  }, 120_000);

  it('refuses --frontends with several policies or without --compare', async () => {
    const several = await bench(['--compare', 'kv,random', '--frontends', '1,2']);
    expect(several.code).not.toBe(0);
    expect(several.stderr).toContain('--frontends');
    const alone = await bench(['--url', 'http://127.0.0.1:1', '--frontends', '2']);
    expect(alone.code).not.toBe(0);
    expect(alone.stderr).toContain('--frontends');
  }, 60_000);
});
