// A stand-in for what the harness lacks between a Deployment and its processes: the Deployment
// controller and the kubelet. Every pass it keeps `spec.replicas` processes of each Deployment of one
// namespace running (graph-pods.ts' runReplica: the container's own args and env), probes each on its
// readiness path, and writes the Deployment's status as the controller-manager would (observedGeneration,
// replicas, updatedReplicas, readyReplicas, availableReplicas) — which the operator copies into the DCD
// and the graph, where the planner reads it. Scaling down stops the newest replicas (SIGTERM), as a
// ReplicaSet prefers to.
//
// What a kubelet gives a pod beyond its spec is materialised too: a ConfigMap volume becomes a local
// directory holding its keys (kept in sync each pass, as the kubelet does; an optional ConfigMap that does
// not exist is an empty directory), and a pod with a serviceAccountName gets a kubeconfig holding a
// token of that account (TokenRequest API), as its mounted token would be.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { ResourceType } from '../../src/operator/kube/types.js';
import type { DynamoProcess } from '../harness/dynamo-process.js';
import { harnessTempDir } from '../harness/temp-dir.js';
import { Deployment, type KubeClient, type Pod, RT, runReplica } from './graph-pods.js';

const CONFIG_MAP_RT: ResourceType = {
  group: '',
  version: 'v1',
  plural: 'configmaps',
  kind: 'ConfigMap',
  namespaced: true,
};

interface RunningPod extends Pod {
  index: number;
  ready: boolean;
  /** The ConfigMap volumes: each one's directory here. */
  configMaps: { dir: string; configMap: string }[];
}

/** A kubeconfig for the harness's API server whose only credential is a token of `serviceAccount`. */
export async function serviceAccountKubeconfig(
  admin: KubeClient,
  namespace: string,
  serviceAccount: string,
  file: string,
): Promise<string> {
  const review = await admin.request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      },
    },
  );
  const base = JSON.parse(await readFile(inject('kubeconfig'), 'utf8')) as { clusters: { name: string }[] };
  await writeFile(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: base.clusters,
      users: [{ name: serviceAccount, user: { token: review.status.token } }],
      contexts: [
        { name: 'pod', context: { cluster: base.clusters[0]?.name, user: serviceAccount, namespace } },
      ],
      'current-context': 'pod',
    }),
    { mode: 0o600 },
  );
  return file;
}

export class Kubelet {
  private readonly pods = new Map<string, RunningPod[]>();
  private readonly stopping: Promise<unknown>[] = [];
  private readonly statuses = new Map<string, string>();
  private readonly stoppedByUs = new Set<DynamoProcess>();
  private loop: Promise<void> | undefined;
  private running = false;
  /** `spec.replicas` of each Deployment, each time it changed (the first value included). */
  readonly replicasSeen = new Map<string, number[]>();
  /** Processes that exited without being stopped (a crash). */
  readonly crashed: string[] = [];

  constructor(
    private readonly admin: KubeClient,
    private readonly namespace: string,
    private readonly modelDir: string,
  ) {}

  /** The running replicas of a Deployment, oldest first. */
  podsOf(deployment: string): readonly Pod[] {
    return this.pods.get(deployment) ?? [];
  }

