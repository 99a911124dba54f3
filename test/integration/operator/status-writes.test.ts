// A graph's status writes at creation, seen by a watch on the real kube-apiserver: "pending" once,
// then the aggregate when every DCD has status; the intermediate writes (services filling in one by
// one) are left out, since each DCD's own status write requeues the graph.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { installCrds } from '../../../src/operator/crds.js';
import type { KubeClient } from '../../../src/operator/kube/client.js';
import type { KubeObject } from '../../../src/operator/kube/types.js';
import { DGD_RT } from '../../../src/operator/reconcilers/resource-types.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { baseConfig, eventually, kube, newNamespace, startOperator } from './helpers.js';

let client: KubeClient;
let ns: string;
let operator: { stop: () => Promise<void> };

beforeAll(async () => {
  client = kube();
  ns = await newNamespace(client, 'op-status-writes');
  await installCrds(client); // the watch below starts before the operator has installed them
  const dir = await harnessTempDir('operator-status-writes');
  operator = startOperator(baseConfig(ns), join(dir, 'operator.log'));
});

afterAll(async () => {
  await operator?.stop();
  client?.close();
});

it('writes a six-service graph pending once, then its aggregate, not each service as it arrives', async () => {
  const workers = ['A', 'B', 'C', 'D', 'E'];
  const graph = {
    apiVersion: 'nvidia.com/v1alpha1',
    kind: 'DynamoGraphDeployment',
    metadata: { name: 'six', namespace: ns },
    spec: {
      backendFramework: 'mocker',
      services: {
        Frontend: { componentType: 'frontend', replicas: 1 },
        ...Object.fromEntries(workers.map((w) => [`Worker${w}`, { componentType: 'worker', replicas: 1 }])),
      },
    },
  } as unknown as KubeObject;
  const statuses: string[] = [];
  const watching = new AbortController();
  const { resourceVersion } = await client.list(DGD_RT, { namespace: ns });
  const watch = client
    .watch(DGD_RT, { namespace: ns, resourceVersion, signal: watching.signal }, (e) => {
      const s = JSON.stringify(e.object.status ?? null);
      if (e.type === 'MODIFIED' && s !== statuses.at(-1)) statuses.push(s);
      else if (e.type === 'ADDED') statuses.push(s);
    })
    .catch(() => {});
  await client.create(DGD_RT, graph);
  const done = (o: KubeObject | undefined) => {
    const s = (o?.status ?? {}) as { observedGeneration?: number; services?: object };
    return s.observedGeneration === o?.metadata.generation && Object.keys(s.services ?? {}).length === 6;
  };
  await eventually('the aggregate status of six services', async () =>
    done(await client.get(DGD_RT, ns, 'six')),
  );
  // Let any later write arrive before counting (a resync of the graph must not write either).
  await new Promise((r) => setTimeout(r, 1_500));
  watching.abort();
  await watch;
  const written = statuses
    .slice(1)
    .map((s) => JSON.parse(s) as { state: string; services?: object })
    .map((s) => [s.state, Object.keys(s.services ?? {}).length]);
  expect(written[0]).toEqual(['pending', 0]);
  expect(written.at(-1)).toEqual(['pending', 6]);
  // One more at most: a reconcile whose cache does not have the first write yet writes what it sees.
  expect(written.length, JSON.stringify(written)).toBeLessThanOrEqual(3);
});
