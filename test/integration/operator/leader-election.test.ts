// Two `dynamo operator` processes on one Lease: only the leader reconciles; when it is killed (no
// clean release), the other takes the lease once it expires and reconciles from then on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, RT } from '../../../src/operator/kube/types.js';
import { DCD_RT, DGD_RT } from '../../../src/operator/reconcilers/resource-types.js';
import type { ServerProcess } from '../../harness/process.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { dgd } from '../../unit/operator/manifests.js';
import { eventually, kube, metric, newNamespace, operatorProcess } from './helpers.js';

let client: KubeClient;
let ns: string;
const procs: { name: string; proc: ServerProcess; metricsPort: number }[] = [];

const graph = (name: string): KubeObject => ({
  ...(dgd(name, {
    services: { Frontend: { componentType: 'frontend' }, Worker: { componentType: 'worker', replicas: 2 } },
  }) as KubeObject),
  metadata: { name, namespace: ns },
});

const reconciles = (port: number) => metric(port, 'dynamo_operator_reconcile_total');
const isLeader = async (port: number) => (await metric(port, 'dynamo_operator_leader')) === 1;

beforeAll(async () => {
  client = kube();
  ns = await newNamespace(client, 'op-leader');
  const dir = await harnessTempDir('operator-leader');
  const args = [
    '--namespace',
    ns,
    '--watch-namespace',
    ns,
    '--install-crds',
    '--no-webhooks',
    // Short enough for a quick hand-over, long enough that a busy 2-core machine (CI beside other
    // work) does not miss a renewal: the renew deadline is strict now (a missed one ends the reign).
    '--lease-duration',
    '6',
    '--renew-deadline',
    '4',
    '--retry-period',
    '0.5',
    '--default-image',
    'dynamo-ts:test',
  ];
  for (const name of ['operator-a', 'operator-b'])
    procs.push({ name, ...(await operatorProcess(name, dir, args)) });
}, 120_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.proc.stop()));
  client?.close();
});

describe('leader election', () => {
  it('lets only the leader reconcile, and hands over when the leader dies', async () => {
    const leader = await eventually('one leader', async () => {
      const flags = await Promise.all(procs.map((p) => isLeader(p.metricsPort)));
      return flags.filter(Boolean).length === 1 ? procs[flags.indexOf(true)] : undefined;
    });
    const follower = procs.find((p) => p !== leader);
    if (!leader || !follower) throw new Error('need two operators');
    const lease = await client.get(RT.lease, ns, 'dynamo-operator-leader');
    expect((lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity).toBe(leader.name);

    await client.create(DGD_RT, graph('first'));
    await eventually('DCDs of the first graph', async () => {
      const items = (await client.list(DCD_RT, { namespace: ns })).items;
      return items.length === 2;
    });
    expect(await reconciles(leader.metricsPort)).toBeGreaterThan(0);
    expect(await reconciles(follower.metricsPort)).toBe(0);
    expect(await isLeader(follower.metricsPort)).toBe(false);

    await leader.proc.kill(); // SIGKILL: the lease is not released, it must expire
    await eventually('the follower leads', () => isLeader(follower.metricsPort), 30_000);
    const after = await client.get(RT.lease, ns, 'dynamo-operator-leader');
    expect((after?.spec as { holderIdentity?: string } | undefined)?.holderIdentity).toBe(follower.name);

    await client.create(DGD_RT, graph('second'));
    await eventually('DCDs of the second graph', async () => {
      const items = (await client.list(DCD_RT, { namespace: ns })).items;
      return items.length === 4;
    });
    expect(await reconciles(follower.metricsPort)).toBeGreaterThan(0);
  });
});