  start(intervalMs = 250): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await this.sync();
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    })();
  }

  /** One pass over the namespace's Deployments. */
  async sync(): Promise<void> {
    const list = await this.admin.list(RT.deployment, { namespace: this.namespace });
    for (const item of list.items) {
      const d = Deployment.parse(item);
      const name = d.metadata.name;
      const seen = this.replicasSeen.get(name) ?? [];
      if (seen.at(-1) !== d.spec.replicas) this.replicasSeen.set(name, [...seen, d.spec.replicas]);
      const pods = this.pods.get(name) ?? [];
      this.pods.set(name, pods);
      for (const pod of pods) {
        if (pod.proc.child.exitCode !== null || pod.proc.child.signalCode !== null) {
          if (!this.stoppedByUs.has(pod.proc))
            this.crashed.push(`${name}-${pod.index} (${pod.proc.logFile})`);
          this.stoppedByUs.add(pod.proc);
          pod.ready = false;
        }
      }
      while (pods.length > d.spec.replicas) {
        const pod = pods.pop();
        if (!pod) break;
        this.stoppedByUs.add(pod.proc);
        this.stopping.push(pod.proc.stop());
      }
      while (pods.length < d.spec.replicas) pods.push(await this.startPod(d, pods.length));
      for (const pod of pods) {
        await this.syncConfigMaps(pod);
        if (!pod.ready) pod.ready = await this.probe(d, pod);
      }
      await this.writeStatus(item.metadata.generation, name, pods);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    for (const pods of this.pods.values())
      for (const pod of pods) {
        this.stoppedByUs.add(pod.proc);
        this.stopping.push(pod.proc.stop());
      }
    await Promise.all(this.stopping);
  }

  private async startPod(d: Deployment, index: number): Promise<RunningPod> {
    const podName = `${d.metadata.name}-${index}`;
    const dir = await harnessTempDir(`${podName}-volumes`);
    const container = d.spec.template.spec.containers[0];
    const mounts: Record<string, string> = {};
    const configMaps: RunningPod['configMaps'] = [];
    for (const m of container?.volumeMounts ?? []) {
      const volume = d.spec.template.spec.volumes.find((v) => v.name === m.name);
      if (!volume?.configMap) continue;
      const local = join(dir, m.name);
      await mkdir(local, { recursive: true });
      mounts[m.mountPath] = local;
      configMaps.push({ dir: local, configMap: volume.configMap.name });
    }
    const env: Record<string, string> = {};
    const account = d.spec.template.spec.serviceAccountName;
    if (account)
      env.KUBECONFIG = await serviceAccountKubeconfig(
        this.admin,
        this.namespace,
        account,
        join(dir, 'kubeconfig'),
      );
    const pod: RunningPod = {
      ...(await runReplica(d, index, this.namespace, this.modelDir, { mounts, env })),
      index,
      ready: false,
      configMaps,
    };
    await this.syncConfigMaps(pod);
    return pod;
  }

  /** The ConfigMaps' keys as files of their directories; keys gone are removed. */
  private async syncConfigMaps(pod: RunningPod): Promise<void> {
    for (const { dir, configMap } of pod.configMaps) {
      const cm = await this.admin.get(CONFIG_MAP_RT, this.namespace, configMap);
      const data = ((cm as { data?: Record<string, string> } | undefined)?.data ?? {}) as Record<
        string,
        string
      >;
      for (const [key, value] of Object.entries(data)) {
        const file = join(dir, key);
        if ((await readFile(file, 'utf8').catch(() => undefined)) !== value) await writeFile(file, value);
      }
      for (const file of await readdir(dir)) if (!(file in data)) await rm(join(dir, file), { force: true });
    }
  }

  private async probe(d: Deployment, pod: RunningPod): Promise<boolean> {
    const path = d.spec.template.spec.containers[0]?.readinessProbe?.httpGet?.path ?? '/health';
    try {
      return (await fetch(`http://127.0.0.1:${pod.port}${path}`, { signal: AbortSignal.timeout(2000) })).ok;
    } catch {
      return false;
    }
  }

  private async writeStatus(generation: number | undefined, name: string, pods: RunningPod[]): Promise<void> {
    const ready = pods.filter((p) => p.ready).length;
    const status = {
      observedGeneration: generation,
      replicas: pods.length,
      updatedReplicas: pods.length,
      readyReplicas: ready,
      availableReplicas: ready,
    };
    const key = JSON.stringify(status);
    if (this.statuses.get(name) === key) return;
    await this.admin.mergePatch(RT.deployment, this.namespace, name, { status }, 'status');
    this.statuses.set(name, key);
  }
}
