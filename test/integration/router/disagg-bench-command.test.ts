// `dynamo bench --compare agg,disagg` as a user runs it: an aggregated deployment and every
// prefill/decode split of the same worker count started in the process, one seeded long-prompt workload
// played against each, the JSON report (file and last stdout line). Small and fast: the shape of the
// report is checked, never its wall-clock figures. The pure parts (best split, metrics parsing) are
// checked on plain data.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  everySplit,
  parsePrefillCounts,
  pickBest,
  type TopologySummary,
  topologyName,
} from '../../../src/bench/disagg-bench.js';
import { runDynamo } from '../../harness/dynamo-process.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

const runBench = (args: readonly string[]) => runDynamo(['bench', ...args]);

const SPLITS = ['1p2d', '2p1d'];

describe('dynamo bench --compare agg,disagg', () => {
  it('reports agg and every split of the workers, with ratios of the best split and no local prefill', async () => {
    const dir = await harnessTempDir('disagg-bench');
    const out = join(dir, 'report.json');
    const { code, stdout, stderr } = await runBench([
      ...['--compare', 'agg,disagg', '--workers', '3', '--speedup-ratio', '10'],
      // Prompts above --max-local-prefill-length: every one is prefilled on a prefill worker.
      ...['--requests', '12', '--input-len', '256', '--output-len', '8', '--rate', '20', '--seed', '5'],
      ...['--max-local-prefill-length', '64', '--out', out],
    ]);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(await readFile(out, 'utf8'));
    expect(JSON.parse(stdout.trim().split('\n').at(-1) as string)).toEqual(report);
    expect(report).toMatchObject({
      bench: 'disagg',
      workload: { kind: 'random', requests: 12, inputLen: 256, outputLen: 8, rate: 20, seed: 5 },
      rate: { requestsPerSec: 20, chosen: 'given' },
      deployment: {
        workers: 3,
        engine: 'mocker',
        mocker: { speedupRatio: 10 },
        disagg: { maxLocalPrefillLength: 64 },
      },
    });
    expect(Object.keys(report.runs)).toEqual(['agg', ...SPLITS]);
    expect(report.runs.agg).toMatchObject({ requests: 12, errors: 0, prefillWorkers: 0, decodeWorkers: 0 });
    expect(report.runs['1p2d']).toMatchObject({ prefillWorkers: 1, decodeWorkers: 2 });
    expect(report.runs['2p1d']).toMatchObject({ prefillWorkers: 2, decodeWorkers: 1 });
    for (const name of ['agg', ...SPLITS]) {
      const run = report.runs[name];
      expect(run).toMatchObject({ requests: 12, errors: 0 });
      expect(run.outputTokensPerSec).toBeGreaterThan(0);
      for (const stat of [run.ttftMs, run.itlMs, run.tpotMs]) {
        expect(Object.keys(stat).sort()).toEqual(['mean', 'p50', 'p90', 'p99']);
        expect(stat.p99).toBeGreaterThanOrEqual(stat.p50);
      }
      expect(run.tokensPerChunk).toBeGreaterThanOrEqual(1);
      expect(run.eventLoopDelayMs.max).toBeGreaterThanOrEqual(0);
    }
    // Every measured prompt went to a prefill worker: the splits measured disaggregation, not a fallback.
    for (const name of SPLITS) {
      expect(report.runs[name].prefills.remote).toBe(12);
      const local = Object.values(report.runs[name].prefills.local as Record<string, number>);
      expect(local.reduce((s, n) => s + n, 0)).toBe(0);
    }
    expect(SPLITS).toContain(report.best.name);
    expect(['itl-p99-at-throughput', 'throughput']).toContain(report.best.by);
    expect(report.ratios.itlP99DisaggOverAgg).toBeGreaterThan(0);
    expect(report.ratios.throughputDisaggOverAgg).toBeGreaterThan(0);
    expect(report.ratios.itlP99DisaggOverAgg).toBe(report.ratios.splits[report.best.name].itlP99OverAgg);
    expect(Object.keys(report.ratios.splits)).toEqual(SPLITS);
  }, 120_000);

  it('runs only the splits asked for, and no ratios without agg', async () => {
    const { code, stdout, stderr } = await runBench([
      ...['--compare', 'disagg', '--workers', '2', '--splits', '1:1', '--speedup-ratio', '10'],
      ...[
        '--requests',
        '4',
        '--input-len',
        '128',
        '--output-len',
        '4',
        '--rate',
        '20',
        '--max-local-prefill-length',
        '0',
      ],
    ]);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout.trim().split('\n').at(-1) as string);
    expect(Object.keys(report.runs)).toEqual(['1p1d']);
    expect(report.runs['1p1d']).toMatchObject({ requests: 4, errors: 0, prefills: { remote: 4 } });
    expect(report.ratios).toBeUndefined();
  }, 60_000);

  it('refuses a topology it does not know, a mix with router policies and a split of other workers', async () => {
    for (const args of [
      ['--compare', 'agg,fastest'],
      ['--compare', 'agg,kv'],
    ]) {
      const { code, stderr } = await runBench(args);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toMatch(/--compare/);
    }
    const { code, stderr } = await runBench(['--compare', 'agg,disagg', '--workers', '4', '--splits', '1:1']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--splits/);
  });
});

describe('the disaggregated bench, on plain data', () => {
  const summary = (outputTokensPerSec: number, itlP99: number) =>
    ({ outputTokensPerSec, itlMs: { mean: itlP99, p50: itlP99, p90: itlP99, p99: itlP99 } }) as Pick<
      TopologySummary,
      'outputTokensPerSec' | 'itlMs'
    >;

  it('names every split of a worker count, fewest prefill workers first', () => {
    expect(everySplit(4).map(topologyName)).toEqual(['1p3d', '2p2d', '3p1d']);
    expect(everySplit(1)).toEqual([]);
  });

  it('picks the lowest ITL p99 among splits keeping 0.9× the aggregated throughput, else the highest throughput', () => {
    const agg = summary(1000, 100);
    expect(
      pickBest(agg, { '1p3d': summary(500, 10), '2p2d': summary(950, 30), '3p1d': summary(900, 20) }),
    ).toEqual({ name: '3p1d', by: 'itl-p99-at-throughput' });
    expect(pickBest(agg, { '1p3d': summary(500, 10), '2p2d': summary(800, 30) })).toEqual({
      name: '2p2d',
      by: 'throughput',
    });
    expect(pickBest(agg, {})).toBeUndefined();
  });

  it("reads the frontend's remote and local prefill counters", () => {
    const text = [
      '# HELP dynamo_frontend_disagg_remote_prefill_total Prompts prefilled on a prefill worker',
      '# TYPE dynamo_frontend_disagg_remote_prefill_total counter',
      'dynamo_frontend_disagg_remote_prefill_total{model="mocker"} 7',
      'dynamo_frontend_disagg_local_prefill_total{model="mocker",reason="short_prompt"} 2',
      'dynamo_frontend_disagg_local_prefill_total{model="mocker",reason="transfer_failed"} 1',
      'dynamo_frontend_requests_total{model="mocker"} 10',
    ].join('\n');
    expect(parsePrefillCounts(text)).toEqual({ remote: 7, local: { short_prompt: 2, transfer_failed: 1 } });
  });
});
