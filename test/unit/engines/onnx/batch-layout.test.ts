import fc from 'fast-check';
import { expect, test } from 'vitest';
import { splitRuns } from '../../../../src/engines/onnx/batch-layout.js';

test('splitRuns keeps every row once and each run within the padded budget', () => {
  const rows = (tokens: number[]) => tokens.map((t, id) => ({ id, tokens: t }));
  expect(splitRuns(rows([3, 30, 2, 3]), 32).map((run) => run.map((r) => r.tokens))).toEqual([
    [30],
    [3, 3, 2],
  ]);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 64 }), fc.array(fc.integer({ min: 1, max: 64 })), (budget, ts) => {
      const input = rows(ts.map((t) => Math.min(t, budget)));
      const runs = splitRuns(input, budget);
      expect(runs.flat().sort((a, b) => a.id - b.id)).toEqual(input);
      for (const run of runs) {
        expect(run.length * Math.max(...run.map((r) => r.tokens))).toBeLessThanOrEqual(budget);
      }
    }),
  );
});
