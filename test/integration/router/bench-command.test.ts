// `dynamo bench --compare` as a user runs it: a deployment per policy started in the process, the same
// seeded workload played against each, the JSON report (file and last stdout line) and the SVG plot.
// The workload makes round-robin thrash: each worker's cache holds one system prompt, and round-robin
// sends both to both workers; kv keeps each prompt family on one worker.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDynamo } from '../../harness/dynamo-process.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

const runBench = (args: readonly string[]) => runDynamo(['bench', ...args]);

describe('dynamo bench --compare', () => {
  it('reports each policy, the oracle, the ratios and the deployment; kv keeps prompt families on their workers', async () => {
    const dir = await harnessTempDir('bench');
    const out = join(dir, 'report.json');
    const svg = join(dir, 'ttft.svg');
    const { code, stdout, stderr } = await runBench([
      ...['--compare', 'kv,round-robin', '--workers', '2', '--engine', 'mocker'],
      ...['--block-size', '16', '--num-gpu-blocks', '40', '--speedup-ratio', '10'],
      ...['--groups', '2', '--prompts-per-group', '8', '--system-prompt-len', '512', '--question-len', '32'],
      ...['--output-len', '2', '--rate', '10', '--seed', '3'],
      ...['--out', out, '--svg', svg],
    ]);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(await readFile(out, 'utf8'));
    expect(JSON.parse(stdout.trim().split('\n').at(-1) as string)).toEqual(report);
    expect(report.workload).toMatchObject({ kind: 'shared-prefix', groups: 2, promptsPerGroup: 8, rate: 10 });
    expect(report.deployment).toMatchObject({
      workers: 2,
      engine: 'mocker',
      mocker: { speedupRatio: 10, numGpuBlocks: 40 },
      router: { overlapScoreWeight: 1, temperature: 0 },
    });
    for (const policy of ['kv', 'round-robin']) {
      expect(report.policies[policy]).toMatchObject({ requests: 16, errors: 0 });
      expect(report.policies[policy].ttftMs.mean).toBeGreaterThan(0);
    }
    // Two first touches of a 544-token prompt's 512-token prefix miss; everything else can hit.
    expect(report.oracleHitRate).toBeGreaterThan(0.8);
    expect(report.hitRate.kv).toBeGreaterThanOrEqual(0.9 * report.oracleHitRate);
    expect(report.hitRate.kv).toBeGreaterThan(report.hitRate['round-robin']);
    expect(report.ratios.kvHitRateOverOracle).toBeGreaterThanOrEqual(0.9);
    expect(report.ratios.ttftMeanKvOverRoundRobin).toBeGreaterThan(0);
    const plot = await readFile(svg, 'utf8');
    expect(plot).toMatch(/^<svg/);
    expect(plot).toContain('round-robin');
  }, 120_000);

  it('plays multi-turn chats, each turn after the previous answer, with its own default system prompt', async () => {
    const { code, stdout, stderr } = await runBench([
      ...['--compare', 'kv', '--workers', '2', '--engine', 'mocker', '--speedup-ratio', '10'],
      // One session per worker, so a turn's holder is never busy with another session's prefill (DESIGN
      // §7's cost would then rightly send the turn elsewhere, depending on timing).
      ...['--workload', 'multi-turn', '--sessions', '2', '--turns', '4', '--question-len', '64'],
      ...['--output-len', '4', '--rate', '10'],
    ]);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout.trim().split('\n').at(-1) as string);
    expect(report.workload).toMatchObject({
      kind: 'multi-turn',
      sessions: 2,
      turns: 4,
      systemPromptLen: 1024,
    });
    expect(report.policies.kv).toMatchObject({ requests: 8, errors: 0 });
    // Turns 2 to 4 extend their session's conversation: the oracle can serve it from cache, and kv
    // follows the session to the worker that has it.
    expect(report.oracleHitRate).toBeGreaterThan(0.5);
    expect(report.ratios.kvHitRateOverOracle).toBeGreaterThanOrEqual(0.9);
  }, 120_000);

  it('refuses a policy it does not know, naming the flag', async () => {
    const { code, stderr } = await runBench(['--compare', 'kv,fastest']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--compare/);
  });
});
