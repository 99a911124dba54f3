import { describe, expect, it } from 'vitest';
import { type RequestResult, summarize } from '../../../src/bench/load-generator.js';
import { ttftCdfSvg } from '../../../src/bench/ttft-plot.js';
import { oracleHitRate, planWorkload } from '../../../src/bench/workloads.js';

const shared = {
  kind: 'shared-prefix' as const,
  groups: 3,
  promptsPerGroup: 4,
  systemPromptLen: 32,
  questionLen: 8,
  outputLen: 5,
  rate: 10,
  seed: 7,
};

describe('workloads', () => {
  it('shared-prefix: groups share their system prompt, questions differ, same seed same plan', () => {
    const plan = planWorkload(shared);
    expect(plan).toHaveLength(12);
    expect(planWorkload(shared)).toEqual(plan);
    expect(planWorkload({ ...shared, seed: 8 })).not.toEqual(plan);
    for (const r of plan) {
      expect(r.promptTokens).toHaveLength(40);
      expect(r.maxTokens).toBe(5);
      const sameGroup = plan.filter((o) => o.group === r.group);
      expect(sameGroup).toHaveLength(4);
      for (const o of sameGroup) expect(o.promptTokens.slice(0, 32)).toEqual(r.promptTokens.slice(0, 32));
    }
    expect(new Set(plan.map((r) => r.promptTokens.slice(32).join(','))).size).toBe(12);
    // Arrivals rise, at about `rate` per second.
    const times = plan.map((r) => r.atMs);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    const long = planWorkload({ ...shared, groups: 50, promptsPerGroup: 40 });
    const span = (long.at(-1)?.atMs ?? 0) / 1000;
    expect(long.length / span).toBeGreaterThan(8);
    expect(long.length / span).toBeLessThan(12);
  });

  it('multi-turn: each turn extends the conversation and waits for the previous answer', () => {
    const plan = planWorkload({ ...shared, kind: 'multi-turn', sessions: 2, turns: 3 });
    expect(plan).toHaveLength(6);
    const session = plan.filter((r) => r.group === 0);
    expect(session.map((r) => r.after)).toEqual([null, session[0]?.index, session[1]?.index]);
    for (let t = 1; t < 3; t++) {
      const prev = session[t - 1]?.promptTokens ?? [];
      const cur = session[t]?.promptTokens ?? [];
      expect(cur.slice(0, prev.length)).toEqual(prev);
      expect(cur.length).toBe(prev.length + 5 + 8);
    }
  });

  it('oracle hit rate: every block-aligned prefix seen before counts as cached', () => {
    // 3 groups × 4 prompts, 32-token system prompts = 2 blocks of 16; 40-token prompts.
    const plan = planWorkload(shared);
    expect(oracleHitRate(plan, 16)).toBeCloseTo((9 * 32) / (12 * 40));
    // Blocks of 64 tokens: no prompt has a full block, nothing can be cached.
    expect(oracleHitRate(plan, 64)).toBe(0);
  });
});

describe('reports', () => {
  const result = (ttftMs: number, ok = true): RequestResult => ({
    index: 0,
    group: 0,
    ok,
    ttftMs,
    e2eMs: ttftMs * 2,
    promptTokens: 100,
    cachedTokens: 25,
    outputTokens: 10,
  });

  it('summarizes the successful requests', () => {
    const s = summarize([result(10), result(20), result(30), result(40), result(1, false)], 2);
    expect(s).toMatchObject({ requests: 5, errors: 1, hitRate: 0.25, outputTokensPerSec: 20 });
    expect(s.ttftMs).toEqual({ mean: 25, p50: 30, p90: 40, p99: 40 });
  });

  it('draws one CDF line and legend entry per policy', () => {
    const svg = ttftCdfSvg(
      new Map([
        ['kv', [10, 12, 15]],
        ['random', [30, 60, 90]],
      ]),
      'TTFT <test>',
    );
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('kv (mean 12)');
    expect(svg).toContain('random (mean 60)');
    expect(svg).toContain('TTFT &#60;test&#62;');
  });
});
