// etcd with TLS client certificates and authentication: a client without a user is refused, the right
// one works (the runtime contract covers the whole data path, secure-runtime.test.ts); wrong passwords,
// certificates for another host, TLS or auth the server does not have stop the start, naming the cause.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ConnectionSecurityError,
  type ConnectionSecuritySettings,
  createRuntime,
  ServiceRefusedError,
  ServiceUnreachableError,
} from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import type { EtcdServer } from '../../harness/etcd-server.js';
import { ETCD_USER, secureEtcd, type TestPki, testPki } from './fixtures/secure-services.js';

const log = createLogger({ level: 'silent' });
let pki: TestPki;
let etcd: EtcdServer;
let otherHostEtcd: EtcdServer;
let tls: ConnectionSecuritySettings;
let passwordFile: string;

beforeAll(async () => {
  pki = await testPki('secure-etcd');
  passwordFile = await pki.file('etcd-password', `${ETCD_USER.password}\n`);
  tls = { etcdTlsCa: pki.ca.ca.certFile, etcdTlsCert: pki.client.certFile, etcdTlsKey: pki.client.keyFile };
  [etcd, otherHostEtcd] = await Promise.all([
    secureEtcd(pki),
    secureEtcd(pki, { tls: { server: pki.otherHost, caFile: pki.ca.ca.certFile }, auth: undefined }),
  ]);
});
afterAll(async () => {
  await Promise.all([etcd?.stop(), otherHostEtcd?.stop()]);
});

function start(endpoint: string, security: ConnectionSecuritySettings) {
  return createRuntime({ log, etcdEndpoints: [endpoint], security, startupWaitMs: 30_000 });
}

async function refusal(endpoint: string, security: ConnectionSecuritySettings): Promise<string> {
  const err = await start(endpoint, security).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ServiceRefusedError);
  return String(err);
}

describe('etcd with TLS and authentication', () => {
  it('registers and reads back with the right user', async () => {
    const runtime = await start(etcd.endpoint, {
      ...tls,
      etcdUser: ETCD_USER.name,
      etcdPasswordFile: passwordFile,
    });
    try {
      const ep = {
        namespace: `secure-${Date.now().toString(36)}`,
        component: 'backend',
        endpoint: 'generate',
      };
      await runtime.discovery.register({
        ...ep,
        instanceId: runtime.instanceId,
        transport: { kind: 'memory', address: 'secure' },
      });
      expect(await runtime.discovery.list(ep)).toHaveLength(1);
    } finally {
      await runtime.close();
    }
  });

  it('refuses a client without a user, and a wrong password, naming the server', async () => {
    expect(await refusal(etcd.endpoint, tls)).toContain(
      `etcd at ${etcd.endpoint} refused the connection: permission denied`,
    );
    const wrong = await refusal(etcd.endpoint, { ...tls, etcdUser: ETCD_USER.name, etcdPassword: 'hunter2' });
    expect(wrong).toContain('authentication failed: wrong user name or password');
    expect(wrong).not.toContain('hunter2');
  });

  it('refuses a server without authentication when a user is configured', async () => {
    const err = await refusal(inject('etcdEndpoint'), {
      etcdUser: ETCD_USER.name,
      etcdPasswordFile: passwordFile,
    });
    expect(err).toContain('authentication is not enabled on the server, but a user is configured');
  });

  it('refuses a server certificate for another host and a server without TLS', async () => {
    expect(await refusal(otherHostEtcd.endpoint, tls)).toMatch(/refused the connection: TLS: .*altnames/);
    const plain = inject('etcdEndpoint').replace('http://', 'https://');
    expect(await refusal(plain, tls)).toContain('TLS handshake failed');
  });

  it('without a client certificate the server drops the handshake: unreachable, with the hint', async () => {
    const security = {
      etcdTlsCa: pki.ca.ca.certFile,
      etcdUser: ETCD_USER.name,
      etcdPasswordFile: passwordFile,
    };
    const err = await createRuntime({
      log,
      etcdEndpoints: [etcd.endpoint],
      security,
      startupWaitMs: 1_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnreachableError);
    expect(String(err)).toContain('TLS without a client certificate');
  });

  it('TLS settings with an http:// endpoint are a configuration error', async () => {
    const err = await start(etcd.endpoint.replace('https://', 'http://'), tls).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionSecurityError);
    expect(String(err)).toContain('etcd TLS is configured, but endpoint http://');
  });
});
