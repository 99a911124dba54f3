// NATS with TLS and credentials: a client without them is refused, with them (password, NKey, token)
// requests and events flow; each bad setting stops the runtime at start with the server and the cause
// named, and a refusal is not retried as if the server were unreachable.
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { generateCa, issueServing } from '../../../src/operator/webhooks/certificates.js';
import {
  ConnectionSecurityError,
  type ConnectionSecuritySettings,
  createRuntime,
  KV_EVENTS,
  type Runtime,
  ServiceRefusedError,
  ServiceUnreachableError,
} from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { type NatsOperator, natsOperator } from '../../harness/nats-jwt.js';
import { NatsServer } from '../../harness/nats-server.js';
import { NATS_USER, newNkeyUser, secureNats, type TestPki, testPki } from './fixtures/secure-services.js';

const log = createLogger({ level: 'silent' });
let pki: TestPki;
let nats: NatsServer;
let tokenNats: NatsServer;
let otherHostNats: NatsServer;
let tls: ConnectionSecuritySettings;
let passwordFile: string;
let nkeyFile: string;
let tokenFile: string;
const TOKEN = 'nats-secret-token';

beforeAll(async () => {
  pki = await testPki('secure-nats');
  const nkey = newNkeyUser();
  [passwordFile, nkeyFile, tokenFile] = await Promise.all([
    pki.file('nats-password', NATS_USER.password),
    pki.file('nats.seed', nkey.seed),
    pki.file('nats-token', `${TOKEN}\n`),
  ]);
  tls = { natsTlsCa: pki.ca.ca.certFile, natsTlsCert: pki.client.certFile, natsTlsKey: pki.client.keyFile };
  [nats, tokenNats, otherHostNats] = await Promise.all([
    secureNats(pki, nkey.publicKey),
    secureNats(pki, nkey.publicKey, { auth: { token: TOKEN } }),
    secureNats(pki, nkey.publicKey, {
      tls: { server: pki.otherHost, caFile: pki.ca.ca.certFile, verify: true },
    }),
  ]);
});
afterAll(async () => {
  await Promise.all([nats?.stop(), tokenNats?.stop(), otherHostNats?.stop()]);
});

function start(server: string, security: ConnectionSecuritySettings, startupWaitMs = 30_000) {
  return createRuntime({ log, natsServer: server, security, startupWaitMs });
}

/** A streaming request and an event, worker to caller, over the given server and security. */
async function dataPath(server: string, security: ConnectionSecuritySettings): Promise<void> {
  const worker = await start(server, security);
  const runtimes: Runtime[] = [worker];
  try {
    const caller = await start(server, security);
    runtimes.push(caller);
    const ep = { namespace: `secure-${Date.now().toString(36)}`, component: 'backend', endpoint: 'generate' };
    const served = await worker.serveEndpoint(
      ep,
      async function* (req: { n: number }) {
        for (let i = 0; i < req.n; i++) yield { i };
      },
      { requestSchema: z.object({ n: z.number() }) },
    );
    const frames: unknown[] = [];
    for await (const f of caller.requestPlane.call(served.instance, { n: 3 })) frames.push(f);
    expect(frames).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }]);

    const scope = { namespace: ep.namespace, component: 'backend' };
    const events: number[] = [];
    const sub = await caller.eventPlane.subscribe(KV_EVENTS, scope, (e) => events.push(e.eventId));
    worker.eventPlane.publish(KV_EVENTS, scope, { workerId: worker.instanceId, eventId: 7, data: 'cleared' });
    await expect.poll(() => events, { timeout: 10_000 }).toEqual([7]);
    sub.close();
  } finally {
    await Promise.all(runtimes.map((r) => r.close()));
  }
}

