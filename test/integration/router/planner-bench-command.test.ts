// `dynamo bench --planner` as a user runs it, tiny: a given profile, one short period of a 4× sine on
// mockers at a high speedup. Only the report's shape is checked (never wall-clock figures): three runs,
// sizing, the ratios the issue names, and the JSON on the last stdout line equal to the file.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDynamo } from '../../harness/dynamo-process.js';
import { testProfile } from '../../harness/planner-profile.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

const PROFILE = testProfile(
  {
    prefill: [
      { isl: 128, ttftMs: 1, tokensPerSecond: 4_000 },
      { isl: 1024, ttftMs: 5, tokensPerSecond: 4_000 },
    ],
    decode: [
      { contextLength: 512, concurrency: 1, itlMs: 0.5, tokensPerSecond: 2000 },
      { contextLength: 512, concurrency: 8, itlMs: 0.6, tokensPerSecond: 13_000 },
    ],
  },
  { maxNumBatchedTokens: 512 },
);

const runBench = (args: readonly string[]) => runDynamo(['bench', ...args]);

describe('dynamo bench --planner', () => {
  it('reports the planner against static peak and static mean, with the ratios', async () => {
    const dir = await harnessTempDir('planner-bench');
    const profile = join(dir, 'profile.json');
    const out = join(dir, 'report.json');
    await writeFile(profile, JSON.stringify(PROFILE));
    const { code, stdout, stderr } = await runBench([
      ...['--planner', '--profile', profile, '--speedup-ratio', '20', '--max-num-batched-tokens', '512'],
      ...['--trough-rate', '2', '--peak-rate', '8', '--period', '4', '--periods', '1'],
      ...['--input-len', '512', '--output-len', '4', '--adjustment-interval', '1', '--load-interval', '1'],
      ...['--out', out],
    ]);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(await readFile(out, 'utf8'));
    expect(JSON.parse(stdout.trim().split('\n').at(-1) as string)).toEqual(report);
    expect(report).toMatchObject({
      bench: 'planner',
      load: { troughRate: 2, peakRate: 8, periodS: 4, periods: 1, inputLen: 512, outputLen: 4 },
      profile: { source: 'given' },
      planner: { adjustmentIntervalS: 1, loadIntervalS: 1 },
    });
    expect(report.sizing.staticPeak).toBeGreaterThanOrEqual(report.sizing.staticMean);
    // The statics are sized with the planner's prefill correction (1 when it measured nothing).
    expect(report.sizing.prefillCorrection).toBeGreaterThan(0);
    for (const run of ['planner', 'staticPeak', 'staticMean']) {
      expect(report.runs[run].requests).toBe(report.load.requests);
      expect(report.runs[run].replicaSeconds).toBeGreaterThan(0);
      expect(report.runs[run].slaAttainment).toBeGreaterThanOrEqual(0);
      expect(report.runs[run].slaAttainment).toBeLessThanOrEqual(1);
    }
    for (const key of ['slaAttainment', 'staticMeanSlaAttainment', 'replicaSecondsOverStaticPeak'])
      expect(typeof report.ratios[key]).toBe('number');
  });
});
