// End to end, disaggregated (DESIGN §12): `kubectl apply -f examples/dgd-disagg.yaml` through the
// operator gives a frontend, an ONNX prefill worker and an ONNX decode worker (the role from Dynamo's
// `subComponentType`); their pods run as local processes (graph-pods.ts), the KV moving between the
// workers over the TCP data plane. 50 chat requests go through the frontend while the prefill worker is
// SIGKILLed midway: every request completes — those caught between prefill and pull prefill again, and
// once no prefill worker is left the decode worker prefills locally, which /health and the metrics count.
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
  type Outcome,
  RT,
  runReplica,
  startOperator,
  waitAlive,
  waitFor,
} from './graph-pods.js';

const GRAPH = 'disagg';
const REQUESTS = 50;
const CONCURRENCY = 8;
const ROLE = 'nvidia.com/dynamo-sub-component-type';
const TYPE = 'nvidia.com/dynamo-component-type';

describe('end to end: examples/dgd-disagg.yaml', () => {
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

  it('serves 50 chat requests prefilled and decoded apart while the prefill worker dies', async () => {
    const started = Date.now();
    operator = await startOperator(namespace);
    expect(
      await kubectl(['apply', `--namespace=${namespace}`, `--filename=${exampleFile('dgd-disagg.yaml')}`]),
    ).toContain(`dynamographdeployment.nvidia.com/${GRAPH} created`);
    const deployments = await graphDeployments(admin, namespace, 3);
    const frontendDeployment = deploymentWith(deployments, TYPE, 'frontend');
    const prefillDeployment = deploymentWith(deployments, ROLE, 'prefill');
    const decodeDeployment = deploymentWith(deployments, ROLE, 'decode');

    const modelDir = await tinyModelDir();
    const prefill = await runReplica(prefillDeployment, 0, namespace, modelDir);
    const decode = await runReplica(decodeDeployment, 0, namespace, modelDir);
    const frontend = await runReplica(frontendDeployment, 0, namespace, modelDir);
    pods.push(prefill.proc, decode.proc, frontend.proc);
    const base = `http://127.0.0.1:${frontend.port}`;
    interface Health {
      instances?: { disaggregation_mode: string }[];
      disaggregation?: { prefill_workers: number; decode_workers: number }[];
    }
    const health = async () => (await (await fetch(`${base}/health`)).json()) as Health;
    await waitAlive(
      pods,
      async () => {
        const d = (await health()).disaggregation?.[0];
        return d?.prefill_workers === 1 && d.decode_workers === 1;
      },
      'the frontend to see the prefill and the decode worker',
      120_000,
    );
    expect((await health()).instances?.map((i) => i.disaggregation_mode).sort()).toEqual([
      'decode',
      'prefill',
    ]);

    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'none', maxRetries: 0 });
    const model = (await client.models.list()).data[0]?.id;
    if (!model) throw new Error('the frontend lists no model');
    const metrics = async () => (await fetch(`${base}/metrics`)).text();
    const remote = (text: string) => counterSum(text, /^dynamo_frontend_disagg_remote_prefill_total\{/);

    // Midway (a fifth of the requests prefilled remotely), SIGKILL the prefill worker.
    const outcomes: Outcome[] = [];
    let killed = false;
    const killer = (async () => {
      await waitFor(async () => remote(await metrics()) >= REQUESTS / 5, 'remote prefills to be under way');
      await prefill.proc.kill();
      killed = true;
    })();
    await chatLoad(
      client,
      model,
      REQUESTS,
      CONCURRENCY,
      (i) => `Request ${i}: tell me a long story about the number ${i}, with every detail you know.`,
      outcomes,
    );
    await killer;
    expect(killed).toBe(true);

    const text = await metrics();
    const local = counterSum(
      text,
      /^dynamo_frontend_disagg_local_prefill_total\{[^}]*reason="no_prefill_worker"/,
    );
    const failures = outcomes.filter((o) => !o.ok);
    console.log(
      JSON.stringify({
        e2e: 'dgd-disagg',
        requests: outcomes.length,
        failures: failures.length,
        remotePrefills: remote(text),
        localPrefills: local,
        migrations: counterSum(text, /^dynamo_frontend_model_migration_total\{/),
        seconds: (Date.now() - started) / 1000,
      }),
    );
    expect(outcomes).toHaveLength(REQUESTS);
    expect(failures).toEqual([]);
    expect(remote(text)).toBeGreaterThanOrEqual(REQUESTS / 5);
    // After the kill nothing can prefill remotely: the rest prefilled on the decode worker, visibly.
    expect(local).toBeGreaterThanOrEqual(1);
    await waitFor(
      async () => (await health()).disaggregation?.[0]?.prefill_workers === 0,
      'the prefill worker to leave',
    );

    await deleteGraph(admin, namespace, GRAPH);
  });
});
