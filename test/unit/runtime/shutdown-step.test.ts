import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/runtime/logger.js';
import { boundedStep } from '../../../src/runtime/shutdown-step.js';

const log = createLogger({ level: 'silent' });

describe('boundedStep', () => {
  it('says done, failed or cut, and never throws', async () => {
    expect(await boundedStep('quick', 1_000, async () => 1, log)).toBe('done');
    expect(await boundedStep('sync', 0, () => Promise.resolve(), log)).toBe('done');
    expect(await boundedStep('throws', 1_000, () => Promise.reject(new Error('down')), log)).toBe('failed');
    expect(
      await boundedStep(
        'throws at once',
        1_000,
        () => {
          throw new Error('down');
        },
        log,
      ),
    ).toBe('failed');
    // A step that never settles (a flush waiting for a server that is gone) is cut at its budget.
    expect(await boundedStep('hangs', 20, () => new Promise(() => {}), log)).toBe('cut');
  });
});
