// Dynamo's own v1alpha1 examples (test/fixtures/dynamo-examples, verbatim) applied unchanged through a
// real API server with the webhooks on: all admitted, Dynamo's fields kept (not pruned), one Deployment
// per service; the epp service's with its ServiceAccount and Role. One namespace, one wait.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, RT } from '../../../src/operator/kube/types.js';
import { DGD_RT } from '../../../src/operator/reconcilers/resource-types.js';
import { DYNAMO_EXAMPLES, dynamoExample } from '../../fixtures/dynamo-examples/examples.js';
import { freePort } from '../../harness/process.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { dgd } from '../../unit/operator/manifests.js';
import {
  baseConfig,
  deleteWebhookConfigurations,
  eventually,
  inNamespace,
  kube,
  newNamespace,
  startOperator,
} from './helpers.js';

let client: KubeClient;
let ns: string;
let operator: { stop: () => Promise<void> };
const CONFIG_NAME = () => `dynamo-test-${ns}`;

type Services = Record<string, { componentType?: string; replicas?: number }>;
const inNs = (doc: Record<string, unknown>): KubeObject => inNamespace(ns, doc);

beforeAll(async () => {
  client = kube();
  ns = await newNamespace(client, 'op-dynamo-examples');
  const dir = await harnessTempDir('operator-dynamo-examples');
  const webhookPort = await freePort();
  operator = startOperator(
    // No --default-image: every example names its own, and the webhook must not refuse them for it.
    baseConfig(ns, { webhooks: true, localWebhooks: true, webhookPort, defaultImage: undefined }),
    join(dir, 'operator.log'),
  );
  await eventually(
    'webhook serving',
    async () => {
      try {
        await client.create(DGD_RT, inNs(dgd('probe', { services: {} })));
        await client.delete(DGD_RT, ns, 'probe');
        return false;
      } catch (err) {
        return (err as Error).message.includes('at least one service');
      }
    },
    60_000,
  );
}, 120_000);

afterAll(async () => {
  await deleteWebhookConfigurations(client, CONFIG_NAME());
  await operator?.stop();
  client?.close();
});

describe("Dynamo's examples through the API server with the webhooks on", () => {
  it('are admitted, kept as written, and reconciled into one Deployment per service', async () => {
    const warnings: string[] = [];
    const warned = kube({ onWarning: (w) => warnings.push(w) });
    const expected = new Map<string, number>();
    try {
      for (const file of DYNAMO_EXAMPLES) {
        const [doc] = dynamoExample(file);
        const o = inNs(doc as Record<string, unknown>);
        const created = await warned.create(DGD_RT, o);
        expect(created.metadata.uid, file).toBeDefined();
        for (const [name, s] of Object.entries((o.spec as { services: Services }).services)) {
          expected.set(`${o.metadata.name}-${name.toLowerCase()}`, s.replicas ?? 1);
        }
      }
    } finally {
      warned.close();
    }
    expect(warnings.filter((w) => w.includes('unknown field'))).toEqual([]);
    expect(warnings.some((w) => w.startsWith('spec.services.epp.eppConfig: '))).toBe(true);

    // The one wait: every service's Deployment.
    const deployments = await eventually(
      `${expected.size} Deployments`,
      async () => {
        const items = (await client.list(RT.deployment, { namespace: ns })).items;
        return items.length >= expected.size ? items : undefined;
      },
      120_000,
    );
    const replicas = Object.fromEntries(
      deployments.map((d) => [d.metadata.name, (d.spec as { replicas: number }).replicas]),
    );
    expect(replicas).toEqual(Object.fromEntries(expected));

    // Dynamo's fields we do not act on are stored as written, not pruned.
    const epp = await client.get(DGD_RT, ns, 'sglang-agg-epp');
    const services = (epp?.spec as { services?: Record<string, Record<string, unknown>> } | undefined)
      ?.services;
    expect(services?.epp?.eppConfig).toMatchObject({ config: { schedulingProfiles: [{ name: 'default' }] } });
    // The epp component runs (`dynamo epp` or, as here, its own image) with the rights to watch its pool.
    const role = await client.get(RT.role, ns, 'sglang-agg-epp-epp');
    expect(role?.rules).toContainEqual(expect.objectContaining({ resources: ['inferencepools'] }));
  }, 240_000);
});