describe('NATS with TLS and credentials', () => {
  it('serves requests and events with a password, an NKey and a token', async () => {
    await dataPath(nats.url, { ...tls, natsUser: NATS_USER.user, natsPasswordFile: passwordFile });
    await dataPath(nats.url, { ...tls, natsNkey: nkeyFile });
    await dataPath(tokenNats.url, { ...tls, natsToken: TOKEN });
    await dataPath(tokenNats.url, { ...tls, natsTokenFile: tokenFile });
  });

  it('refuses a client without credentials or with wrong ones, at once and naming the server', async () => {
    for (const security of [
      tls,
      { ...tls, natsUser: NATS_USER.user, natsPassword: 'not-the-password' },
      { ...tls, natsNkey: await pki.file('stranger.seed', newNkeyUser().seed) },
    ]) {
      const err = await start(nats.url, security).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServiceRefusedError);
      expect(String(err)).toContain(`nats at ${nats.url} refused the connection: authorization violation`);
      expect(String(err)).not.toContain('not-the-password');
    }
    const err = await start(tokenNats.url, { ...tls, natsToken: 'not-the-token' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceRefusedError);
    expect(String(err)).not.toContain('not-the-token');
  });

  it('refuses a server certificate for another host and one from an unknown CA', async () => {
    const auth = { natsUser: NATS_USER.user, natsPasswordFile: passwordFile };
    const wrongHost = await start(otherHostNats.url, { ...tls, ...auth }).catch((e: unknown) => e);
    expect(wrongHost).toBeInstanceOf(ServiceRefusedError);
    expect(String(wrongHost)).toMatch(/refused the connection: TLS: .*altnames/);

    const stranger = { ...tls, ...auth, natsTlsCa: pki.strangerCa.ca.certFile };
    const unknownCa = await start(nats.url, stranger).catch((e: unknown) => e);
    expect(unknownCa).toBeInstanceOf(ServiceRefusedError);
    expect(String(unknownCa)).toMatch(/refused the connection: TLS: .*certificate/);
  });

  it('refuses a server certificate that has expired', async () => {
    // Backdated with the operator's @peculiar/x509 path: OpenSSL 3.0's CLI cannot date a certificate back.
    const longAgo = new Date(Date.now() - 30 * 86_400_000);
    const ca = await generateCa(longAgo, 3650);
    const served = await issueServing(ca, { dns: ['localhost'], ips: ['127.0.0.1'] }, longAgo, 1);
    const [caFile, certFile, keyFile] = await Promise.all([
      pki.file('expired-ca.crt', ca.certPem),
      pki.file('expired.crt', served.certPem),
      pki.file('expired.key', served.keyPem),
    ]);
    const server = { certFile, keyFile, cert: served.certPem, key: served.keyPem };
    const expired = new NatsServer(await mkdtemp(join(pki.dir, 'nats-expired-')), {
      tls: { server, caFile },
    });
    await expired.start();
    try {
      const err = await start(expired.url, { natsTlsCa: caFile }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServiceRefusedError);
      expect(String(err)).toContain('refused the connection: TLS: certificate has expired');
    } finally {
      await expired.stop();
    }
  });

  it('refuses a server without TLS when TLS is configured', async () => {
    const err = await start(inject('natsUrl'), tls).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceRefusedError);
    expect(String(err)).toContain('the server does not offer TLS, but TLS is configured');
  });

  it('without a client certificate the server drops the handshake: unreachable, with the hint', async () => {
    const err = await start(
      nats.url,
      { natsTlsCa: pki.ca.ca.certFile, natsUser: NATS_USER.user, natsPasswordFile: passwordFile },
      1_000,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceUnreachableError);
    expect(String(err)).toContain('TLS without a client certificate');
  });

  it('a missing file stops the start with the item and the path, before connecting', async () => {
    const err = await start(nats.url, { ...tls, natsNkey: `${pki.dir}/missing.seed` }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectionSecurityError);
    expect(String(err)).toContain(
      `nats NKey seed (--nats-nkey): cannot read ${pki.dir}/missing.seed: ENOENT`,
    );
  });
});

describe('NATS with an operator (JWT .creds files)', () => {
  let jwtNats: NatsServer;
  let operator: NatsOperator;
  beforeAll(async () => {
    operator = natsOperator();
    jwtNats = await secureNats(pki, '', { auth: { operator } });
  });
  afterAll(async () => {
    await jwtNats?.stop();
  });

  it('serves requests and events with a user .creds file', async () => {
    await dataPath(jwtNats.url, {
      ...tls,
      natsCreds: await pki.file('user.creds', operator.userCreds('worker')),
    });
  });

  it('refuses a user of another operator, and an expired .creds file before connecting', async () => {
    const stranger = await pki.file('stranger.creds', natsOperator().userCreds('worker'));
    const err = await start(jwtNats.url, { ...tls, natsCreds: stranger }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceRefusedError);
    expect(String(err)).toContain('authorization violation');

    const expiredAt = Math.floor(Date.now() / 1000) - 60;
    const expired = await pki.file('expired.creds', operator.userCreds('worker', expiredAt));
    const expiredErr = await start(jwtNats.url, { ...tls, natsCreds: expired }).catch((e: unknown) => e);
    expect(expiredErr).toBeInstanceOf(ConnectionSecurityError);
    expect(String(expiredErr)).toContain(`nats credentials file (--nats-creds) expired on`);
  });
});
