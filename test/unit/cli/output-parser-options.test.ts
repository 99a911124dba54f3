// --tool-call-parser / --reasoning-parser: a known name or none (flag or env), refused otherwise; absent
// means detected per model.
import { describe, expect, it } from 'vitest';
import { FRONTEND_OPTIONS } from '../../../src/cli/frontend-options.js';
import { parseOptions, UsageError } from '../../../src/cli/options.js';

describe('output parser options', () => {
  it('reads names and none, from flags or env; absent stays absent', () => {
    const { values } = parseOptions(FRONTEND_OPTIONS, ['--tool-call-parser', 'mistral'], {
      DYN_REASONING_PARSER: 'none',
    });
    expect(values).toMatchObject({ toolCallParser: 'mistral', reasoningParser: 'none' });
    const none = parseOptions(FRONTEND_OPTIONS, [], {}).values;
    expect(none.toolCallParser).toBeUndefined();
    expect(none.reasoningParser).toBeUndefined();
  });

  it('refuses a parser it does not have', () => {
    expect(() => parseOptions(FRONTEND_OPTIONS, ['--tool-call-parser', 'harmony'], {})).toThrow(UsageError);
    expect(() => parseOptions(FRONTEND_OPTIONS, ['--reasoning-parser', 'o1'], {})).toThrow(UsageError);
  });
});
