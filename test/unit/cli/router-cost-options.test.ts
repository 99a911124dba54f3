// The cost-function flags (issue 20): the time cost by default (its step cost in the pending-prefill
// flag), DESIGN §7 as --router-cost design, Dynamo's cost
// with Dynamo's flag and env names, the prefill load scale as Dynamo's name for the overlap weight.
import { describe, expect, it } from 'vitest';
import { parseOptions, UsageError } from '../../../src/cli/options.js';
import { ROUTER_OPTIONS, routerSettings } from '../../../src/cli/router-options.js';

describe('router cost options', () => {
  it('defaults to the time cost, and takes design', () => {
    const { values } = parseOptions(ROUTER_OPTIONS, [], {});
    expect(routerSettings(values).cost).toBe('time');
    const design = parseOptions(ROUTER_OPTIONS, ['--router-cost', 'design'], {});
    expect(routerSettings(design.values)).toMatchObject({
      cost: 'design',
      overlapScoreWeight: 1,
      pendingPrefillBlocks: 16,
      overlapScoreCredit: 1,
      overlapScoreCreditDecay: 0,
      decodeActiveRequestWeight: 0,
    });
  });

  it("takes Dynamo's cost and knobs from flags and env, the load scale over the weight", () => {
    const { values } = parseOptions(
      ROUTER_OPTIONS,
      ['--router-cost', 'dynamo', '--kv-overlap-score-weight', '3', '--router-prefill-load-scale', '2.5'],
      { DYN_ROUTER_KV_OVERLAP_SCORE_CREDIT: '0.5', DYN_ROUTER_DECODE_ACTIVE_REQUEST_WEIGHT: '4' },
    );
    expect(routerSettings(values)).toMatchObject({
      cost: 'dynamo',
      overlapScoreWeight: 2.5,
      overlapScoreCredit: 0.5,
      decodeActiveRequestWeight: 4,
    });
    const weight = parseOptions(ROUTER_OPTIONS, ['--kv-overlap-score-weight', '3'], {});
    expect(routerSettings(weight.values).overlapScoreWeight).toBe(3);
  });

  it('refuses an unknown cost and a credit above 1, naming the flag', () => {
    expect(() => parseOptions(ROUTER_OPTIONS, ['--router-cost', 'cheapest'], {})).toThrow(/--router-cost/);
    expect(() => parseOptions(ROUTER_OPTIONS, ['--router-kv-overlap-score-credit', '2'], {})).toThrow(
      UsageError,
    );
  });
});
