// Starts the shared services of the integration tests once per run: a real etcd, a real NATS
// (JetStream on) and a real kube-apiserver storing into that etcd under its own key prefix, each on free
// loopback ports with its data and log in one temp directory. Tests reach them through
// `inject('etcdEndpoint')` / `inject('natsUrl')` / `inject('kubeconfig')`. The directory is removed at the
// end unless a test failed (see mark-failures.ts) or DYN_KEEP_HARNESS=1: then its path is printed
// so the servers' logs can be read.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { EtcdServer } from './etcd-server.js';
import { KubeApiServer } from './kube-apiserver.js';
import { NatsServer } from './nats-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    etcdEndpoint: string;
    natsUrl: string;
    /** Path of an admin kubeconfig for the harness's kube-apiserver. */
    kubeconfig: string;
    harnessDir: string;
  }
}

export const FAILURE_MARKER = 'FAILED';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'dynamo-harness-'));
  const etcd = new EtcdServer(join(dir, 'etcd'));
  const nats = new NatsServer(join(dir, 'nats'));
  const startKube = async () => {
    await etcd.start();
    const kube = new KubeApiServer({ dir: join(dir, 'kube-apiserver'), etcdEndpoint: etcd.endpoint });
    await kube.start();
    return kube;
  };
  const [kubeStarted, natsStarted] = await Promise.allSettled([startKube(), nats.start()]);
  if (kubeStarted.status === 'rejected' || natsStarted.status === 'rejected') {
    // No orphaned servers after a failed start (a missing kube-apiserver binary, say).
    const kubeStop = kubeStarted.status === 'fulfilled' ? kubeStarted.value.stop() : Promise.resolve();
    await Promise.all([kubeStop.then(() => etcd.stop()), nats.stop()]);
    throw [kubeStarted, natsStarted].flatMap((r) => (r.status === 'rejected' ? [r.reason] : []))[0];
  }
  const kube = kubeStarted.value;
  project.provide('etcdEndpoint', etcd.endpoint);
  project.provide('natsUrl', nats.url);
  project.provide('kubeconfig', kube.kubeconfigPath);
  project.provide('harnessDir', dir);
  // Child processes started by tests (workers, frontends) find the services the way pods do.
  process.env.ETCD_ENDPOINTS = etcd.endpoint;
  process.env.NATS_SERVER = nats.url;
  process.env.KUBECONFIG = kube.kubeconfigPath;

  return async () => {
    await Promise.all([kube.stop().then(() => etcd.stop()), nats.stop()]);
    if (existsSync(join(dir, FAILURE_MARKER)) || process.env.DYN_KEEP_HARNESS === '1') {
      console.error(
        `[harness] kept service logs in ${dir} (etcd/etcd.log, nats/nats.log, kube-apiserver/kube-apiserver.log)`,
      );
    } else {
      await rm(dir, { recursive: true, force: true });
    }
  };
}
