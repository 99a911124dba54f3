// The admission flags: defaults derived from capacity (busy threshold 0.95, queue bound auto), `off` /
// numbers, env variables, and what they become in the frontend's config.
import { describe, expect, it } from 'vitest';
import { FRONTEND_OPTIONS } from '../../../src/cli/frontend-options.js';
import { parseOptions, UsageError } from '../../../src/cli/options.js';
import { ROUTER_OPTIONS, routerSettings } from '../../../src/cli/router-options.js';

describe('admission options', () => {
  it('defaults: busy at 0.95 of capacity, a queue bound derived from capacity', () => {
    const { values } = parseOptions(ROUTER_OPTIONS, [], {});
    expect(routerSettings(values)).toMatchObject({
      busyThreshold: 0.95,
      maxQueued: null,
      queueTimeoutMs: 30_000,
    });
  });

  it('turns the busy threshold off and fixes the queue bound', () => {
    const { values } = parseOptions(
      ROUTER_OPTIONS,
      ['--busy-threshold', 'off', '--router-max-queued', '7'],
      {},
    );
    expect(routerSettings(values)).toMatchObject({ busyThreshold: null, maxQueued: 7 });
    const env = parseOptions(ROUTER_OPTIONS, [], {
      DYN_BUSY_THRESHOLD: '0.5',
      DYN_ROUTER_MAX_QUEUED: 'auto',
    });
    expect(routerSettings(env.values)).toMatchObject({ busyThreshold: 0.5, maxQueued: null });
    expect(() => parseOptions(ROUTER_OPTIONS, ['--busy-threshold', '1.5'], {})).toThrow(UsageError);
    expect(() => parseOptions(ROUTER_OPTIONS, ['--router-max-queued', 'lots'], {})).toThrow(UsageError);
  });

  it('reads the HTTP timeouts, Retry-After and the SSE keep-alive interval', () => {
    const { values } = parseOptions(FRONTEND_OPTIONS, ['--retry-after-s', '5', '--sse-keep-alive-ms', '0'], {
      DYN_HTTP_REQUEST_TIMEOUT_MS: '10000',
    });
    expect(values).toMatchObject({
      retryAfter: 5,
      sseKeepAlive: 0,
      httpRequestTimeout: 10_000,
      httpConnectionTimeout: 600_000,
      httpKeepAliveTimeout: 72_000,
      busyStatusCode: 529,
    });
  });
});
