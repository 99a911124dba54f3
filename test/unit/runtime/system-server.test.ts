import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createRuntime, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { type SystemServer, startSystemServer } from '../../../src/runtime/system-server.js';

const log = createLogger({ level: 'silent' });
const open: (Runtime | SystemServer)[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

describe('system server', () => {
  it('answers /live, /health notready until an endpoint is served, and /metrics', async () => {
    const registry = new Registry();
    const runtime = await createRuntime({ log, registry });
    const system = await startSystemServer({
      port: 0,
      host: '127.0.0.1',
      registry,
      ready: () => runtime.ready,
      log,
    });
    open.push(runtime, system);
    const base = `http://127.0.0.1:${system.port}`;
    expect(await (await fetch(`${base}/live`)).json()).toEqual({ status: 'live' });
    const before = await fetch(`${base}/health`);
    expect(before.status).toBe(503);
    expect(await before.json()).toEqual({ status: 'notready' });

    const ep = { namespace: 'ns', component: 'backend', endpoint: 'generate' };
    const served = await runtime.serveEndpoint(
      ep,
      async function* (req: { fail: boolean }) {
        if (req.fail) throw new Error('nope');
        yield 1;
      },
      { requestSchema: z.object({ fail: z.boolean() }) },
    );
    expect((await fetch(`${base}/health`)).status).toBe(200);
    for await (const _ of runtime.requestPlane.call(served.instance, { fail: false })) {
      // drain
    }
    await (async () => {
      for await (const _ of runtime.requestPlane.call(served.instance, { fail: true })) {
        // drain
      }
    })().catch(() => undefined);

    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const labels = 'dynamo_namespace="ns",dynamo_component="backend",dynamo_endpoint="generate"';
    expect(text).toContain(`dynamo_component_requests_total{${labels}} 2`);
    expect(text).toContain(`dynamo_component_inflight_requests{${labels}} 0`);
    expect(text).toContain(`dynamo_component_request_duration_seconds_count{${labels}} 2`);
    expect(text).toContain(`dynamo_component_errors_total{${labels},error_type="handler_error"} 1`);
    expect(text).toContain('process_cpu_user_seconds_total');

    await runtime.shutdown(1_000);
    expect((await fetch(`${base}/health`)).status).toBe(503);
  });
});
