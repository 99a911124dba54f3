import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StopStringMatcher } from '../../../src/llm/stop-strings.js';

function run(stops: string[], deltas: string[]): { text: string; stopped: boolean } {
  const m = new StopStringMatcher(stops);
  let text = '';
  for (const d of deltas) {
    text += m.push(d);
    if (m.stopped) return { text, stopped: true };
  }
  text += m.flush();
  return { text, stopped: m.stopped };
}

describe('StopStringMatcher', () => {
  it('matches a stop string split across deltas and does not emit it', () => {
    expect(run(['END'], ['abc E', 'N', 'D more'])).toEqual({ text: 'abc ', stopped: true });
  });

  it('releases held-back text once it cannot be a stop string', () => {
    const m = new StopStringMatcher(['</s>']);
    expect(m.push('a <')).toBe('a ');
    expect(m.push('b')).toBe('<b');
    expect(m.stopped).toBe(false);
  });

  it('stops at the earliest of several stop strings', () => {
    expect(run(['yz', 'x'], ['wxyz'])).toEqual({ text: 'w', stopped: true });
  });

  it('lets an earlier-starting stop string that is still completing win over a later complete one', () => {
    // fast-check's counterexample: "c" is complete after "ac", but "ac🦙" starts earlier.
    expect(run(['ac🦙', 'c'], ['ac', '🦙'])).toEqual({ text: '', stopped: true });
    // The longer one never completes: "c" cuts at the end of the stream.
    expect(run(['ac🦙', 'c'], ['ac'])).toEqual({ text: 'a', stopped: true });
  });

  it('passes everything through without stop strings', () => {
    expect(run([], ['a', 'b'])).toEqual({ text: 'ab', stopped: false });
  });

  it('equals "the text up to the first stop string" for every way of splitting it', () => {
    const alphabet = fc.constantFrom('a', 'b', 'c', '🦙');
    const str = (max: number) => fc.array(alphabet, { maxLength: max }).map((a) => a.join(''));
    fc.assert(
      fc.property(
        str(30),
        fc.array(
          str(4).filter((s) => s.length > 0),
          { minLength: 1, maxLength: 3 },
        ),
        fc.array(fc.nat(30), { maxLength: 8 }),
        (text, stops, cutsRaw) => {
          const cuts = [...new Set(cutsRaw.map((c) => Math.min(c, text.length)))].sort((a, b) => a - b);
          const deltas: string[] = [];
          let prev = 0;
          for (const c of [...cuts, text.length]) {
            deltas.push(text.slice(prev, c));
            prev = c;
          }
          let first = -1;
          for (const s of stops) {
            const at = text.indexOf(s);
            if (at !== -1 && (first === -1 || at < first)) first = at;
          }
          const expected =
            first === -1 ? { text, stopped: false } : { text: text.slice(0, first), stopped: true };
          expect(run(stops, deltas)).toEqual(expected);
        },
      ),
      { numRuns: 500 },
    );
  });
});
