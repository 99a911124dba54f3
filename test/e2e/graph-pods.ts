// What the end-to-end tests share: `dynamo operator` out of cluster against the harness's API server
// (webhooks called back by URL), `kubectl apply -f examples/<graph>.yaml`, the pods of the Deployments
// the operator made run as local processes with each container's own args and env (no kubelet runs
// here), a chat load through the frontend with the openai SDK, and the graph's deletion.
//
// The only translations from container to process are what a pod has and this machine has not: its own
// network namespace (the container's ports — HTTP/system and the KV data plane — become free ports; the
// pod IP is 127.0.0.1), the model volume (`/models/<name>` becomes the tiny model's directory), other
// volumes a caller materialises (a ConfigMap's files: their mount path becomes a local directory), the
// pod's ServiceAccount token (a kubeconfig holding it) and the harness's addresses, which the operator
// hands to every pod.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type OpenAI from 'openai';
import { expect, inject } from 'vitest';
import { z } from 'zod';
import { KubeClient } from '../../src/operator/kube/client.js';
import { type KubeObject, RT } from '../../src/operator/kube/types.js';
import { DCD_RT, DGD_RT } from '../../src/operator/reconcilers/resource-types.js';
import { type DynamoProcess, startDynamo, waitAlive, waitFor } from '../harness/dynamo-process.js';
import { kubeTool, REPO_ROOT } from '../harness/kube-apiserver.js';
import { freePort } from '../harness/process.js';

const exec = promisify(execFile);
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
  volumeMounts: z.array(z.object({ name: z.string(), mountPath: z.string() })).default([]),
  readinessProbe: z.object({ httpGet: z.object({ path: z.string() }).optional() }).optional(),
});
export const Deployment = z.object({
  metadata: z.object({
    name: z.string(),
    ownerReferences: z.array(z.object({ kind: z.string(), name: z.string() })),
  }),
  spec: z.object({
    replicas: z.number(),
    template: z.object({
      metadata: z.object({ labels: z.record(z.string(), z.string()) }),
      spec: z.object({
        containers: z.array(Container).min(1),
        serviceAccountName: z.string().optional(),
        volumes: z
          .array(
            z.looseObject({
              name: z.string(),
              configMap: z.object({ name: z.string(), optional: z.boolean().optional() }).optional(),
            }),
          )
          .default([]),
      }),
    }),
  }),
});
export type Deployment = z.infer<typeof Deployment>;

export interface Pod {
  proc: DynamoProcess;
  /** The container's first port (HTTP or system), remapped. */
  port: number;
}

export interface ReplicaOptions {
  /**
   * Volume mount paths of the container → directories of this machine: an arg or env value naming a
   * path under a mount names the same path under its directory.
   */
  mounts?: Readonly<Record<string, string>>;
  /** What the pod gets from outside its spec (KUBECONFIG for its ServiceAccount's token), set last. */
  env?: Readonly<Record<string, string>>;
}

/** `value` with a mounted container path mapped to its directory here (else unchanged). */
function mapMounted(value: string, mounts: Readonly<Record<string, string>>): string {
  for (const [mountPath, dir] of Object.entries(mounts)) {
    if (value === mountPath || value.startsWith(`${mountPath}/`)) return dir + value.slice(mountPath.length);
  }
  return value;
}

/** One replica of a Deployment as a local process: its container's args and env, its ports remapped. */
export async function runReplica(
  deployment: Deployment,
  replica: number,
  namespace: string,
  modelDir: string,
  options: ReplicaOptions = {},
): Promise<Pod> {
  const mounts = options.mounts ?? {};
  const container = deployment.spec.template.spec.containers[0];
  if (!container) throw new Error(`${deployment.metadata.name}: no container`);
  // The image's entrypoint is `dynamo` (Dockerfile): a container naming a command of its own is not ours.
  expect(container.command, `${deployment.metadata.name}: command`).toBeUndefined();
  const podName = `${deployment.metadata.name}-${replica}`;
  const fieldRefs: Record<string, string> = {
    'metadata.name': podName,
    'metadata.namespace': namespace,
    'status.podIP': '127.0.0.1',
  };
  const env: Record<string, string> = {};
  for (const e of container.env) {
    const value = e.valueFrom ? fieldRefs[e.valueFrom.fieldRef.fieldPath] : e.value;
    if (value === undefined) throw new Error(`${podName}: env ${e.name} cannot be resolved outside a pod`);
    env[e.name] = mapMounted(value, mounts);
  }
  // The operator gives each port through env (DYN_HTTP_PORT / DYN_SYSTEM_PORT, DYN_KV_DATA_PLANE_PORT):
  // remap those entries to free ports of this machine.
  let port: number | undefined;
  for (const containerPort of container.ports) {
    const entry = Object.entries(env).find(([, v]) => v === String(containerPort.containerPort));
    if (!entry) throw new Error(`${podName}: no env entry carries container port ${containerPort.name}`);
    const free = await freePort();
    env[entry[0]] = String(free);
    port ??= free;
  }
  if (port === undefined) throw new Error(`${podName}: no container port`);
  const args = container.args.map((a) => (MODEL_MOUNT.test(a) ? modelDir : mapMounted(a, mounts)));
  const proc = await startDynamo(args, { ...env, ...options.env }, podName);
  return { proc, port };
}

