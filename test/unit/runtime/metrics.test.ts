import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RuntimeMetrics } from '../../../src/runtime/metrics.js';

describe('RuntimeMetrics', () => {
  it('lets runtimes share one registry and counts per endpoint', async () => {
    const registry = new Registry();
    const a = new RuntimeMetrics(registry);
    const b = new RuntimeMetrics(registry);
    const ep = { namespace: 'ns', component: 'backend', endpoint: 'generate' };
    a.endpoint(ep).start()('ok');
    b.endpoint(ep).start()('error', 'handler_error');
    const inflight = b.endpoint(ep).start();
    a.malformedMessage('event');
    const text = await registry.metrics();
    const labels = 'dynamo_namespace="ns",dynamo_component="backend",dynamo_endpoint="generate"';
    expect(text).toContain(`dynamo_component_requests_total{${labels}} 3`);
    expect(text).toContain(`dynamo_component_inflight_requests{${labels}} 1`);
    expect(text).toContain(`dynamo_component_errors_total{${labels},error_type="handler_error"} 1`);
    expect(text).toContain('dynamo_runtime_malformed_messages_total{plane="event"} 1');
    inflight('cancelled');
    expect(await registry.metrics()).toContain(`dynamo_component_inflight_requests{${labels}} 0`);
  });
});
