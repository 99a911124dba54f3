import { describe, expect, it } from 'vitest';
import { ModelTracker } from '../../../src/runtime/model-tracker.js';
import { card } from './runtime-contract.js';

const ep = { namespace: 'ns', component: 'backend', endpoint: 'generate' };

describe('ModelTracker', () => {
  it('adds a model with its first card and removes it with its last', () => {
    const t = new ModelTracker();
    expect(t.put('k1', ep, card('a'))).toEqual([{ kind: 'added', card: card('a'), endpoint: ep }]);
    expect(t.put('k2', ep, card('a'))).toEqual([]);
    expect(t.put('k1', ep, card('a'))).toEqual([]);
    expect(t.delete('k1')).toEqual([]);
    expect(t.delete('k1')).toEqual([]);
    expect(t.delete('k2')).toEqual([{ kind: 'removed', name: 'a', endpoint: ep, mode: 'agg' }]);
    expect(t.delete('unknown')).toEqual([]);
  });

  it('moves a key re-registered under another model name', () => {
    const t = new ModelTracker();
    t.put('k1', ep, card('a'));
    t.put('k2', ep, card('b'));
    // k2 now serves a: b loses its last instance; a already exists.
    expect(t.put('k2', ep, card('a'))).toEqual([{ kind: 'removed', name: 'b', endpoint: ep, mode: 'agg' }]);
    // k2 moves to a model nobody serves yet: both events, in order.
    expect(t.put('k2', ep, card('c'))).toEqual([{ kind: 'added', card: card('c'), endpoint: ep }]);
    expect(t.put('k1', ep, card('d'))).toEqual([
      { kind: 'removed', name: 'a', endpoint: ep, mode: 'agg' },
      { kind: 'added', card: card('d'), endpoint: ep },
    ]);
    expect(t.delete('k1')).toEqual([{ kind: 'removed', name: 'd', endpoint: ep, mode: 'agg' }]);
    expect(t.delete('k2')).toEqual([{ kind: 'removed', name: 'c', endpoint: ep, mode: 'agg' }]);
  });

  it('keeps one set per endpoint and role: a prefill and a decode component are two sets of one model', () => {
    const t = new ModelTracker();
    const prefillEp = { ...ep, component: 'prefill' };
    const prefill = { ...card('a'), disaggregationMode: 'prefill' as const };
    const decode = { ...card('a'), disaggregationMode: 'decode' as const };
    expect(t.put('p1', prefillEp, prefill)).toEqual([{ kind: 'added', card: prefill, endpoint: prefillEp }]);
    expect(t.put('d1', ep, decode)).toEqual([{ kind: 'added', card: decode, endpoint: ep }]);
    // A second component serving the same model in the same role is a set of its own.
    const otherEp = { ...ep, component: 'backend2' };
    expect(t.put('d2', otherEp, decode)).toEqual([{ kind: 'added', card: decode, endpoint: otherEp }]);
    // An instance that changes role moves between sets.
    expect(t.put('d1', ep, { ...decode, disaggregationMode: 'agg' })).toEqual([
      { kind: 'removed', name: 'a', endpoint: ep, mode: 'decode' },
      { kind: 'added', card: { ...decode, disaggregationMode: 'agg' }, endpoint: ep },
    ]);
    expect(t.delete('p1')).toEqual([{ kind: 'removed', name: 'a', endpoint: prefillEp, mode: 'prefill' }]);
  });
});
