import { createServer, type Server } from 'node:http';
import { Counter, Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { PrometheusServer } from '../../harness/prometheus-server.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

describe('harness Prometheus', () => {
  const registry = new Registry();
  const counter = new Counter({ name: 'harness_probe_total', help: 'probe', registers: [registry] });
  let server: Server | undefined;
  let prometheus: PrometheusServer | undefined;
  afterAll(async () => {
    await prometheus?.stop();
    server?.close();
  });

  it('scrapes a target and answers queries about its series', async () => {
    counter.inc(3);
    server = createServer(async (_req, res) => {
      res.setHeader('content-type', registry.contentType);
      res.end(await registry.metrics());
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    prometheus = new PrometheusServer(await harnessTempDir('prometheus'), [
      { job: 'probe', address: `127.0.0.1:${address.port}` },
    ]);
    await prometheus.start();
    let samples: Awaited<ReturnType<PrometheusServer['query']>> = [];
    for (let i = 0; i < 100 && samples.length === 0; i++) {
      samples = await prometheus.query('harness_probe_total{job="probe"}');
      if (samples.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(samples).toHaveLength(1);
    expect(samples[0]?.value[1]).toBe('3');
  });
});
