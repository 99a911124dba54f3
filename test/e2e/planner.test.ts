// End to end, the SLA planner (DESIGN §13): `kubectl apply -f examples/dgd-planner.yaml` through the
// operator (its `--prometheus-endpoint` set as the chart would) gives a frontend, a mocker worker with a
// scaling adapter and a planner whose command line, graph, Prometheus and ServiceAccount come from the
// operator. The pods run as local processes (kubelet.ts: the Deployments' replicas kept running, their
// status written as a controller-manager would; the planner authenticated with a token of its own
// ServiceAccount; its profile ConfigMap materialised where the pod mounts it). A real Prometheus scrapes
// the frontend.
//
//   no ConfigMap yet   the planner runs, decides `no_profile`, scales nothing
//   `dynamo profile`   on the worker's own flags (a tiny grid), then `kubectl create configmap`:
//                      the planner reads it at its next interval
//   rising load        streamed chat requests, 2 → 4 → 8 → 16 at a time: the planner patches the
//                      adapter's scale, the operator the Deployment; the new replica starts and is ready
//   no load            back down to --min-replicas (1), the extra replica stopped
//
// The test changes two values of the example, its intervals (adjustment 5 s, load loop 2 s), so that it
// takes a minute or two rather than several; it asserts no duration, only what happens, polled.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dump, load as loadYaml } from 'js-yaml';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ADAPTER_RT, DGD_RT } from '../../src/operator/reconcilers/resource-types.js';
import { type DynamoProcess, startDynamo } from '../harness/dynamo-process.js';
import { freePort } from '../harness/process.js';
import { PrometheusServer } from '../harness/prometheus-server.js';
import { harnessTempDir } from '../harness/temp-dir.js';
import { tinyModelDir } from '../harness/tiny-model.js';
import {
  deleteGraph,
  deploymentWith,
  exampleFile,
  graphDeployments,
  KubeClient,
  kubectl,
  type Outcome,
  RT,
  startOperator,
  waitFor,
} from './graph-pods.js';
import { Kubelet } from './kubelet.js';

const GRAPH = 'planner';
const TYPE = 'nvidia.com/dynamo-component-type';
const WORKER = `${GRAPH}-mockerworker`;
const FRONTEND = `${GRAPH}-frontend`;
const PLANNER = `${GRAPH}-planner`;
/** The test's intervals (the example's are 30 s and 5 s). */
const TEST_ENV: Record<string, string> = {
  DYN_PLANNER_ADJUSTMENT_INTERVAL: '5',
  DYN_PLANNER_LOAD_INTERVAL: '2',
};

interface Manifest {
  spec: {
    services: Record<
      string,
      { envs?: { name: string; value: string }[]; extraPodSpec?: { mainContainer?: { args?: string[] } } }
    >;
  };
}

/** Streamed chat requests, `concurrency` at a time, each starting when one ends, until stopped. */
class ChatLoad {
  readonly outcomes: Outcome[] = [];
  private readonly drivers: Promise<void>[] = [];
  private stopped = false;
  private next = 0;

  constructor(
    private readonly client: OpenAI,
    private readonly model: string,
  ) {}

  concurrency(n: number): void {
    while (this.drivers.length < n) this.drivers.push(this.drive());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.drivers);
  }

  private async drive(): Promise<void> {
    while (!this.stopped) {
      const i = this.next++;
      try {
        const stream = await this.client.chat.completions.create({
          model: this.model,
          messages: [{ role: 'user', content: `Request ${i}: tell me a story about the number ${i}.` }],
          max_tokens: 48,
          stream: true,
        });
        let tokens = 0;
        let finish: string | null | undefined;
        for await (const chunk of stream) {
          if (chunk.choices[0]?.delta.content) tokens++;
          finish = chunk.choices[0]?.finish_reason ?? finish;
        }
        this.outcomes.push({ ok: finish === 'length' || finish === 'stop', tokens });
      } catch (err) {
        this.outcomes.push({ ok: false, tokens: 0, error: (err as Error).message });
      }
    }
  }
}

/** A sample's value in Prometheus text (`NaN` when absent). */
function sample(text: string, series: string): number {
  for (const line of text.split('\n'))
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  return Number.NaN;
}

