// End to end, as a user runs it: the harness's etcd, NATS and kube-apiserver; `dynamo operator` out of
// cluster (webhooks included, called back by URL); `kubectl apply -f examples/dgd-agg.yaml`; then the
// pods of the Deployments the operator made, run as local processes with each container's own command,
// args and env (no kubelet runs here). 50 chat requests go through the frontend with the openai SDK while
// one worker is SIGKILLed mid-request: none may fail (the frontend migrates them). Deleting the graph
// removes every child.
//
// The only translations from container to process are what a pod has and this machine has not: its own
// network namespace (ports 8000/9090 become free ports), the model volume (`/models/<name>` becomes
// the tiny model's directory) and the harness's addresses, which the operator hands to every pod.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { KubeClient } from '../../src/operator/kube/client.js';
import { type KubeObject, RT } from '../../src/operator/kube/types.js';
import { DCD_RT, DGD_RT } from '../../src/operator/reconcilers/resource-types.js';
import { type DynamoProcess, startDynamo, waitAlive, waitFor } from '../harness/dynamo-process.js';
import { kubeTool, REPO_ROOT } from '../harness/kube-apiserver.js';
import { freePort } from '../harness/process.js';
import { tinyModelDir } from '../harness/tiny-model.js';

const exec = promisify(execFile);
const EXAMPLE = join(REPO_ROOT, 'examples/dgd-agg.yaml');
const GRAPH = 'agg';
const REQUESTS = 50;
const CONCURRENCY = 8;
/** Where the container expects the model: a volume mount, the tiny model here. */
const MODEL_MOUNT = /^\/models\/[^/]+$/;

const Container = z.object({
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).default([]),
  env: z
    .array(
      z.object({
        name: z.string(),
        value: z.string().optional(),
        valueFrom: z.object({ fieldRef: z.object({ fieldPath: z.string() }) }).optional(),
      }),
    )
    .default([]),
  ports: z.array(z.object({ name: z.string(), containerPort: z.number() })),
});
const Deployment = z.object({
  metadata: z.object({
    name: z.string(),
    ownerReferences: z.array(z.object({ kind: z.string(), name: z.string() })),
  }),
  spec: z.object({
    replicas: z.number(),
    template: z.object({
      metadata: z.object({ labels: z.record(z.string(), z.string()) }),
      spec: z.object({ containers: z.array(Container).min(1) }),
    }),
  }),
});
type Deployment = z.infer<typeof Deployment>;

/** One replica of a Deployment as a local process: its container's args and env, its port remapped. */
async function runReplica(
  deployment: Deployment,
  replica: number,
  namespace: string,
  modelDir: string,
): Promise<{ proc: DynamoProcess; port: number }> {
  const container = deployment.spec.template.spec.containers[0];
  if (!container) throw new Error(`${deployment.metadata.name}: no container`);
  // The image's entrypoint is `dynamo` (Dockerfile): a container naming a command of its own is not ours.
  expect(container.command, `${deployment.metadata.name}: command`).toBeUndefined();
  const podName = `${deployment.metadata.name}-${replica}`;
  const fieldRefs: Record<string, string> = { 'metadata.name': podName, 'metadata.namespace': namespace };
  const env: Record<string, string> = {};
  for (const e of container.env) {
    const value = e.valueFrom ? fieldRefs[e.valueFrom.fieldRef.fieldPath] : e.value;
    if (value === undefined) throw new Error(`${podName}: env ${e.name} cannot be resolved outside a pod`);
    env[e.name] = value;
  }
  const port = await freePort();
  const [containerPort] = container.ports;
  // The operator gives the port through env (DYN_HTTP_PORT / DYN_SYSTEM_PORT): remap that entry.
  const portEnv = Object.entries(env).find(([, v]) => v === String(containerPort?.containerPort));
  if (!portEnv) throw new Error(`${podName}: no env entry carries the container port`);
  env[portEnv[0]] = String(port);
  const args = container.args.map((a) => (MODEL_MOUNT.test(a) ? modelDir : a));
  const proc = await startDynamo(args, env, podName);
  return { proc, port };
}

