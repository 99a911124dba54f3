// Operator benchmark (`npm run bench:operator`): 200 DynamoGraphDeployments (a frontend and a worker
// each) applied at once; measures the time until the operator reaches steady state (every graph has
// its 2 DCDs, 2 Deployments, 2 Services and a status for its generation), its reconciles/s and its RSS.
// Peer, measured in the same run on the same API server: creating those same objects directly (no
// operator, same client concurrency), the floor the API server itself sets. The ratio is
// operator time / direct time. Then writes per reconcile at steady state: the operator is restarted
// over the converged objects (its start reconciles every key once, as a resync does) and the writes
// the API server counts meanwhile are divided by those reconciles (0 when no-op reconciles write
// nothing). The operator's RSS is reported idle, at steady state (with V8 heap and external memory
// from its metrics) and at its peak. A private etcd + kube-apiserver come from the test harness (run
// from source) unless KUBECONFIG names a cluster. Prints progress lines, then one JSON object as the
// last line.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type DynamoGraphDeployment,
  dynamoComponentDeployment,
  dynamoGraphDeployment,
} from '../api/k8s/index.js';
import { installCrds } from '../operator/crds.js';
import { desiredDeployment, desiredService } from '../operator/desired/component.js';
import { desiredComponents } from '../operator/desired/graph.js';
import { KubeClient } from '../operator/kube/client.js';
import { type KubeObject, RT } from '../operator/kube/types.js';
import { ADAPTER_RT, DCD_RT, DGD_RT, MODEL_RT } from '../operator/reconcilers/resource-types.js';
import { freePort } from './free-port.js';

const { values } = parseArgs({
  options: {
    graphs: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '16' },
    'timeout-s': { type: 'string', default: '600' },
    // Per controller; two controllers are busy here, so 8 keeps as many requests in flight as the peer.
    workers: { type: 'string', default: '8' },
  },
});
const GRAPHS = Number(values.graphs);
const CONCURRENCY = Number(values.concurrency);
const TIMEOUT_MS = Number(values['timeout-s']) * 1000;
const WORKERS = Number(values.workers);
/** The operator's NODE_OPTIONS, as the chart sets them (values.yaml operator.nodeOptions). */
const OPERATOR_NODE_OPTIONS = '--max-semi-space-size=4';
const ROOT = new URL('../../', import.meta.url).pathname;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const progress = (msg: string) => process.stderr.write(`[bench:operator] ${msg}\n`);

interface Stoppable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The harness's etcd + kube-apiserver, loaded from test/ by a computed path (not part of the build). */
async function startCluster(dir: string): Promise<{ kubeconfig: string; stop: () => Promise<void> }> {
  const etcdModule = '../../test/harness/etcd-server.js';
  const kubeModule = '../../test/harness/kube-apiserver.js';
  const { EtcdServer } = (await import(etcdModule)) as {
    EtcdServer: new (dir: string) => Stoppable & { endpoint: string };
  };
  const { KubeApiServer } = (await import(kubeModule)) as {
    KubeApiServer: new (o: {
      dir: string;
      etcdEndpoint: string;
      extraArgs?: string[];
    }) => Stoppable & { kubeconfigPath: string };
  };
  const etcd = new EtcdServer(join(dir, 'etcd'));
  await etcd.start();
  // 2 × 2 × graphs Services need more cluster IPs than the harness's /24 holds (a later flag wins).
  const kube = new KubeApiServer({
    dir: join(dir, 'kube-apiserver'),
    etcdEndpoint: etcd.endpoint,
    extraArgs: ['--service-cluster-ip-range=10.0.0.0/16'],
  });
  await kube.start();
  return {
    kubeconfig: kube.kubeconfigPath,
    stop: async () => {
      await kube.stop();
      await etcd.stop();
    },
  };
}

function graph(namespace: string, i: number): DynamoGraphDeployment {
  return dynamoGraphDeployment.parse({
    apiVersion: 'nvidia.com/v1alpha1',
    kind: 'DynamoGraphDeployment',
    metadata: { name: `g${i}`, namespace },
    spec: {
      backendFramework: 'mocker',
      services: {
        Frontend: { componentType: 'frontend', replicas: 1 },
        Worker: {
          componentType: 'worker',
          replicas: 4,
          extraPodSpec: { mainContainer: { args: ['worker', '--engine', 'mocker'] } },
        },
      },
    },
  });
}

/** Runs `fn` over items with at most `n` in flight. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await fn(item);
      }
    }),
  );
}

async function createNamespace(client: KubeClient, name: string): Promise<void> {
  await client.create(RT.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

/** The peer: the same objects the operator would make, created directly. */
async function directApply(client: KubeClient, namespace: string): Promise<number> {
  await createNamespace(client, namespace);
  const t0 = performance.now();
  await pool(
    Array.from({ length: GRAPHS }, (_, i) => i),
    CONCURRENCY,
    async (i) => {
      const g = graph(namespace, i);
      const created = await client.create(DGD_RT, g as unknown as KubeObject);
      const withUid = { ...g, metadata: { ...g.metadata, uid: created.metadata.uid } };
      for (const dcd of desiredComponents(withUid)) {
        const c = await client.create(DCD_RT, dcd);
        const parsed = dynamoComponentDeployment.parse({
          ...dcd,
          metadata: { ...dcd.metadata, uid: c.metadata.uid },
        });
        await client.create(RT.deployment, desiredDeployment(parsed, { defaultImage: 'dynamo-ts:bench' }));
        await client.create(RT.service, desiredService(parsed));
      }
    },
  );
  return performance.now() - t0;
}

