import { describe, expect, it } from 'vitest';
import { subsetHint } from '../../../src/epp/ext-proc-stream.js';
import { poolEndpoints } from '../../../src/epp/pool.js';

const spec = { selector: { matchLabels: { app: 'llm' } }, targetPorts: [{ number: 8000 }, { number: 8001 }] };
const pod = (
  name: string,
  ip: string | undefined,
  extra: { labels?: object; ready?: string; deleting?: boolean } = {},
) => ({
  metadata: {
    name,
    labels: extra.labels ?? { app: 'llm', other: 'x' },
    ...(extra.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
  },
  status: { podIP: ip, conditions: [{ type: 'Ready', status: extra.ready ?? 'True' }] },
});

describe('poolEndpoints', () => {
  it('keeps Ready, running pods matching the selector, at the first target port', () => {
    const endpoints = poolEndpoints(spec, [
      pod('a', '10.0.0.1'),
      pod('no-ip', undefined),
      pod('not-ready', '10.0.0.3', { ready: 'False' }),
      pod('other-app', '10.0.0.4', { labels: { app: 'web' } }),
      pod('terminating', '10.0.0.5', { deleting: true }),
      pod('v6', 'fd00::7'),
      { metadata: { name: 'malformed' }, status: 'nonsense' },
    ]);
    expect([...endpoints.values()]).toEqual([
      { pod: 'a', ip: '10.0.0.1', port: 8000, address: '10.0.0.1:8000' },
      { pod: 'v6', ip: 'fd00::7', port: 8000, address: '[fd00::7]:8000' },
    ]);
  });
});

describe('subsetHint', () => {
  it('reads the x-gateway-destination-endpoint-subset list; absent is no hint', () => {
    const list = { list_value: { values: [{ string_value: '10.0.0.1:8000' }, { number_value: 3 }] } };
    expect(subsetHint({ fields: { 'x-gateway-destination-endpoint-subset': list } })).toEqual([
      '10.0.0.1:8000',
    ]);
    expect(subsetHint({ fields: { 'x-gateway-destination-endpoint-subset': { list_value: {} } } })).toEqual(
      [],
    );
    expect(subsetHint(undefined)).toBeUndefined();
    expect(subsetHint({ fields: {} })).toBeUndefined();
  });
});