describe('end to end: examples/dgd-planner.yaml', () => {
  const namespace = `e2e-planner-${randomBytes(3).toString('hex')}`;
  let admin: KubeClient;
  let operator: DynamoProcess | undefined;
  let kubelet: Kubelet | undefined;
  let prometheus: PrometheusServer | undefined;
  let profiler: DynamoProcess | undefined;
  let load: ChatLoad | undefined;

  beforeAll(async () => {
    admin = KubeClient.fromKubeconfig(inject('kubeconfig'), 'e2e-test');
    await admin.create(RT.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  });
  afterAll(async () => {
    await load?.stop();
    await kubelet?.stop();
    await profiler?.stop();
    await prometheus?.stop();
    await operator?.stop();
    admin.close();
  });

  it('scales the workers up under rising load and back down to the minimum when it stops', async () => {
    const started = Date.now();
    const dir = await harnessTempDir('e2e-planner');
    const manifest = loadYaml(readFileSync(exampleFile('dgd-planner.yaml'), 'utf8')) as Manifest;
    const services = manifest.spec.services;
    const plannerService = services.Planner;
    const workerArgs = services.MockerWorker?.extraPodSpec?.mainContainer?.args;
    if (!plannerService || !workerArgs) throw new Error('the example lost its Planner or MockerWorker');
    plannerService.envs = (plannerService.envs ?? []).map((e) =>
      e.name in TEST_ENV ? { name: e.name, value: TEST_ENV[e.name] as string } : e,
    );
    const applied = join(dir, 'dgd-planner.yaml');
    await writeFile(applied, dump(manifest));

    // The profile, measured on the worker's own flags while the rest starts (a tiny grid).
    const profilePath = join(dir, 'profile.json');
    profiler = await startDynamo(
      [
        'profile',
        ...workerArgs.slice(1),
        ...['--isl', '32,128', '--decode-context', '64,128', '--concurrency', '1,2,4,8'],
        ...['--prefill-repeats', '1', '--decode-skip', '2', '--decode-window', '8', '--out', profilePath],
      ],
      {},
      'profile',
    );

    const promPort = await freePort();
    operator = await startOperator(namespace, [`--prometheus-endpoint=http://127.0.0.1:${promPort}`]);
    expect(await kubectl(['apply', `--namespace=${namespace}`, `--filename=${applied}`])).toContain(
      `dynamographdeployment.nvidia.com/${GRAPH} created`,
    );
    const deployments = await graphDeployments(admin, namespace, 3);
    const plannerDeployment = deploymentWith(deployments, TYPE, 'planner');
    const plannerContainer = plannerDeployment.spec.template.spec.containers[0];
    expect(plannerContainer?.args).toEqual(['planner', '--mode', 'agg', '--agg-service', 'MockerWorker']);
    expect(plannerContainer?.env).toEqual(
      expect.arrayContaining([
        { name: 'DYN_PARENT_DGD_K8S_NAME', value: GRAPH },
        { name: 'PROMETHEUS_ENDPOINT', value: `http://127.0.0.1:${promPort}` },
        { name: 'DYN_PLANNER_ADJUSTMENT_INTERVAL', value: '5' },
      ]),
    );
    expect(plannerDeployment.spec.template.spec.serviceAccountName).toBe(PLANNER);
    expect(deploymentWith(deployments, TYPE, 'worker').spec.replicas).toBe(1);

    // The pods. Prometheus scrapes the frontend where it runs.
    kubelet = new Kubelet(admin, namespace, await tinyModelDir());
    const k = kubelet;
    k.start();
    const pod = (name: string) => {
      const p = k.podsOf(name)[0];
      if (!p) throw new Error(`no pod of ${name}`);
      return p;
    };
    await waitFor(async () => k.podsOf(FRONTEND).length === 1 && k.podsOf(PLANNER).length === 1, 'the pods');
    const frontendUrl = `http://127.0.0.1:${pod(FRONTEND).port}`;
    prometheus = new PrometheusServer(join(dir, 'prometheus'), [
      { job: 'frontend', address: `127.0.0.1:${pod(FRONTEND).port}` },
    ]);
    prometheus.port = promPort;
    await prometheus.start();
    const plannerMetrics = async () => (await fetch(`http://127.0.0.1:${pod(PLANNER).port}/metrics`)).text();
    const decisions = async (reason: string) =>
      sample(
        await plannerMetrics(),
        `dynamo_planner_decisions_total{loop="throughput",service="MockerWorker",reason="${reason}"}`,
      ) || 0;
    const status = async () => {
      const dgd = await admin.get(DGD_RT, namespace, GRAPH);
      const st = (dgd?.status as { services?: Record<string, { readyReplicas?: number }> } | undefined)
        ?.services?.MockerWorker;
      const scale = await admin.request<{ spec: { replicas: number } }>(
        'GET',
        KubeClient.path(ADAPTER_RT, namespace, WORKER, 'scale'),
      );
      const deployment = await admin.get(RT.deployment, namespace, WORKER);
      return {
        adapter: scale.spec.replicas,
        deployment: (deployment?.spec as { replicas?: number } | undefined)?.replicas ?? 0,
        ready: st?.readyReplicas ?? 0,
        processes: k.podsOf(WORKER).length,
      };
    };
    await waitFor(
      async () => (await fetch(`${frontendUrl}/health`)).ok && (await status()).ready === 1,
      'the frontend to see the worker, and the worker ready in the graph status',
      120_000,
    );

    // No profile mounted yet: running, healthy, deciding nothing and saying why.
    await waitFor(async () => (await decisions('no_profile')) >= 1, 'a no_profile decision', 60_000);
    expect(
      sample(
        await plannerMetrics(),
        'dynamo_planner_profile_status{dynamo_planner_profile_status="no_profile"}',
      ),
    ).toBe(1);
    expect((await fetch(`http://127.0.0.1:${pod(PLANNER).port}/health`)).ok).toBe(true);

    // The profile, as a user hands it over: a ConfigMap the planner's pod mounts.
    expect(await profiler.exited).toBe(0);
    await kubectl([
      'create',
      'configmap',
      'planner-profile',
      `--namespace=${namespace}`,
      `--from-file=profile.json=${profilePath}`,
    ]);
    await waitFor(
      async () =>
        sample(
          await plannerMetrics(),
          'dynamo_planner_profile_status{dynamo_planner_profile_status="loaded"}',
        ) === 1,
      'the planner to read the profile',
      60_000,
    );

    // Rising load: a step up every throughput decision, then held until the planner has scaled.
    const client = new OpenAI({ baseURL: `${frontendUrl}/v1`, apiKey: 'none', maxRetries: 0 });
    const model = (await client.models.list()).data[0]?.id;
    if (!model) throw new Error('the frontend lists no model');
    load = new ChatLoad(client, model);
    const ticks = async () => {
      const text = await plannerMetrics();
      let n = 0;
      for (const line of text.split('\n'))
        if (line.startsWith('dynamo_planner_decisions_total{loop="throughput"'))
          n += Number(line.slice(line.lastIndexOf(' ') + 1));
      return n;
    };
    for (const concurrency of [2, 4, 8, 16]) {
      load.concurrency(concurrency);
      const t = await ticks();
      await waitFor(
        async () => (await ticks()) > t || (await status()).deployment > 1,
        'a throughput decision',
      );
      if ((await status()).deployment > 1) break;
    }
    load.concurrency(16);
    await waitFor(
      async () => {
        const s = await status();
        return s.deployment >= 2 && s.ready === s.deployment && s.processes === s.deployment;
      },
      'the planner to scale the workers up, and the new replicas to be ready',
      150_000,
    );
    const up = await status();
    // The planner patched the adapter; the operator followed with the Deployment.
    expect(up.adapter).toBeGreaterThanOrEqual(up.deployment);
    // Give it one more decision at full load: it may go on to --max-replicas.
    const t = await ticks();
    await waitFor(async () => (await ticks()) > t, 'one more throughput decision', 60_000);
    await waitFor(
      async () => {
        const s = await status();
        return s.adapter === s.deployment && s.ready === s.deployment && s.processes === s.deployment;
      },
      'the replicas the planner asked for to be ready',
      120_000,
    );
    const peak = await status();
    await load.stop();
    const metricsUnderLoad = await plannerMetrics();

    // No load: back to the minimum.
    await waitFor(
      async () => {
        const s = await status();
        return s.adapter === 1 && s.deployment === 1 && s.ready === 1 && s.processes === 1;
      },
      'the planner to scale back down to one replica',
      150_000,
    );
    const metricsAfter = await plannerMetrics();
    const seen = k.replicasSeen.get(WORKER) ?? [];
    const failures = load.outcomes.filter((o) => !o.ok);
    console.log(
      JSON.stringify({
        e2e: 'dgd-planner',
        workerReplicasSeen: seen,
        peak,
        requests: load.outcomes.length,
        failures: failures.length,
        observedRps: sample(metricsUnderLoad, 'dynamo_planner_observed_requests_per_second'),
        capacityRps: sample(metricsUnderLoad, 'dynamo_planner_engine_decode_capacity_requests_per_second'),
        scaleUps: await decisions('scale_up'),
        scaleDowns: await decisions('scale_down'),
        seconds: (Date.now() - started) / 1000,
      }),
    );
    expect(seen[0]).toBe(1);
    expect(Math.max(...seen)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...seen)).toBeLessThanOrEqual(3);
    expect(seen.at(-1)).toBe(1);
    const count = (loop: string, reason: string) =>
      sample(
        metricsAfter,
        `dynamo_planner_decisions_total{loop="${loop}",service="MockerWorker",reason="${reason}"}`,
      ) || 0;
    expect(count('throughput', 'scale_up') + count('load', 'scale_up')).toBeGreaterThanOrEqual(1);
    expect(count('throughput', 'scale_down') + count('load', 'scale_down')).toBeGreaterThanOrEqual(1);
    expect(failures).toEqual([]);
    expect(k.crashed).toEqual([]);

    await kubelet.stop();
    kubelet = undefined;
    await deleteGraph(admin, namespace, GRAPH);
  });
});