/** Steady state: every graph has status for its generation, then all children exist with status. */
async function steady(client: KubeClient, namespace: string): Promise<boolean> {
  const current = (o: KubeObject) =>
    (o.status as { observedGeneration?: number } | undefined)?.observedGeneration === o.metadata.generation;
  // One list while the operator is still busy.
  const graphs = await client.list(DGD_RT, { namespace });
  const complete = (g: KubeObject) =>
    current(g) && Object.keys((g.status as { services?: object } | undefined)?.services ?? {}).length === 2;
  if (graphs.items.length !== GRAPHS || !graphs.items.every(complete)) return false;
  const [dcds, deployments, services] = await Promise.all([
    client.list(DCD_RT, { namespace }),
    client.list(RT.deployment, { namespace }),
    client.list(RT.service, { namespace }),
  ]);
  const want = GRAPHS * 2;
  return (
    dcds.items.length === want &&
    deployments.items.length === want &&
    services.items.length === want &&
    dcds.items.every(current)
  );
}

/** The kinds the operator writes (the API server writes others itself: Leases, Services' IP addresses). */
const OPERATOR_RESOURCES = new Set([
  DGD_RT.plural,
  DCD_RT.plural,
  ADAPTER_RT.plural,
  MODEL_RT.plural,
  ...[RT.deployment, RT.service, RT.ingress, RT.pvc, RT.event].map((r) => r.plural),
  ...[RT.serviceAccount, RT.role, RT.roleBinding].map((r) => r.plural),
]);

/**
 * Writes of the operator's kinds the API server has served (apiserver_request_total by verb and
 * resource): while only the operator writes them, the difference of two readings is its writes.
 */
async function apiServerWrites(client: KubeClient): Promise<number> {
  const text = await client.requestText('GET', '/metrics');
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^apiserver_request_total\{([^}]*)\}\s+(\S+)$/.exec(line);
    if (!m?.[1]) continue;
    const verb = /verb="([A-Z]+)"/.exec(m[1])?.[1] ?? '';
    const resource = /(?:^|,)resource="([^"]*)"/.exec(m[1])?.[1] ?? '';
    if (['APPLY', 'PATCH', 'POST', 'PUT', 'DELETE'].includes(verb) && OPERATOR_RESOURCES.has(resource))
      sum += Number(m[2]);
  }
  return sum;
}

async function metricSum(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (m && m[1] === name) sum += Number(m[3]);
  }
  return sum;
}

function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

