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
    expect(t.delete('k2')).toEqual([{ kind: 'removed', name: 'a', endpoint: ep }]);
    expect(t.delete('unknown')).toEqual([]);
  });

  it('moves a key re-registered under another model name', () => {
    const t = new ModelTracker();
    t.put('k1', ep, card('a'));
    t.put('k2', ep, card('b'));
    // k2 now serves a: b loses its last instance; a already exists.
    expect(t.put('k2', ep, card('a'))).toEqual([{ kind: 'removed', name: 'b', endpoint: ep }]);
    // k2 moves to a model nobody serves yet: both events, in order.
    expect(t.put('k2', ep, card('c'))).toEqual([{ kind: 'added', card: card('c'), endpoint: ep }]);
    expect(t.put('k1', ep, card('d'))).toEqual([
      { kind: 'removed', name: 'a', endpoint: ep },
      { kind: 'added', card: card('d'), endpoint: ep },
    ]);
    expect(t.delete('k1')).toEqual([{ kind: 'removed', name: 'd', endpoint: ep }]);
    expect(t.delete('k2')).toEqual([{ kind: 'removed', name: 'c', endpoint: ep }]);
  });
});
