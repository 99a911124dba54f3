import { describe, expect, it } from 'vitest';
import { generateRequestSchema, generateResponseSchema } from '../../../src/api/generate.js';

const request = (tokenIds: unknown) => ({
  requestId: 'r1',
  model: 'm',
  tokenIds,
  sampling: {},
  stop: { maxTokens: 4 },
});

/** The first issue as "path: message". */
function firstIssue(result: {
  success: boolean;
  error?: { issues: { path: PropertyKey[]; message: string }[] };
}) {
  const issue = result.error?.issues[0];
  return issue && `${issue.path.join('.')}: ${issue.message}`;
}

describe('token id arrays on the generate endpoint', () => {
  it('accepts ids 0..2^32−1 and gives the same array back', () => {
    const ids = [0, 1, 151_935, 0xffffffff];
    const parsed = generateRequestSchema.parse(request(ids));
    expect(parsed.tokenIds).toEqual(ids);
  });

  it('names the field and the index of the first bad id', () => {
    for (const [bad, got] of [
      [-1, '-1'],
      [1.5, '1.5'],
      [2 ** 32, '4294967296'],
      ['7', '"7"'],
      [null, 'null'],
      [Number.NaN, 'null'],
    ] as const) {
      expect(firstIssue(generateRequestSchema.safeParse(request([3, bad, -5])))).toBe(
        `tokenIds.1: expected a token id (an integer 0..4294967295), got ${got}`,
      );
    }
  });

  it('refuses a prompt without tokens and a value that is not an array', () => {
    expect(firstIssue(generateRequestSchema.safeParse(request([])))).toBe(
      'tokenIds: expected at least 1 token id',
    );
    expect(firstIssue(generateRequestSchema.safeParse(request('1 2 3')))).toBe(
      'tokenIds: expected an array of token ids',
    );
    expect(
      firstIssue(generateRequestSchema.safeParse({ ...request([1]), stop: { stopTokenIds: [2, -2] } })),
    ).toBe('stop.stopTokenIds.1: expected a token id (an integer 0..4294967295), got -2');
  });

  it('takes response frames with no tokens (a last frame) but not with bad ones', () => {
    expect(generateResponseSchema.parse({ tokenIds: [], finishReason: 'stop' }).tokenIds).toEqual([]);
    expect(firstIssue(generateResponseSchema.safeParse({ tokenIds: [1, 2, 3.25] }))).toBe(
      'tokenIds.2: expected a token id (an integer 0..4294967295), got 3.25',
    );
  });
});
