// The admission webhooks registered through the real API server (--local-webhooks: a URL on this host,
// TLS from the operator's own CA): every invalid manifest of the suite is refused with its message,
// the examples are admitted, defaults are written, and update rules hold.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, type KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, RT } from '../../../src/operator/kube/types.js';
import { DGD_RT, MODEL_RT } from '../../../src/operator/reconcilers/resource-types.js';
import { freePort } from '../../harness/process.js';
import { harnessTempDir } from '../../harness/temp-dir.js';
import { dgd, EXAMPLE_FILES, example, INVALID_CREATES } from '../../unit/operator/manifests.js';
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

const inNs = (doc: Record<string, unknown>): KubeObject => inNamespace(ns, doc);

const rtOf = (o: KubeObject) => (o.kind === 'DynamoModel' ? MODEL_RT : DGD_RT);

async function refusal(fn: () => Promise<unknown>): Promise<KubeApiError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof KubeApiError) return err;
    throw err;
  }
  throw new Error('expected the API server to refuse');
}

beforeAll(async () => {
  client = kube();
  ns = await newNamespace(client, 'op-webhooks');
  const dir = await harnessTempDir('operator-webhooks');
  const webhookPort = await freePort();
  operator = startOperator(
    baseConfig(ns, { webhooks: true, localWebhooks: true, webhookPort }),
    join(dir, 'operator.log'),
  );
  await eventually('webhook configurations with a CA bundle', async () => {
    const v = await client.get(RT.validatingWebhook, undefined, `${CONFIG_NAME()}-validating`);
    const hooks = (v?.webhooks ?? []) as { clientConfig: { caBundle?: string; url?: string } }[];
    return (
      hooks.length === 4 &&
      hooks.every((h) => h.clientConfig.caBundle && h.clientConfig.url?.includes(`:${webhookPort}/`))
    );
  });
  // The webhook answers through the API server (a denial proves the round trip).
  await eventually('webhook serving', async () => {
    const err = await refusal(() => client.create(DGD_RT, inNs(dgd('probe', { services: {} }))));
    return err.message.includes('at least one service');
  });
}, 120_000);

afterAll(async () => {
  await deleteWebhookConfigurations(client, CONFIG_NAME());
  await operator?.stop();
  client?.close();
});

describe('admission webhooks through the API server', () => {
  it('keep their certificate in a Secret whose CA is the configurations bundle', async () => {
    const secret = await client.get(RT.secret, ns, 'dynamo-operator-webhook-cert');
    const data = (secret?.data ?? {}) as Record<string, string>;
    expect(Object.keys(data).sort()).toEqual(['ca-bundle.crt', 'ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const v = await client.get(RT.validatingWebhook, undefined, `${CONFIG_NAME()}-validating`);
    const hook = ((v?.webhooks ?? []) as { clientConfig: { caBundle: string } }[])[0];
    expect(hook?.clientConfig.caBundle).toBe(data['ca-bundle.crt']);
  });

  it.each(INVALID_CREATES)('refuse $name', async ({ manifest, message }) => {
    const err = await refusal(() => client.create(rtOf(manifest as KubeObject), inNs(manifest)));
    expect(err.status).toBeGreaterThanOrEqual(400);
    expect(err.message).toContain(message);
  });

  it.each(EXAMPLE_FILES)('admit the example %s', async (file) => {
    for (const doc of example(file)) {
      const o = inNs(doc);
      const created = await client.create(rtOf(o), o);
      expect(created.metadata.uid).toBeDefined();
    }
  });

  it('warn about unsupported and deprecated fields, through the API server', async () => {
    const warnings: string[] = [];
    const c = kube({ onWarning: (w) => warnings.push(w) });
    try {
      await c.create(
        DGD_RT,
        inNs(
          dgd('warned', {
            services: {
              W: { componentType: 'worker', multinode: { nodeCount: 2 }, autoscaling: { enabled: true } },
            },
          }),
        ),
      );
    } finally {
      c.close();
    }
    expect(warnings.some((w) => w.startsWith('spec.services.W.multinode: not supported by dynamo-ts'))).toBe(
      true,
    );
    expect(warnings.some((w) => w.startsWith('spec.services.W.autoscaling: deprecated'))).toBe(true);
    // Kept, not pruned.
    const stored = await client.get(DGD_RT, ns, 'warned');
    const services = (stored?.spec as { services?: Record<string, Record<string, unknown>> } | undefined)
      ?.services;
    expect(services?.W?.multinode).toEqual({ nodeCount: 2 });
  });

  it('write the defaults', async () => {
    await client.create(
      DGD_RT,
      inNs(dgd('defaults', { services: { Frontend: { componentType: 'frontend' } } })),
    );
    const stored = await client.get(DGD_RT, ns, 'defaults');
    const spec = stored?.spec as { services: { Frontend: { replicas: number } } } | undefined;
    expect(spec?.services.Frontend.replicas).toBe(1);
  });

  it('refuse a change of backendFramework or of the set of services', async () => {
    const err = await refusal(() =>
      client.mergePatch(DGD_RT, ns, 'agg', { spec: { backendFramework: 'mocker' } }),
    );
    expect(err.message).toContain('spec.backendFramework: immutable');
    const err2 = await refusal(() =>
      client.mergePatch(DGD_RT, ns, 'agg', { spec: { services: { Planner: { componentType: 'planner' } } } }),
    );
    expect(err2.message).toContain('spec.services: the set of services is immutable (added Planner)');
  });

  it("refuse a user's change to the replicas of an adapter-owned service, not the operator's", async () => {
    // Alice may do anything (system:masters) but she is not the operator.
    const alice = kube({ impersonate: { user: 'alice', groups: ['system:masters'] } });
    try {
      const err = await refusal(() =>
        alice.mergePatch(DGD_RT, ns, 'kv-routed', { spec: { services: { OnnxWorker: { replicas: 7 } } } }),
      );
      expect(err.message).toContain(
        'spec.services.OnnxWorker.replicas: owned by its DynamoGraphDeploymentScalingAdapter',
      );
    } finally {
      alice.close();
    }
    // The operator's own identity (the harness's admin, as this operator runs with it) may.
    await client.mergePatch(DGD_RT, ns, 'kv-routed', { spec: { services: { OnnxWorker: { replicas: 4 } } } });
  });

  it('stop the operator when they cannot serve (the port is taken), rather than run without them', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as AddressInfo).port;
    try {
      const dir = await harnessTempDir('operator-port-taken');
      const other = startOperator(
        baseConfig(ns, {
          webhooks: true,
          localWebhooks: true,
          webhookPort: port,
          webhookConfigName: `dynamo-test-${ns}-other`,
          identity: 'port-taken',
        }),
        join(dir, 'operator.log'),
      );
      await expect(other.done).rejects.toThrow(/EADDRINUSE/);
    } finally {
      blocker.close();
      await deleteWebhookConfigurations(client, `dynamo-test-${ns}-other`);
    }
  });

  it('refuse a change of a DynamoModel base model', async () => {
    const err = await refusal(() =>
      client.mergePatch(MODEL_RT, ns, 'qwen3-tiny', { spec: { baseModelName: 'other' } }),
    );
    expect(err.message).toContain('spec.baseModelName: immutable');
  });
});
