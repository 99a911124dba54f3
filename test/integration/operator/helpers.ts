// Helpers of the operator's integration tests: a client on the harness's kube-apiserver, a namespace of
// one's own, an operator run in this process or as a separate `dynamo operator` process, and polling.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { KubeClient } from '../../../src/operator/kube/client.js';
import { type KubeObject, RT } from '../../../src/operator/kube/types.js';
import { type OperatorConfig, runOperator } from '../../../src/operator/operator.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { sourceCli } from '../../harness/dynamo-process.js';
import { freePort, ServerProcess } from '../../harness/process.js';

export function kube(
  options: {
    kubeconfig?: string;
    impersonate?: { user: string; groups?: string[] };
    onWarning?: (warning: string) => void;
  } = {},
): KubeClient {
  return KubeClient.fromKubeconfig(options.kubeconfig ?? inject('kubeconfig'), 'integration-test', {
    impersonate: options.impersonate,
    onWarning: options.onWarning,
  });
}

/** A copy of a manifest placed in `namespace`. */
export function inNamespace(namespace: string, doc: Record<string, unknown>): KubeObject {
  const o = structuredClone(doc) as KubeObject;
  o.metadata.namespace = namespace;
  return o;
}

/**
 * Deletes the webhook configurations an operator registered under `name` (cluster-scoped: left behind,
 * they would outlive the operator that answers them).
 */
export async function deleteWebhookConfigurations(
  client: KubeClient | undefined,
  name: string,
): Promise<void> {
  await client?.delete(RT.validatingWebhook, undefined, `${name}-validating`);
  await client?.delete(RT.mutatingWebhook, undefined, `${name}-mutating`);
}

export async function newNamespace(client: KubeClient, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await client.create(RT.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `fn` returns a value other than undefined/false (or stops throwing); fails with the last reason. */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
      last = 'condition not met';
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}: ${last instanceof Error ? last.message : String(last)}`,
      );
    }
    await sleep(100);
  }
}

export function baseConfig(namespace: string, overrides: Partial<OperatorConfig> = {}): OperatorConfig {
  return {
    kubeconfig: inject('kubeconfig'),
    namespace,
    watchNamespace: namespace,
    identity: `test-${randomBytes(3).toString('hex')}`,
    defaultImage: 'dynamo-ts:test',
    etcdEndpoints: 'http://etcd.test:2379',
    natsServer: 'nats://nats.test:4222',
    installCrds: true,
    leaderElect: false,
    leaderElectionId: 'dynamo-operator-leader',
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    bindAddress: '127.0.0.1',
    healthPort: 0,
    metricsPort: 0,
    webhooks: false,
    webhookPort: 0,
    localWebhooks: false,
    webhookHost: '127.0.0.1',
    webhookServiceName: 'dynamo-operator-webhook',
    webhookConfigName: `dynamo-test-${namespace}`,
    workers: 4,
    resyncMs: 60_000,
    ...overrides,
  };
}

/** Runs the operator in this process until stop() is called. */
export function startOperator(
  config: OperatorConfig,
  logFile: string,
): { stop: () => Promise<void>; done: Promise<void> } {
  const controller = new AbortController();
  const log = createLogger({
    level: 'debug',
    destination: createWriteStream(logFile, { flags: 'a' }),
    name: 'operator',
  });
  const done = runOperator(config, log, controller.signal);
  return {
    done,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

/** `dynamo operator` as its own process, run from source (test/harness/ts-resolve.ts), probed on /healthz. */
export async function operatorProcess(
  name: string,
  dir: string,
  args: string[],
): Promise<{ proc: ServerProcess; metricsPort: number }> {
  const healthPort = await freePort();
  const metricsPort = await freePort();
  const proc = new ServerProcess({
    name,
    command: process.execPath,
    args: sourceCli([
      'operator',
      '--kubeconfig',
      inject('kubeconfig'),
      '--bind-address',
      '127.0.0.1',
      '--health-port',
      String(healthPort),
      '--metrics-port',
      String(metricsPort),
      '--identity',
      name,
      '--log-level',
      'debug',
      ...args,
    ]),
    logFile: join(dir, `${name}.log`),
    ready: async () => (await fetch(`http://127.0.0.1:${healthPort}/healthz`)).ok,
    readyTimeoutMs: 60_000,
  });
  await proc.start();
  return { proc, metricsPort };
}

/** One sample of a metric from a /metrics page (0 when absent). */
export async function metric(
  port: number,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([^{\s]+)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const l = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`))) total += Number(m[3]);
  }
  return total;
}
