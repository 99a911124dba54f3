// `dynamo planner` with the operator's default command line (`planner --mode agg --agg-service <svc>`,
// DYN_PARENT_DGD_K8S_NAME, PROMETHEUS_ENDPOINT): no --profile and no --model is not a usage error any
// more (a default planner pod crash-looped on it). The command runs against an API server and a
// Prometheus that do not answer, with --min-replicas above --max-replicas, and keeps serving.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMON_OPTIONS } from '../../../src/cli/command.js';
import { command } from '../../../src/cli/commands/planner.js';
import { parseOptions } from '../../../src/cli/options.js';
import { trafficQueries } from '../../../src/planner/traffic.js';
import { waitFor } from '../../harness/dynamo-process.js';
import { freePort } from '../../harness/process.js';
import { capturedLogger } from './robustness-fixtures.js';

const dir = await mkdtemp(join(tmpdir(), 'planner-cli-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const OPTIONS = { ...command.options, ...COMMON_OPTIONS };
const DEFAULT_ARGS = ['--mode', 'agg', '--agg-service', 'MockerWorker'];

describe('dynamo planner options', () => {
  it("parses the operator's default args and env: profile and model are optional", () => {
    const { values: o } = parseOptions(OPTIONS, DEFAULT_ARGS, {
      DYN_PARENT_DGD_K8S_NAME: 'planner',
      PROMETHEUS_ENDPOINT: 'http://prometheus:9090',
    });
    expect(o.profile).toBeUndefined();
    expect(o.model).toBeUndefined();
    expect(o.graph).toBe('planner');
  });

  it('takes its tuning from env, so a manifest keeps the default args', () => {
    const { values: o } = parseOptions(OPTIONS, DEFAULT_ARGS, {
      DYN_PLANNER_PROFILE: '/data/profiling_results/profile.json',
      DYN_PLANNER_ADJUSTMENT_INTERVAL: '5',
      DYN_PLANNER_LOAD_INTERVAL: '2',
      DYN_PLANNER_TTFT: '400',
      DYN_PLANNER_ITL: '30',
      DYN_PLANNER_MIN_REPLICAS: '1',
      DYN_PLANNER_MAX_REPLICAS: '3',
      DYN_PLANNER_MAX_GPU_BUDGET: '4',
      DYN_PLANNER_LOAD_PREDICTOR: 'holt',
    });
    expect(o).toMatchObject({
      profile: '/data/profiling_results/profile.json',
      adjustmentInterval: 5,
      loadInterval: 2,
      ttft: 400,
      itl: 30,
      minReplicas: 1,
      maxReplicas: 3,
      maxGpuBudget: 4,
      loadPredictor: 'holt',
    });
  });

  it('without a model the queries carry no model matcher', () => {
    const q = trafficQueries(undefined, 5);
    expect(q.requests).toBe(
      'sum(increase(dynamo_frontend_requests_total[5s])) + (sum(delta(dynamo_frontend_inflight_requests[5s])) or vector(0))',
    );
    expect(q.isl).toBe(
      'sum(increase(dynamo_frontend_input_sequence_tokens_sum[5s])) / sum(increase(dynamo_frontend_input_sequence_tokens_count[5s]))',
    );
    expect(trafficQueries(undefined, 5, ['namespace="a"']).requests).toBe(
      'sum(increase(dynamo_frontend_requests_total{namespace="a"}[5s])) + (sum(delta(dynamo_frontend_inflight_requests{namespace="a"}[5s])) or vector(0))',
    );
    expect(trafficQueries('m', 5).requests).toBe(
      'sum(increase(dynamo_frontend_requests_total{model="m"}[5s])) + (sum(delta(dynamo_frontend_inflight_requests{model="m"}[5s])) or vector(0))',
    );
  });
});

describe('dynamo planner run', () => {
  it('keeps running with no profile, the API server and Prometheus down, min above max', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    const apiPort = await freePort();
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'c',
            cluster: { server: `https://127.0.0.1:${apiPort}`, 'insecure-skip-tls-verify': true },
          },
        ],
        users: [{ name: 'u', user: { token: 'x' } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'u', namespace: 'ns' } }],
        'current-context': 'c',
      }),
    );
    const systemPort = await freePort();
    const { values: o } = parseOptions(
      OPTIONS,
      [...DEFAULT_ARGS, '--min-replicas', '3', '--max-replicas', '2'],
      {
        DYN_PARENT_DGD_K8S_NAME: 'planner',
        PROMETHEUS_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
        DYN_PLANNER_ADJUSTMENT_INTERVAL: '0.1',
        DYN_PLANNER_LOAD_INTERVAL: '0',
        DYN_SYSTEM_PORT: String(systemPort),
        KUBECONFIG: kubeconfig,
      },
    );
    const { log, count } = capturedLogger();
    const abort = new AbortController();
    const running = command.run(o, { log, signal: abort.signal, positionals: [] });
    let exited = false;
    void running.finally(() => {
      exited = true;
    });
    const base = `http://127.0.0.1:${systemPort}`;
    await waitFor(async () => (await fetch(`${base}/health`)).ok, 'the planner to be healthy', 10_000);
    await waitFor(
      async () => /reason="service_unavailable"\} [3-9]/.test(await (await fetch(`${base}/metrics`)).text()),
      'three service_unavailable decisions',
      10_000,
    );
    expect(exited).toBe(false);
    expect(count('no usable profile')).toBe(1);
    expect(count('--min-replicas is above --max-replicas')).toBe(1);
    abort.abort();
    expect(await running).toBe(0);
  });
});
