// Leader election with a hanging API server. Operator A leads through a proxy; the proxy stalls at A's
// first write of a new graph (that write and everything after it held unanswered). A cannot renew,
// so it must stop leading at its renew deadline and abort what it has in flight; B (through a proxy
// that only records) takes the lease after it expires and reconciles the graph. Then the stall ends:
// whatever A still had waiting would be forwarded now. Asserted on the order of the requests the two
// proxies forwarded (one counter): every write of A comes before B's first write of the Lease.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, RT } from '../../../src/operator/kube/types.js';
import { DCD_RT, DGD_RT } from '../../../src/operator/reconcilers/resource-types.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { dgd } from '../../unit/operator/manifests.js';
import { ApiProxy } from './api-proxy.js';
import { baseConfig, eventually, kube, newNamespace, startOperator } from './helpers.js';

let client: KubeClient;
let ns: string;
let dir: string;
const proxies: ApiProxy[] = [];
const operators: { stop: () => Promise<void> }[] = [];
const LEASE = 'dynamo-operator-leader';

const holder = async () =>
  ((await client.get(RT.lease, ns, LEASE))?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;

async function operator(identity: string): Promise<ApiProxy> {
  const proxy = await ApiProxy.start(inject('kubeconfig'));
  proxies.push(proxy);
  const kubeconfig = await proxy.writeKubeconfig(join(dir, `${identity}.kubeconfig`));
  const config = baseConfig(ns, {
    kubeconfig,
    identity,
    leaderElect: true,
    leaseDurationMs: 3_000,
    renewDeadlineMs: 2_000,
    retryPeriodMs: 500,
  });
  operators.push(startOperator(config, join(dir, `${identity}.log`)));
  return proxy;
}

beforeAll(async () => {
  client = kube();
  ns = await newNamespace(client, 'op-deadline');
  dir = await harnessTempDir('operator-leader-deadline');
});

afterAll(async () => {
  for (const p of proxies) p.resume();
  await Promise.all(operators.map((o) => o.stop()));
  await Promise.all(proxies.map((p) => p.close()));
  client?.close();
});

describe('leader election against a hanging API server', () => {
  it('stops the old leader writing before the new one takes the lease', async () => {
    const a = await operator('operator-a');
    await eventually('A leads', async () => (await holder()) === 'operator-a', 60_000);
    const b = await operator('operator-b');

    // The graph's first write by A (its finalizer) hangs, and so does every request after it.
    a.stallWhen = (method, path) => method !== 'GET' && path.includes('/dynamographdeployments/');
    const graph: KubeObject = {
      ...(dgd('g', {
        services: { Frontend: { componentType: 'frontend' }, Worker: { componentType: 'worker' } },
      }) as KubeObject),
      metadata: { name: 'g', namespace: ns },
    };
    await client.create(DGD_RT, graph);
    await eventually('A stalled on its write', () => a.isStalled);
    await eventually('B leads', async () => (await holder()) === 'operator-b', 60_000);
    await eventually('B reconciled the graph', async () => {
      const items = (await client.list(DCD_RT, { namespace: ns })).items;
      return items.length === 2;
    });

    const resumedAt = a.forwarded.length;
    a.resume();
    // A runs on after the stall: three of its campaign reads of the Lease pass after the resume.
    await eventually('A campaigns again', () => {
      const after = a.forwarded.slice(resumedAt);
      return after.filter((r) => r.method === 'GET' && r.path.includes(`/leases/${LEASE}`)).length >= 3;
    });

    const bTakes = b.writes().find((r) => r.path.includes(`/leases/${LEASE}`));
    if (!bTakes) throw new Error('B never wrote the Lease');
    const aWrites = a.writes();
    expect(aWrites.length).toBeGreaterThan(0); // A did lead and write (its renewals)
    const late = aWrites.filter((r) => r.seq > bTakes.seq);
    expect(late).toEqual([]);
    expect(await holder()).toBe('operator-b');
  }, 180_000);
});
