// The endpoint picker's header mutation for a frontend pool (src/frontend/worker-hint.ts, applied in
// src/epp/ext-proc-stream.ts): the hint, the shared secret beside it when configured, and a client's
// own hint and token removed or overwritten; then what a frontend guarded by that secret makes of the
// request the proxy forwards.
import { describe, expect, it } from 'vitest';
import {
  WORKER_HINT_HEADER as HINT,
  WORKER_HINT_TOKEN_HEADER as TOKEN,
  WorkerHintGate,
  workerHintHeaders,
} from '../../../src/frontend/worker-hint.js';

const SECRET = '0123456789abcdef0123456789abcdef';
const WORKER = '00000000000000a1';

/** The headers the proxy forwards: the client's, with the mutation applied as Envoy does. */
function forwarded(client: Record<string, string>, hint: string | undefined, token: string | undefined) {
  const m = workerHintHeaders(hint, token);
  const out: Record<string, string> = { ...client };
  for (const key of m.remove) delete out[key];
  for (const [key, value] of m.set) out[key] = value;
  return out;
}

describe('worker hint header mutation', () => {
  it('sets the hint and the token, overwriting what a client sent', () => {
    expect(workerHintHeaders(WORKER, SECRET)).toEqual({
      set: [
        [HINT, WORKER],
        [TOKEN, SECRET],
      ],
      remove: [],
    });
    const headers = forwarded({ [HINT]: 'ffffffffffffffff', [TOKEN]: 'guess' }, WORKER, SECRET);
    expect(headers).toEqual({ [HINT]: WORKER, [TOKEN]: SECRET });
    expect(new WorkerHintGate(true, SECRET).check(headers)).toEqual({ kind: 'hint', worker: WORKER });
  });

  it('without a secret sets the hint only and removes a client-supplied token', () => {
    expect(workerHintHeaders(WORKER, undefined)).toEqual({ set: [[HINT, WORKER]], remove: [TOKEN] });
    const headers = forwarded({ [TOKEN]: SECRET }, WORKER, undefined);
    expect(headers).toEqual({ [HINT]: WORKER });
    // A frontend that requires the secret refuses it; one that does not honours it.
    expect(new WorkerHintGate(true, SECRET).check(headers)).toEqual({ kind: 'refused' });
    expect(new WorkerHintGate(true, undefined).check(headers)).toEqual({ kind: 'hint', worker: WORKER });
  });

  it('without a pick (fail-open, no body) removes both of a client’s headers', () => {
    expect(workerHintHeaders(undefined, SECRET)).toEqual({ set: [], remove: [HINT, TOKEN] });
    const headers = forwarded({ [HINT]: WORKER, [TOKEN]: SECRET, other: 'kept' }, undefined, SECRET);
    expect(headers).toEqual({ other: 'kept' });
    expect(new WorkerHintGate(true, SECRET).check(headers)).toEqual({ kind: 'none' });
  });
});

describe('WorkerHintGate', () => {
  it('honours nothing without trust, and refuses a hint whose token is missing, wrong or of another length', () => {
    expect(new WorkerHintGate(false, SECRET).check({ [HINT]: WORKER, [TOKEN]: SECRET })).toEqual({
      kind: 'none',
    });
    const gate = new WorkerHintGate(true, SECRET);
    expect(gate.guarded).toBe(true);
    for (const token of [undefined, '', 'x', `${SECRET}0`, SECRET.toUpperCase(), [`${SECRET}0`, SECRET]]) {
      expect(gate.check({ [HINT]: WORKER, [TOKEN]: token })).toEqual({ kind: 'refused' });
    }
    expect(gate.check({ [TOKEN]: SECRET })).toEqual({ kind: 'none' });
    expect(gate.check({ [HINT]: ` ${WORKER.toUpperCase()} `, [TOKEN]: SECRET })).toEqual({
      kind: 'hint',
      worker: WORKER,
    });
  });
});
