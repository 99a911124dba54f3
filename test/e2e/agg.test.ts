// End to end, as a user runs it: `kubectl apply -f examples/dgd-agg.yaml` through the operator, the
// pods of its Deployments as local processes (graph-pods.ts), then 50 chat requests through the
// frontend with the openai SDK while one worker is SIGKILLed mid-request: none may fail (the frontend
// migrates them). Deleting the graph removes every child.
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DynamoProcess } from '../harness/dynamo-process.js';
import { tinyModelDir } from '../harness/tiny-model.js';
import {
  chatLoad,
  counterSum,
  deleteGraph,
  deploymentWith,
  exampleFile,
  graphDeployments,
  KubeClient,
  kubectl,
  RT,
  runReplica,
  startOperator,
  waitAlive,
  waitFor,
} from './graph-pods.js';

const GRAPH = 'agg';
const REQUESTS = 50;
const CONCURRENCY = 8;
const TYPE = 'nvidia.com/dynamo-component-type';

describe('end to end: examples/dgd-agg.yaml', () => {
  const namespace = `e2e-${randomBytes(3).toString('hex')}`;
  let admin: KubeClient;
  let operator: DynamoProcess | undefined;
  const pods: DynamoProcess[] = [];

  beforeAll(async () => {
    admin = KubeClient.fromKubeconfig(inject('kubeconfig'), 'e2e-test');
    await admin.create(RT.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  });
  afterAll(async () => {
    await Promise.all(pods.map((p) => p.stop()));
    await operator?.stop();
    admin.close();
  });

  it('serves 50 chat requests through the operator-made graph while a worker dies; deletion cleans up', async () => {
    const started = Date.now();
    operator = await startOperator(namespace);

    // Through the API server, its webhooks included, as `kubectl apply` does for a user.
    expect(
      await kubectl(['apply', `--namespace=${namespace}`, `--filename=${exampleFile('dgd-agg.yaml')}`]),
    ).toContain(`dynamographdeployment.nvidia.com/${GRAPH} created`);
    const deployments = await graphDeployments(admin, namespace, 2);
    const frontendDeployment = deploymentWith(deployments, TYPE, 'frontend');
    const workerDeployment = deploymentWith(deployments, TYPE, 'worker');
    expect(frontendDeployment.spec.replicas).toBe(1);
    expect(workerDeployment.spec.replicas).toBe(2);

    // The pods, as their containers would run.
    const modelDir = await tinyModelDir();
    const workers = await Promise.all(
      Array.from({ length: workerDeployment.spec.replicas }, (_, i) =>
        runReplica(workerDeployment, i, namespace, modelDir),
      ),
    );
    const frontend = await runReplica(frontendDeployment, 0, namespace, modelDir);
    pods.push(...workers.map((w) => w.proc), frontend.proc);
    const base = `http://127.0.0.1:${frontend.port}`;
    await waitAlive(
      pods,
      async () => {
        const body = (await (await fetch(`${base}/health`)).json()) as { instances?: unknown[] };
        return body.instances?.length === workers.length;
      },
      'the frontend to see both workers',
      120_000,
    );

    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'none', maxRetries: 0 });
    const model = (await client.models.list()).data[0]?.id;
    if (!model) throw new Error('the frontend lists no model');

    // SIGKILL one worker while it serves requests: its streams end without an end frame.
    const victim = workers[0];
    if (!victim) throw new Error('no worker');
    let killed = false;
    const killer = (async () => {
      await waitFor(async () => {
        const text = await (await fetch(`http://127.0.0.1:${victim.port}/metrics`)).text();
        return /^dynamo_component_inflight_requests\{[^}]*dynamo_endpoint="generate"[^}]*\} [1-9]/m.test(
          text,
        );
      }, 'the worker to have a request in flight');
      await victim.proc.kill();
      killed = true;
    })();
    const outcomes = await chatLoad(
      client,
      model,
      REQUESTS,
      CONCURRENCY,
      (i) => `Request ${i}: tell me a story about the number ${i}.`,
    );
    await killer;
    expect(killed).toBe(true);

    const failures = outcomes.filter((o) => !o.ok);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const migrations = counterSum(metrics, /^dynamo_frontend_model_migration_total\{/);
    console.log(
      JSON.stringify({
        e2e: 'dgd-agg',
        requests: outcomes.length,
        failures: failures.length,
        migrations,
        tokens: outcomes.reduce((a, o) => a + o.tokens, 0),
        seconds: (Date.now() - started) / 1000,
      }),
    );
    expect(outcomes).toHaveLength(REQUESTS);
    expect(failures).toEqual([]);
    expect(migrations).toBeGreaterThanOrEqual(1);

    await deleteGraph(admin, namespace, GRAPH);
  });
});
