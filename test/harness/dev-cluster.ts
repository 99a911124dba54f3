// `make dev-cluster`: a real etcd and kube-apiserver in the foreground, the same ones the integration
// tests run, for a person to try the operator against. Prints `export KUBECONFIG=<path>` on stdout as soon
// as the API server is ready (everything else goes to stderr), runs until Ctrl-C, then stops both and
// removes their directory. There is no kubelet: Deployments and Pods are stored, never run.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdServer } from './etcd-server.js';
import { KubeApiServer } from './kube-apiserver.js';

const dir = await mkdtemp(join(tmpdir(), 'dynamo-dev-cluster-'));
const etcd = new EtcdServer(join(dir, 'etcd'));
let kube: KubeApiServer | undefined;

let stopping: Promise<void> | undefined;
/** Keeps the directory, with the servers' logs, when they failed to start. */
function stop(keepLogs = false): Promise<void> {
  stopping ??= (async () => {
    console.error('dev-cluster: stopping kube-apiserver and etcd');
    await kube?.stop();
    await etcd.stop();
    if (!keepLogs) await rm(dir, { recursive: true, force: true });
  })();
  return stopping;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void stop().then(() => process.exit(0)));
}

try {
  await etcd.start();
  kube = new KubeApiServer({ dir: join(dir, 'kube-apiserver'), etcdEndpoint: etcd.endpoint });
  await kube.start();
  console.error(
    `dev-cluster: etcd ${etcd.endpoint}, kube-apiserver ${kube.url}; logs in ${dir}; Ctrl-C stops both`,
  );
  console.log(`export KUBECONFIG=${kube.kubeconfigPath}`);
} catch (error) {
  console.error(`dev-cluster: ${error instanceof Error ? error.message : String(error)}`);
  await stop(true);
  process.exit(1);
}
