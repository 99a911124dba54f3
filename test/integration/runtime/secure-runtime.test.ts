// The whole runtime contract (discovery, request plane, event plane) on an etcd that requires client
// certificates and a user, and a NATS that requires client certificates and a password, configured as
// pods are: through a runtime secrets directory; then `dynamo worker` configured the same way.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Instance } from '../../../src/api/index.js';
import { createRuntime, isRequestError } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import type { EtcdServer } from '../../harness/etcd-server.js';
import type { NatsServer } from '../../harness/nats-server.js';
import { spawnWorker } from '../../harness/worker-process.js';
import { describeRuntimeContract } from '../../unit/runtime/runtime-contract.js';
import { newNkeyUser, secretsDir, secureEtcd, secureNats, testPki } from './fixtures/secure-services.js';

const log = createLogger({ level: 'silent' });
let etcd: EtcdServer;
let nats: NatsServer;
let dir: string;

beforeAll(async () => {
  const pki = await testPki('secure-runtime');
  [etcd, nats, dir] = await Promise.all([
    secureEtcd(pki),
    secureNats(pki, newNkeyUser().publicKey),
    secretsDir(pki),
  ]);
});
afterAll(async () => {
  await Promise.all([etcd?.stop(), nats?.stop()]);
});

describeRuntimeContract('etcd + NATS with TLS client certificates and passwords', async () => {
  const options = {
    log,
    etcdEndpoints: [etcd.endpoint],
    natsServer: nats.url,
    security: { secretsDir: dir },
  };
  return { worker: await createRuntime(options), caller: await createRuntime(options) };
});

describe('dynamo worker with a runtime secrets directory', () => {
  it('registers in the secured etcd and answers over the secured NATS', async () => {
    const namespace = `secure-cli-${Date.now().toString(36)}`;
    const secured = { ETCD_ENDPOINTS: etcd.endpoint, NATS_SERVER: nats.url, DYN_RUNTIME_SECRETS_DIR: dir };
    const worker = await spawnWorker(namespace, ['--engine', 'mocker'], 'secure-worker', secured);
    const caller = await createRuntime({
      log,
      etcdEndpoints: [etcd.endpoint],
      natsServer: nats.url,
      security: { secretsDir: dir },
    });
    try {
      const [instance] = await caller.discovery.list({ namespace, component: 'backend' });
      expect(instance?.instanceId).toBe(worker.instanceId);
      // Any typed answer proves the round trip through the worker: this request is not a valid one.
      const err = await (async () => {
        for await (const _ of caller.requestPlane.call(instance as Instance, { not: 'a request' })) {
        }
      })().catch((e: unknown) => e);
      expect(isRequestError(err, 'invalid_request')).toBe(true);
    } finally {
      await caller.close();
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
  });

  it('exits at start, naming the server and the cause, when NATS refuses its password', async () => {
    const wrong = join(dir, '..', 'wrong-password');
    await writeFile(wrong, 'not-the-password');
    const err = await spawnWorker(
      `secure-cli-${Date.now().toString(36)}`,
      ['--engine', 'mocker'],
      'refused-worker',
      {
        ETCD_ENDPOINTS: etcd.endpoint,
        NATS_SERVER: nats.url,
        DYN_RUNTIME_SECRETS_DIR: dir,
        DYN_NATS_PASSWORD_FILE: wrong,
      },
    ).catch((e: unknown) => e);
    expect(String(err)).toContain(`nats at ${nats.url} refused the connection: authorization violation`);
    expect(String(err)).not.toContain('not-the-password');
  });
});