/**
 * The operator out of cluster, its webhooks called back by URL, watching one namespace; `extraArgs`
 * as the chart's values would add (e.g. `--prometheus-endpoint`).
 */
export async function startOperator(
  namespace: string,
  extraArgs: readonly string[] = [],
): Promise<DynamoProcess> {
  const [health, metrics, webhook] = [await freePort(), await freePort(), await freePort()];
  const operator = await startDynamo(
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
      ...extraArgs,
    ],
    {},
    'operator',
  );
  await waitAlive(
    [operator],
    async () => (await fetch(`http://127.0.0.1:${health}/readyz`)).ok,
    'the operator to be ready',
  );
  return operator;
}

export function kubectl(args: string[]): Promise<string> {
  return exec(kubeTool('kubectl'), args, { env: { ...process.env, KUBECONFIG: inject('kubeconfig') } }).then(
    (r) => r.stdout,
  );
}

export function exampleFile(name: string): string {
  return join(REPO_ROOT, 'examples', name);
}

/** Waits for the graph's Deployments, each owned by its component. */
export async function graphDeployments(
  admin: KubeClient,
  namespace: string,
  count: number,
): Promise<Deployment[]> {
  const deployments: Deployment[] = [];
  await waitFor(async () => {
    const list = await admin.list(RT.deployment, { namespace });
    deployments.splice(0, deployments.length, ...list.items.map((d) => Deployment.parse(d)));
    return deployments.length === count;
  }, 'the operator to create the Deployments of the graph');
  for (const d of deployments) {
    expect(d.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'DynamoComponentDeployment', name: d.metadata.name }),
    ]);
  }
  return deployments;
}

/** The Deployment whose pods carry `label=value`. */
export function deploymentWith(deployments: Deployment[], label: string, value: string): Deployment {
  const d = deployments.find((x) => x.spec.template.metadata.labels[label] === value);
  if (!d)
    throw new Error(`no Deployment with ${label}=${value} among ${deployments.map((x) => x.metadata.name)}`);
  return d;
}

export interface Outcome {
  ok: boolean;
  tokens: number;
  error?: string;
}

/** `requests` streamed chat requests, `concurrency` at a time; each outcome recorded as it ends. */
export async function chatLoad(
  client: OpenAI,
  model: string,
  requests: number,
  concurrency: number,
  prompt: (i: number) => string,
  outcomes: Outcome[] = [],
): Promise<Outcome[]> {
  let next = 0;
  const drive = async () => {
    while (next < requests) {
      const i = next++;
      try {
        const stream = await client.chat.completions.create({
          model,
          messages: [{ role: 'user', content: prompt(i) }],
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
  await Promise.all(Array.from({ length: concurrency }, drive));
  return outcomes;
}

/** Sum of a Prometheus counter's samples whose line matches `pattern` (name and labels). */
export function counterSum(metricsText: string, pattern: RegExp): number {
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    if (!pattern.test(line)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Deletes the graph and waits until the operator's finalizers removed every child, then the graph. */
export async function deleteGraph(admin: KubeClient, namespace: string, graph: string): Promise<void> {
  await kubectl(['delete', 'dynamographdeployment', graph, `--namespace=${namespace}`, '--wait=false']);
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
    async () => (await admin.get(DGD_RT, namespace, graph)) === undefined,
    'the graph itself to go once its finalizer is removed',
  );
}

export { KubeClient, RT, waitAlive, waitFor };
