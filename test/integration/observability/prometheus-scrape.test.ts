// A real Prometheus scrapes a frontend and a worker run as processes (as their pods would run them)
// and their dynamo_* series arrive.
import OpenAI from 'openai';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type DynamoProcess, startDynamo, waitFor } from '../../harness/dynamo-process.js';
import { freePort } from '../../harness/process.js';
import { PrometheusServer } from '../../harness/prometheus-server.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

const processes: DynamoProcess[] = [];
let prometheus: PrometheusServer | undefined;
afterAll(async () => {
  await prometheus?.stop();
  await Promise.all(processes.map((p) => p.stop()));
});

describe('Prometheus', () => {
  it('scrapes dynamo_* series from a frontend and a worker', async () => {
    const env = {
      ETCD_ENDPOINTS: inject('etcdEndpoint'),
      NATS_SERVER: inject('natsUrl'),
      DYN_NAMESPACE: `prom${process.pid}`,
    };
    const [httpPort, systemPort] = [await freePort(), await freePort()];
    processes.push(
      await startDynamo(
        ['worker', '--engine', 'mocker', '--speedup-ratio', '100', '--system-port', String(systemPort)],
        env,
      ),
      await startDynamo(['frontend', '--http-host', '127.0.0.1', '--http-port', String(httpPort)], env),
    );
    const base = `http://127.0.0.1:${httpPort}`;
    await waitFor(async () => (await fetch(`${base}/health`)).ok, 'the frontend to see the worker');

    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'none' });
    const reply = await client.chat.completions.create({
      model: 'mocker',
      messages: [{ role: 'user', content: 'Hello' }],
      max_tokens: 4,
    });
    expect(reply.choices[0]?.finish_reason).toBe('length');

    prometheus = new PrometheusServer(await harnessTempDir('prometheus'), [
      { job: 'frontend', address: `127.0.0.1:${httpPort}` },
      { job: 'worker', address: `127.0.0.1:${systemPort}` },
    ]);
    await prometheus.start();
    const scraped = async (promql: string) => {
      let value = 0;
      await waitFor(async () => {
        const samples = await (prometheus as PrometheusServer).query(promql);
        value = samples.reduce((sum, s) => sum + Number(s.value[1]), 0);
        return value > 0;
      }, promql);
      return value;
    };
    expect(await scraped('sum(dynamo_frontend_requests_total{job="frontend"})')).toBe(1);
    expect(await scraped('sum(dynamo_component_requests_total{job="worker"})')).toBeGreaterThanOrEqual(1);
    expect(await scraped('sum(dynamo_frontend_output_sequence_tokens_sum{job="frontend"})')).toBe(4);
  });
});