describe('end to end: examples/dgd-agg.yaml', () => {
  const namespace = `e2e-${randomBytes(3).toString('hex')}`;
  let admin: KubeClient;
  let operator: DynamoProcess | undefined;
  const pods: DynamoProcess[] = [];
  const kubectl = async (args: string[]) =>
    (await exec(kubeTool('kubectl'), args, { env: { ...process.env, KUBECONFIG: inject('kubeconfig') } }))
      .stdout;

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
    const [health, metrics, webhook] = [await freePort(), await freePort(), await freePort()];
    operator = await startDynamo(
      [
        'operator',
        `--kubeconfig=${inject('kubeconfig')}`,
        '--install-crds',
        `--namespace=${namespace}`,
        `--watch-namespace=${namespace}`,
        `--etcd-endpoints=${inject('etcdEndpoint')}`,
        `--nats-server=${inject('natsUrl')}`,
        '--bind-address=127.0.0.1',
        `--health-port=${health}`,
        `--metrics-port=${metrics}`,
        '--local-webhooks',
        `--webhook-port=${webhook}`,
        `--webhook-config-name=e2e-${namespace}`,
      ],
      {},
      'operator',
    );
    await waitAlive(
      [operator],
      async () => (await fetch(`http://127.0.0.1:${health}/readyz`)).ok,
      'the operator to be ready',
    );

    // Through the API server, its webhooks included, as `kubectl apply` does for a user.
    expect(await kubectl(['apply', `--namespace=${namespace}`, `--filename=${EXAMPLE}`])).toContain(
      `dynamographdeployment.nvidia.com/${GRAPH} created`,
    );
    const deployments: Deployment[] = [];
    await waitFor(async () => {
      const list = await admin.list(RT.deployment, { namespace });
      deployments.splice(0, deployments.length, ...list.items.map((d) => Deployment.parse(d)));
      return deployments.length === 2;
    }, 'the operator to create the Deployments of the graph');
    const byType = (type: string) => {
      const d = deployments.find(
        (x) => x.spec.template.metadata.labels['nvidia.com/dynamo-component-type'] === type,
      );
      if (!d) throw new Error(`no ${type} Deployment among ${deployments.map((x) => x.metadata.name)}`);
      return d;
    };
    const frontendDeployment = byType('frontend');
    const workerDeployment = byType('worker');
    expect(frontendDeployment.spec.replicas).toBe(1);
    expect(workerDeployment.spec.replicas).toBe(2);
    for (const d of deployments) {
      expect(d.metadata.ownerReferences).toEqual([
        expect.objectContaining({ kind: 'DynamoComponentDeployment', name: d.metadata.name }),
      ]);
    }

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
    const models = await client.models.list();
    const model = models.data[0]?.id;
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

    let next = 0;
    const outcomes: { ok: boolean; tokens: number; error?: string }[] = [];
    const drive = async () => {
      while (next < REQUESTS) {
        const i = next++;
        try {
          const stream = await client.chat.completions.create({
            model,
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
          outcomes.push({ ok: finish === 'length' || finish === 'stop', tokens });
        } catch (err) {
          outcomes.push({ ok: false, tokens: 0, error: (err as Error).message });
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, drive));
    await killer;
    expect(killed).toBe(true);

    const failures = outcomes.filter((o) => !o.ok);
    const frontendMetrics = await (await fetch(`${base}/metrics`)).text();
    const migrations = [
      ...frontendMetrics.matchAll(/^dynamo_frontend_model_migration_total\{[^}]*\} (\S+)/gm),
    ]
      .map((m) => Number(m[1]))
      .reduce((a, b) => a + b, 0);
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

    // Deleting the graph: the operator's finalizers remove the components and their workloads.
    await kubectl(['delete', 'dynamographdeployment', GRAPH, `--namespace=${namespace}`, '--wait=false']);
    const left = async () => {
      const names = await Promise.all(
        [RT.deployment, RT.service, DCD_RT].map(async (rt) =>
          (await admin.list<KubeObject>(rt, { namespace })).items.map((o) => `${rt.kind}/${o.metadata.name}`),
        ),
      );
      return names.flat();
    };
    await waitFor(async () => (await left()).length === 0, 'the graph children to be removed');
    await waitFor(
      async () => (await admin.get(DGD_RT, namespace, GRAPH)) === undefined,
      'the graph itself to go once its finalizer is removed',
    );
  });
});