/** CPU seconds (user + system) a process has used, from /proc (clock ticks of 1/100 s on Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Math.round((Number(fields[11]) + Number(fields[12])) / 10) / 10;
}

/** CPU seconds of the etcd and kube-apiserver this run started (their command lines name its directory). */
function clusterCpuSeconds(dir: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) total += cpuSeconds(Number(entry));
    } catch {
      // the process ended between listing and reading: it is not ours anyway
    }
  }
  return total;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'dynamo-bench-operator-'));
  const cluster = process.env.KUBECONFIG
    ? { kubeconfig: process.env.KUBECONFIG, stop: async () => {} }
    : await startCluster(dir);
  let operator: ReturnType<typeof spawn> | undefined;
  // Interrupted: stop what we started (etcd, kube-apiserver, the operator) before exiting.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      operator?.kill('SIGKILL');
      void cluster
        .stop()
        .then(() => rm(dir, { recursive: true, force: true }))
        .finally(() => process.exit(130));
    });
  }
  const client = KubeClient.fromKubeconfig(cluster.kubeconfig, 'bench');
  const suffix = Date.now().toString(36);
  try {
    await installCrds(client);
    progress(`peer: creating the ${GRAPHS * 7} objects of ${GRAPHS} graphs directly`);
    const cpu0 = clusterCpuSeconds(dir);
    const directMs = await directApply(client, `bench-direct-${suffix}`);
    const directApiCpu = clusterCpuSeconds(dir) - cpu0;

    const namespace = `bench-operator-${suffix}`;
    await createNamespace(client, namespace);
    const start = async () => {
      const [healthPort, metricsPort] = [await freePort(), await freePort()];
      const proc = spawn(
        process.execPath,
        [
          join(ROOT, 'bin/dynamo.js'),
          'operator',
          '--kubeconfig',
          cluster.kubeconfig,
          '--namespace',
          namespace,
          '--watch-namespace',
          namespace,
          '--no-webhooks',
          '--no-leader-elect',
          '--bind-address',
          '127.0.0.1',
          '--health-port',
          String(healthPort),
          '--metrics-port',
          String(metricsPort),
          '--default-image',
          'dynamo-ts:bench',
          '--log-level',
          'warn',
          '--workers',
          String(WORKERS),
        ],
        // As the chart runs it (values.yaml operator.nodeOptions): a smaller young generation.
        {
          stdio: ['ignore', 'ignore', 'inherit'],
          env: { ...process.env, NODE_OPTIONS: OPERATOR_NODE_OPTIONS },
        },
      );
      operator = proc;
      for (;;) {
        const ok = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) break;
        if (proc.exitCode !== null) throw new Error('operator exited during start');
        await sleep(100);
      }
      return { proc, pid: proc.pid ?? 0, metricsPort };
    };
    const { proc, pid, metricsPort } = await start();
    const idleRss = rssMiB(pid, 'VmRSS');
    const idleCpu = cpuSeconds(pid);
    progress(`operator ready (RSS ${idleRss} MiB); applying ${GRAPHS} graphs at once`);
    const cpu1 = clusterCpuSeconds(dir);
    const writesBefore = await apiServerWrites(client);
    const t0 = performance.now();
    await pool(
      Array.from({ length: GRAPHS }, (_, i) => i),
      CONCURRENCY,
      (i) => client.create(DGD_RT, graph(namespace, i) as unknown as KubeObject),
    );
    const appliedMs = performance.now() - t0;
    // The list is the truth; the operator's queue depth (its metrics, not the API server) only saves
    // lists while work is queued: the polling must not be what loads the API server.
    while (
      (await metricSum(metricsPort, 'dynamo_operator_workqueue_depth')) > 0 ||
      !(await steady(client, namespace))
    ) {
      if (performance.now() - t0 > TIMEOUT_MS) throw new Error('no steady state in time');
      await sleep(500);
    }
    const steadyMs = performance.now() - t0;
    const operatorApiCpu = clusterCpuSeconds(dir) - cpu1;
    // Less the bench's own creates of the graphs.
    const operatorWrites = (await apiServerWrites(client)) - writesBefore - GRAPHS;
    const reconciles = await metricSum(metricsPort, 'dynamo_operator_reconcile_total');
    const rss = { now: rssMiB(pid, 'VmRSS'), peak: rssMiB(pid, 'VmHWM') };
    // Where that RSS is: V8's heap (reserved and live) and memory outside it (Buffers), from the
    // operator's own process metrics; the rest is code, the runtime and native allocations.
    const mib = async (name: string) =>
      Math.round((await metricSum(metricsPort, `dynamo_operator_nodejs_${name}`)) / 104_857.6) / 10;
    const memory = {
      heapTotalMiB: await mib('heap_size_total_bytes'),
      heapUsedMiB: await mib('heap_size_used_bytes'),
      externalMiB: await mib('external_memory_bytes'),
    };
    const operatorCpuSec = Math.round((cpuSeconds(pid) - idleCpu) * 10) / 10;

    progress('steady state; restarting the operator to count the writes of no-op reconciles');
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
    const writes0 = await apiServerWrites(client);
    const again = await start();
    // Its start queues every graph and component once; done when they are reconciled, the queues empty.
    let resynced = 0;
    for (;;) {
      resynced = await metricSum(again.metricsPort, 'dynamo_operator_reconcile_total');
      const depth = await metricSum(again.metricsPort, 'dynamo_operator_workqueue_depth');
      if (resynced >= GRAPHS * 3 && depth === 0) break;
      if (performance.now() - t0 > TIMEOUT_MS) throw new Error('restarted operator did not finish in time');
      await sleep(200);
    }
    const steadyWrites = (await apiServerWrites(client)) - writes0;
    const result = {
      bench: 'operator',
      graphs: GRAPHS,
      objectsPerGraph: 7,
      concurrency: CONCURRENCY,
      workersPerController: WORKERS,
      applyMs: Math.round(appliedMs),
      steadyStateMs: Math.round(steadyMs),
      reconciles,
      reconcilesPerSec: Math.round((reconciles / (steadyMs / 1000)) * 10) / 10,
      operatorCpuSec,
      operatorRssIdleMiB: idleRss,
      operatorRssMiB: rss.now,
      operatorPeakRssMiB: rss.peak,
      operatorMemoryAtEnd: memory,
      operatorWritesPerGraph: Math.round((operatorWrites / GRAPHS) * 10) / 10,
      // Steady state: the reconciles of the restarted operator over converged objects, and its writes.
      steadyStateReconciles: resynced,
      steadyStateWrites: steadyWrites,
      writesPerSteadyStateReconcile: Math.round((steadyWrites / resynced) * 1000) / 1000,
      // CPU of the private etcd + kube-apiserver in each phase (0 with an external KUBECONFIG).
      apiServerCpuSec: Math.round(operatorApiCpu * 10) / 10,
      peer: {
        name: 'direct creation of the same objects, no operator',
        ms: Math.round(directMs),
        apiServerCpuSec: Math.round(directApiCpu * 10) / 10,
      },
      ratios: { steadyStateVsDirectCreate: Math.round((steadyMs / directMs) * 100) / 100 },
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    operator?.kill('SIGTERM');
    client.close();
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench:operator failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
