// `dynamo bench --frontends`: each frontend count's hit rate and mean TTFT against one frontend's, with
// and without replica sync.
import { describe, expect, it } from 'vitest';
import type { Summary } from '../../../src/bench/load-generator.js';
import { frontendRatios, type PolicyRun } from '../../../src/bench/routing-bench.js';

const summary = (hitRate: number, ttftMean: number): Summary => ({
  requests: 10,
  errors: 0,
  ttftMs: { mean: ttftMean, p50: ttftMean, p90: ttftMean, p99: ttftMean },
  e2eMs: { mean: 0, p50: 0, p90: 0, p99: 0 },
  hitRate,
  outputTokensPerSec: 0,
  durationS: 1,
});

const run = (name: string, count: number, sync: boolean): PolicyRun => ({
  name,
  frontends: { count, sync },
  deploy: () => Promise.reject(new Error('not deployed')),
});

describe('frontendRatios', () => {
  it('names each count over one frontend, NoSync for runs without replica sync', () => {
    const runs = [run('kv-1fe', 1, true), run('kv-3fe', 3, true), run('kv-3fe-nosync', 3, false)];
    const policies = {
      'kv-1fe': summary(0.8, 100),
      'kv-3fe': summary(0.78, 105),
      'kv-3fe-nosync': summary(0.6, 150),
    };
    expect(frontendRatios(runs, policies)).toEqual({
      hitRate3Over1: 0.975,
      ttftMean3Over1: 1.05,
      hitRate3Over1NoSync: 0.75,
      ttftMean3Over1NoSync: 1.5,
    });
  });

  it('gives nothing without a one-frontend run', () => {
    expect(frontendRatios([run('kv-2fe', 2, true)], { 'kv-2fe': summary(0.5, 10) })).toEqual({});
  });
});
