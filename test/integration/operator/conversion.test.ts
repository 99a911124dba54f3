// DynamoGraphDeployment v1beta1 through the real API server with the operator's webhooks on: created as
// v1beta1 (stored as v1alpha1 through the conversion webhook), read in either version, admitted by the
// v1alpha1 webhooks (matchPolicy Equivalent: the API server converts first), reconciled into one
// Deployment per component; and a v1alpha1 example read as v1beta1.
//
// The CRD is cluster-wide and other test files' operators register their own conversion URL (then stop),
// so each step that needs conversion first points the CRD back at this file's operator.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dgdToV1alpha1 } from '../../../src/api/k8s/index.js';
import type { KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, type ResourceType, RT } from '../../../src/operator/kube/types.js';
import { DCD_RT, DGD_RT } from '../../../src/operator/reconcilers/resource-types.js';
import { conversionPatches } from '../../../src/operator/webhooks/configurations.js';
import { freePort } from '../../harness/process.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { example } from '../../unit/operator/manifests.js';
import {
  baseConfig,
  deleteWebhookConfigurations,
  eventually,
  inNamespace,
  kube,
  newNamespace,
  startOperator,
} from './helpers.js';

const DGD_BETA: ResourceType = { ...DGD_RT, version: 'v1beta1' };
const DCD_BETA: ResourceType = { ...DCD_RT, version: 'v1beta1' };

let client: KubeClient;
let ns: string;
let webhookPort: number;
let operator: { stop: () => Promise<void> };
const CONFIG_NAME = () => `dynamo-test-${ns}`;

/** Points the CRD's conversion webhook at this file's operator, with its CA (from its Secret). */
async function convertHere(): Promise<void> {
  const secret = await client.get(RT.secret, ns, 'dynamo-operator-webhook-cert');
  const ca = ((secret?.data ?? {}) as Record<string, string>)['ca-bundle.crt'];
  if (!ca) throw new Error('no webhook CA yet');
  const target = { kind: 'url' as const, baseUrl: `https://127.0.0.1:${webhookPort}` };
  for (const { name, patch } of conversionPatches(
    { target, name: CONFIG_NAME() },
    Buffer.from(ca, 'base64').toString(),
  )) {
    await client.mergePatch(RT.crd, undefined, name, patch);
  }
}

/** Runs `fn` with conversion pointed here, again until it succeeds (another operator may take it over). */
const converting = <T>(what: string, fn: () => Promise<T>): Promise<T> =>
  eventually(what, async () => {
    await convertHere();
    return await fn();
  });

const inNs = (doc: Record<string, unknown>): KubeObject => inNamespace(ns, doc);

beforeAll(async () => {
  client = kube();
  ns = await newNamespace(client, 'op-conversion');
  const dir = await harnessTempDir('operator-conversion');
  webhookPort = await freePort();
  operator = startOperator(
    baseConfig(ns, { webhooks: true, localWebhooks: true, webhookPort }),
    join(dir, 'operator.log'),
  );
  // The operator registers the conversion webhook itself (its URL and CA bundle in the CRD).
  await eventually(
    'the CRD conversion webhook registered',
    async () => {
      const crd = await client.get(RT.crd, undefined, 'dynamographdeployments.nvidia.com');
      const config = (
        (crd?.spec ?? {}) as {
          conversion?: { webhook?: { clientConfig?: { url?: string; caBundle?: string } } };
        }
      ).conversion?.webhook?.clientConfig;
      return config?.caBundle !== undefined && config.url?.endsWith('/convert');
    },
    60_000,
  );
}, 120_000);

afterAll(async () => {
  await deleteWebhookConfigurations(client, CONFIG_NAME());
  await operator?.stop();
  client?.close();
});

const betaGraph = () =>
  inNs({
    apiVersion: 'nvidia.com/v1beta1',
    kind: 'DynamoGraphDeployment',
    metadata: { name: 'beta' },
    spec: {
      backendFramework: 'mocker',
      env: [{ name: 'DYN_LOG', value: 'info' }],
      components: [
        {
          name: 'Frontend',
          type: 'frontend',
          podTemplate: { spec: { containers: [{ name: 'main', image: 'dynamo-ts:beta' }] } },
        },
        {
          name: 'Prefill',
          type: 'prefill',
          replicas: 2,
          sharedMemorySize: '1Gi',
          podTemplate: {
            metadata: { labels: { team: 'a' } },
            spec: {
              containers: [
                {
                  name: 'main',
                  image: 'dynamo-ts:beta',
                  resources: { requests: { cpu: '1', memory: '1Gi' } },
                  env: [{ name: 'A', value: '1' }],
                },
              ],
            },
          },
        },
      ],
    },
  });

