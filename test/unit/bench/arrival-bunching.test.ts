// `npm run bench:aiperf`'s per-run bunching: which measured requests aiperf sent on the heels of another.
import { describe, expect, it } from 'vitest';
import {
  type AiperfRecord,
  aiperfRecordSchema,
  arrivalBunching,
} from '../../../src/bench/arrival-bunching.js';

const NS = 1_000_000;
const record = (sentMs: number, ttftMs: number | undefined, phase = 'profiling'): AiperfRecord => ({
  metadata: { benchmark_phase: phase, request_start_ns: 1.79e18 + sentMs * NS },
  metrics: ttftMs === undefined ? {} : { time_to_first_token: { value: ttftMs } },
});

describe('arrivalBunching', () => {
  it('counts requests sent within 3 ms of the one before, in send order, and splits their TTFT', () => {
    // Sent at 0, 1 (bunched), 10, 12.5 (bunched), 20, given out of order as aiperf's records are.
    const got = arrivalBunching([
      record(10, 30),
      record(0, 28),
      record(12.5, 50),
      record(20, 32),
      record(1, 40),
    ]);
    expect(got).toEqual({ bunchedPct: 40, bunchedTtftMeanMs: 45, spreadTtftMeanMs: 30 });
  });

  it('leaves out the warm-up and failed requests (no TTFT)', () => {
    const got = arrivalBunching([
      record(0, 99, 'warmup'),
      record(1, 30),
      record(2, undefined),
      record(9, 34),
    ]);
    expect(got).toEqual({ bunchedPct: 0, bunchedTtftMeanMs: null, spreadTtftMeanMs: 32 });
  });

  it('is null without a measured request', () => {
    expect(arrivalBunching([record(0, 20, 'warmup')])).toBeNull();
  });

  it("validates aiperf's record shape, naming the missing field", () => {
    const r = aiperfRecordSchema.safeParse({ metadata: { benchmark_phase: 'profiling' }, metrics: {} });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['metadata', 'request_start_ns']);
  });
});
