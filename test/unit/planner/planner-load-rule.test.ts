import { describe, expect, it } from 'vitest';
import { estimateEngine, loadVerdict } from '../../../src/planner/load-rule.js';
import { ENGINE, report } from './fakes.js';

const TARGETS = { ttftMs: 500, itlMs: 50 };
const SHAPE = { isl: 3000, osl: 150, kvHitRate: 0 };

describe('estimateEngine', () => {
  it('TTFT: own prompt plus the prompt tokens queued before it; ITL at running + waiting', () => {
    // 300 ms own + 1000 × 20 000 / 10 000 = 2 300 ms; ITL 10 + (30 + 5) = 45 ms.
    const e = estimateEngine(
      'agg',
      report(1, { pendingPrefillTokens: 20_000, runningRequests: 30, waitingRequests: 5 }),
      SHAPE,
      ENGINE,
    );
    expect(e.ttftMs).toBe(2300);
    expect(e.itlMs).toBe(45);
    expect(estimateEngine('prefill', report(1), SHAPE, ENGINE).itlMs).toBeUndefined();
    expect(estimateEngine('decode', report(1), SHAPE, ENGINE).ttftMs).toBeUndefined();
  });
});

describe('loadVerdict', () => {
  const e = (ttftMs: number, itlMs: number) => ({ workerId: 'w', ttftMs, itlMs });
  it('+1 only when every engine misses the SLA', () => {
    expect(loadVerdict([e(600, 10), e(100, 60)], TARGETS, 0.5)).toBe('up');
    expect(loadVerdict([e(600, 10), e(100, 10)], TARGETS, 0.5)).toBe('hold');
  });
  it('−1 only when every engine is below the ratio of every target', () => {
    expect(loadVerdict([e(100, 10), e(200, 20)], TARGETS, 0.5)).toBe('down');
    expect(loadVerdict([e(100, 10), e(260, 20)], TARGETS, 0.5)).toBe('hold');
    expect(loadVerdict([e(100, 10), e(100, 26)], TARGETS, 0.5)).toBe('hold');
  });
  it('never both, and nothing without engines', () => {
    for (const ratio of [0.1, 0.5, 0.99])
      for (const t of [100, 400, 600])
        for (const i of [10, 40, 60]) {
          const v = loadVerdict([e(t, i)], TARGETS, ratio);
          const misses = t > 500 || i > 50;
          expect(v === 'up').toBe(misses);
          if (misses) expect(v).not.toBe('down');
        }
    expect(loadVerdict([], TARGETS, 0.5)).toBe('hold');
  });
});
