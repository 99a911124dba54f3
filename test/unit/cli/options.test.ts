import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { formatOptions, parseOptions, UsageError } from '../../../src/cli/options.js';

const table = {
  port: {
    flag: 'http-port',
    env: 'DYN_HTTP_PORT',
    schema: z.coerce.number().int().min(1).max(65535).default(8000),
    description: 'HTTP port',
  },
  verbose: {
    flag: 'verbose',
    env: 'DYN_VERBOSE',
    kind: 'boolean',
    schema: z.boolean().default(false),
    description: 'more',
  },
  name: { flag: 'name', schema: z.string().regex(/^[a-z0-9_-]+$/), description: 'a name' },
} as const;

describe('parseOptions', () => {
  it('prefers the flag over the env over the default', () => {
    expect(parseOptions(table, ['--name', 'a'], {}).values.port).toBe(8000);
    expect(parseOptions(table, ['--name', 'a'], { DYN_HTTP_PORT: '9000' }).values.port).toBe(9000);
    expect(
      parseOptions(table, ['--name', 'a', '--http-port', '7000'], { DYN_HTTP_PORT: '9000' }).values.port,
    ).toBe(7000);
  });

  it('reads switches from flags, negations and env words', () => {
    expect(parseOptions(table, ['--name=a', '--verbose'], {}).values.verbose).toBe(true);
    expect(parseOptions(table, ['--name=a', '--no-verbose'], { DYN_VERBOSE: '1' }).values.verbose).toBe(
      false,
    );
    expect(parseOptions(table, ['--name=a'], { DYN_VERBOSE: 'yes' }).values.verbose).toBe(true);
    expect(() => parseOptions(table, ['--name=a'], { DYN_VERBOSE: 'maybe' })).toThrow(/DYN_VERBOSE="maybe"/);
  });

  it('names the flag or the variable of a bad value', () => {
    expect(() => parseOptions(table, ['--name=a', '--http-port', 'eighty'], {})).toThrow(/--http-port/);
    expect(() => parseOptions(table, ['--name=a'], { DYN_HTTP_PORT: '70000' })).toThrow(
      /DYN_HTTP_PORT="70000"/,
    );
    expect(() => parseOptions(table, ['--name', 'Bad Name'], {})).toThrow(/--name/);
    expect(() => parseOptions(table, [], {})).toThrow(/--name/);
  });

  it('refuses unknown flags and stray arguments', () => {
    expect(() => parseOptions(table, ['--name=a', '--htp-port=1'], {})).toThrow(UsageError);
    expect(() => parseOptions(table, ['--name=a', 'extra'], {})).toThrow(UsageError);
    expect(parseOptions(table, ['--name=a', 'extra'], {}, { allowPositionals: true }).positionals).toEqual([
      'extra',
    ]);
  });
});

describe('formatOptions', () => {
  it('lists each flag with its env variable and default', () => {
    const text = formatOptions(table);
    expect(text).toMatch(/--http-port <value>\s+HTTP port \(env DYN_HTTP_PORT; default 8000\)/);
    expect(text).toMatch(/--verbose\s+more \(env DYN_VERBOSE\)/);
  });
});