describe('DynamoGraphDeployment v1beta1 through the API server', () => {
  it('is created as v1beta1, read as v1alpha1 and back, and reconciled into one Deployment per component', async () => {
    const written = betaGraph();
    const created = await converting('create as v1beta1', () => client.create(DGD_BETA, written));
    expect(created.apiVersion).toBe('nvidia.com/v1beta1');
    // The defaulting webhook (given the v1alpha1 form) wrote replicas; the rest is as written.
    const defaulted = structuredClone(written.spec) as { components: Record<string, unknown>[] };
    defaulted.components[0] = { ...defaulted.components[0], replicas: 1 };
    expect(created.spec).toEqual(defaulted);

    const alpha = await converting('read as v1alpha1', () => client.get(DGD_RT, ns, 'beta'));
    const services = ((alpha?.spec ?? {}) as { services: Record<string, Record<string, unknown>> }).services;
    expect(Object.keys(services).sort()).toEqual(['Frontend', 'Prefill']);
    expect(services.Prefill).toMatchObject({
      componentType: 'worker',
      subComponentType: 'prefill',
      replicas: 2,
      sharedMemory: { size: '1Gi' },
      envs: [{ name: 'A', value: '1' }],
      resources: { requests: { cpu: '1', memory: '1Gi' } },
      extraPodMetadata: { labels: { team: 'a' } },
      extraPodSpec: { mainContainer: { image: 'dynamo-ts:beta' } },
    });
    expect(((alpha?.spec ?? {}) as { envs: unknown }).envs).toEqual([{ name: 'DYN_LOG', value: 'info' }]);

    const back = await converting('read as v1beta1', () => client.get(DGD_BETA, ns, 'beta'));
    expect(back?.spec).toEqual(defaulted);

    const deployments = await eventually(
      'one Deployment per component',
      async () => {
        const items = (await client.list(RT.deployment, { namespace: ns })).items.filter((d) =>
          d.metadata.name.startsWith('beta-'),
        );
        return items.length === 2 ? items : undefined;
      },
      60_000,
    );
    const byName = Object.fromEntries(
      deployments.map((d) => [d.metadata.name, d.spec as Record<string, unknown>]),
    );
    expect(Object.keys(byName).sort()).toEqual(['beta-frontend', 'beta-prefill']);
    expect(byName['beta-prefill']?.replicas).toBe(2);
    // The component the operator made, read as v1beta1.
    const dcd = await converting('read a DCD as v1beta1', () => client.get(DCD_BETA, ns, 'beta-prefill'));
    expect(dcd?.spec).toMatchObject({
      name: 'Prefill',
      type: 'prefill',
      replicas: 2,
      backendFramework: 'mocker',
    });
    const container = (
      byName['beta-prefill'] as { template: { spec: { containers: { name: string; image: string }[] } } }
    ).template.spec.containers.find((c) => c.name === 'main');
    expect(container?.image).toBe('dynamo-ts:beta');
  });

  it('takes an edit made in v1beta1 to the Deployment', async () => {
    await converting('scale in v1beta1', async () => {
      const current = await client.get(DGD_BETA, ns, 'beta');
      if (!current) throw new Error('no graph');
      const components = (current.spec as { components: Record<string, unknown>[] }).components;
      const frontend = components.find((c) => c.name === 'Frontend');
      if (frontend) frontend.replicas = 3;
      return await client.replace(DGD_BETA, current);
    });
    await eventually('beta-frontend at 3 replicas', async () => {
      const d = await client.get(RT.deployment, ns, 'beta-frontend');
      return (d?.spec as { replicas?: number } | undefined)?.replicas === 3;
    });
  });

  it('is refused by the v1alpha1 validating webhook, converted first', async () => {
    const empty = inNs({
      apiVersion: 'nvidia.com/v1beta1',
      kind: 'DynamoGraphDeployment',
      metadata: { name: 'empty' },
      spec: { components: [] },
    });
    const message = await converting('refusal of an empty v1beta1 graph', async () => {
      try {
        await client.create(DGD_BETA, empty);
        return undefined;
      } catch (err) {
        const m = (err as Error).message;
        return m.includes('conversion webhook') ? undefined : m;
      }
    });
    expect(message).toContain('at least one service');
  });

  it('reads a v1alpha1 example as v1beta1, and that converts back to what was written', async () => {
    const [doc] = example('dgd-disagg.yaml');
    const written = inNs(doc as Record<string, unknown>);
    await client.create(DGD_RT, written);
    const beta = await converting('read the example as v1beta1', () => client.get(DGD_BETA, ns, 'disagg'));
    const components = ((beta?.spec ?? {}) as { components: { name: string; type?: string }[] }).components;
    expect(components.map((c) => [c.name, c.type])).toEqual([
      ['Frontend', 'frontend'],
      ['OnnxDecodeWorker', 'decode'],
      ['OnnxPrefillWorker', 'prefill'],
    ]);
    const alpha = dgdToV1alpha1(beta as unknown as Record<string, unknown>);
    expect(alpha.spec).toEqual(written.spec);
  });
});
