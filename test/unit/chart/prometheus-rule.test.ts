// The chart's PrometheusRule (templates/monitoring.yaml): rendered with `helm template`, its rule group
// passes `promtool check rules`, and `promtool test rules` shows each alert firing on the series the
// router exports — and not for a router configured without KV events, which is load-only by design,
// nor for a one-off burst or a trickle of KV event anomalies.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dump, loadAll } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { kubeTool, REPO_ROOT } from '../../harness/kube-apiserver.js';

const exec = promisify(execFile);
const CHART = join(REPO_ROOT, 'charts/dynamo-platform');
const PROMTOOL = process.env.PROMTOOL_BIN ?? 'promtool';

const Rule = z.object({
  kind: z.literal('PrometheusRule'),
  spec: z.object({ groups: z.array(z.unknown()) }),
});

async function rules(values: string[]): Promise<z.infer<typeof Rule>[]> {
  const { stdout } = await exec(kubeTool('helm'), [
    'template',
    'dyn',
    CHART,
    '--namespace=platform',
    '--show-only=templates/monitoring.yaml',
    ...values.map((v) => `--set=${v}`),
  ]).catch((err: { stderr?: string }) => {
    // --show-only fails when the template renders nothing.
    if (err.stderr?.includes('could not find template')) return { stdout: '' };
    throw err;
  });
  return (loadAll(stdout) as { kind?: string }[])
    .filter((o) => o?.kind === 'PrometheusRule')
    .map((o) => Rule.parse(o));
}

/** An Enum series (value 1 for the current state) of one frontend pod, for `minutes` + 1 samples. */
const enumSeries = (name: string, pod: string, state: string, minutes: number, extra = '') =>
  ({
    series: `${name}{namespace="ns",pod="${pod}",model="m",${extra}${name}="${state}"}`,
    values: `1x${minutes}`,
  }) as const;

describe('PrometheusRule', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dynamo-rules-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('is rendered with the PodMonitor, unless turned off', async () => {
    expect(await rules([])).toHaveLength(0);
    expect(await rules(['metrics.podMonitor.enabled=true'])).toHaveLength(1);
    expect(
      await rules(['metrics.podMonitor.enabled=true', 'metrics.prometheusRule.enabled=false']),
    ).toHaveLength(0);
  });

  it('passes promtool check rules, and its alerts fire after `for` on degraded and load-only routers and sustained KV event anomalies', async () => {
    const [rule] = await rules(['metrics.podMonitor.enabled=true', 'metrics.prometheusRule.for=3m']);
    const file = join(dir, 'rules.yaml');
    await writeFile(file, dump({ groups: rule?.spec.groups }));
    const check = await exec(PROMTOOL, ['check', 'rules', file]);
    expect(check.stdout).toContain('SUCCESS: 3 rules found');

    const STATE = 'dynamo_router_index_state';
    const WORKER = 'dynamo_router_worker_index_state';
    const ANOMALIES = 'dynamo_router_kv_event_anomalies_total';
    const tests = {
      rule_files: [file],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            enumSeries(STATE, 'degraded', 'degraded', 10),
            enumSeries(WORKER, 'degraded', 'stale', 10, 'worker="a",'),
            enumSeries(WORKER, 'degraded', 'fresh', 10, 'worker="b",'),
            enumSeries(STATE, 'lost', 'load-only', 10),
            enumSeries(WORKER, 'lost', 'resyncing', 10, 'worker="a",'),
            // Round-robin: load-only by configuration, no per-worker index.
            enumSeries(STATE, 'round-robin', 'load-only', 10),
            enumSeries(STATE, 'fine', 'healthy', 10),
          ],
          alert_rule_test: [
            { eval_time: '2m', alertname: 'DynamoRouterIndexDegraded', exp_alerts: [] },
            { eval_time: '2m', alertname: 'DynamoRouterLoadOnly', exp_alerts: [] },
            {
              eval_time: '4m',
              alertname: 'DynamoRouterIndexDegraded',
              exp_alerts: [
                {
                  exp_labels: { severity: 'warning', namespace: 'ns', pod: 'degraded', model: 'm' },
                  exp_annotations: {
                    summary: 'KV index of model m degraded on degraded',
                    description:
                      "A worker that frontend degraded routes requests to publishes no KV events or is resyncing, so its cache overlaps may be wrong. See the router section of the frontend's /health and dynamo_router_worker_index_state.",
                  },
                },
              ],
            },
            {
              eval_time: '4m',
              alertname: 'DynamoRouterLoadOnly',
              exp_alerts: [
                {
                  exp_labels: { severity: 'warning', namespace: 'ns', pod: 'lost', model: 'm' },
                  exp_annotations: {
                    summary: 'KV routing of model m fell back to load-only on lost',
                    description:
                      'No worker\'s part of the KV index is usable (every one stale or resyncing): frontend lost routes on load alone, without prefix-cache hits. Check the workers\' KV event publishing, the event plane (NATS) and kv_dump failures (dynamo_router_resyncs_total{result="failed"}).',
                  },
                },
              ],
            },
          ],
        },
        {
          interval: '1m',
          input_series: [
            // A worker whose stored blocks keep naming parents the index never saw: 5 a minute.
            {
              series: `${ANOMALIES}{namespace="ns",pod="fe",model="m",kind="unknown_parent"}`,
              values: '0+5x20',
            },
            // One burst (a restart's few duplicates), then quiet: 0.5 a minute over 10 m, below 1.
            {
              series: `${ANOMALIES}{namespace="ns",pod="fe",model="m",kind="duplicate_store"}`,
              values: '0 5x19',
            },
            // A trickle below the threshold: one every two minutes.
            {
              series: `${ANOMALIES}{namespace="ns",pod="calm",model="m",kind="unknown_removal"}`,
              values: '0+0.5x20',
            },
          ],
          alert_rule_test: [
            { eval_time: '2m', alertname: 'DynamoRouterKvEventAnomalies', exp_alerts: [] },
            {
              eval_time: '10m',
              alertname: 'DynamoRouterKvEventAnomalies',
              exp_alerts: [
                {
                  exp_labels: {
                    severity: 'warning',
                    namespace: 'ns',
                    pod: 'fe',
                    model: 'm',
                    kind: 'unknown_parent',
                  },
                  exp_annotations: {
                    summary: 'KV events of model m contradict the index on fe (unknown_parent)',
                    description:
                      "Frontend fe counts 5 unknown_parent KV event anomalies a minute (10 m average): a worker's events contradict what it published before. The router skips or overrides them (and resyncs the worker on unknown_parent), so routing stays safe, but that worker's cache hits are missed and each resync fetches a full kv_dump. Find the worker in the router section of the frontend's /health (anomalies per worker), then check that it runs the frontend's version and block size, that no two workers share an instance id, and its log around cache clears and restarts.",
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const testFile = join(dir, 'rules.test.yaml');
    await writeFile(testFile, dump(tests));
    const result = await exec(PROMTOOL, ['test', 'rules', testFile]).catch(
      (err: { stdout?: string; stderr?: string }) => ({ stdout: `${err.stdout}\n${err.stderr}` }),
    );
    expect(result.stdout).toContain('SUCCESS');
  });
});
