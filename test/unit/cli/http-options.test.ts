// The frontend's HTTP flags (issue 21 item 6): --cors-origin (repeatable, or a comma list in
// DYN_CORS_ORIGINS), --no-access-log, --strict-request-fields, and their defaults.
import { describe, expect, it } from 'vitest';
import { FRONTEND_OPTIONS } from '../../../src/cli/frontend-options.js';
import { parseOptions, UsageError } from '../../../src/cli/options.js';

describe('HTTP options', () => {
  it('defaults: no CORS, an access log, unknown fields ignored', () => {
    const { values } = parseOptions(FRONTEND_OPTIONS, [], {});
    expect(values).toMatchObject({ corsOrigin: [], accessLog: true, strictRequestFields: false });
  });

  it('reads flags and env', () => {
    const flags = parseOptions(
      FRONTEND_OPTIONS,
      [
        '--cors-origin',
        'http://a.example',
        '--cors-origin',
        'https://b.example:8443',
        '--no-access-log',
        '--strict-request-fields',
      ],
      {},
    );
    expect(flags.values).toMatchObject({
      corsOrigin: ['http://a.example', 'https://b.example:8443'],
      accessLog: false,
      strictRequestFields: true,
    });
    const env = parseOptions(FRONTEND_OPTIONS, [], {
      DYN_CORS_ORIGINS: 'http://a.example, *',
      DYN_ACCESS_LOG: 'off',
      DYN_STRICT_REQUEST_FIELDS: '1',
    });
    expect(env.values).toMatchObject({
      corsOrigin: ['http://a.example', '*'],
      accessLog: false,
      strictRequestFields: true,
    });
  });

  it('refuses an origin that is not a URL, naming the flag', () => {
    expect(() => parseOptions(FRONTEND_OPTIONS, ['--cors-origin', 'a.example'], {})).toThrow(UsageError);
    expect(() => parseOptions(FRONTEND_OPTIONS, ['--cors-origin', 'a.example'], {})).toThrow(/--cors-origin/);
  });
});
