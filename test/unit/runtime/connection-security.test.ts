// Resolving TLS and credentials settings: flags over env over the secrets directory, every file read
// and checked at start, errors that name the item and its file but never a secret.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeys } from 'nats';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseOptions } from '../../../src/cli/options.js';
import { CONNECTION_SECURITY_OPTIONS, connectionSecurity } from '../../../src/cli/shared-options.js';
import { generateCa, issueServing } from '../../../src/operator/webhooks/certificates.js';
import {
  ConnectionSecurityError,
  type ConnectionSecuritySettings,
  describeSecurity,
  etcdClientOptions,
  etcdRefusal,
  natsConnectionOptions,
  natsRefusal,
  resolveConnectionSecurity,
} from '../../../src/runtime/connection-security.js';
import { CertificateAuthority, type KeyPair } from '../../harness/certificates.js';

let dir: string;
let ca: CertificateAuthority;
let client: KeyPair;
let other: KeyPair;
let secrets: string;

const file = async (name: string, content: string) => {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
};

async function failure(settings: ConnectionSecuritySettings): Promise<string> {
  const err = await resolveConnectionSecurity(settings).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectionSecurityError);
  return (err as Error).message;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'connection-security-'));
  ca = await CertificateAuthority.create(join(dir, 'ca'));
  [client, other] = await Promise.all([
    ca.issue({ name: 'client', commonName: 'client', usage: 'client' }),
    ca.issue({ name: 'other', commonName: 'other', usage: 'client' }),
  ]);
  secrets = join(dir, 'secrets');
  await mkdir(secrets);
  const content: Record<string, string> = {
    'nats-ca.crt': ca.ca.cert,
    'nats-tls.crt': client.cert,
    'nats-tls.key': client.key,
    'nats-user': 'dir-user\n',
    'nats-password': 'dir-password\n',
    'etcd-ca.crt': ca.ca.cert,
    'etcd-user': 'etcd-dir-user',
    'etcd-password': 'etcd-dir-password',
  };
  await Promise.all(Object.entries(content).map(([n, c]) => writeFile(join(secrets, n), c)));
});

describe('resolveConnectionSecurity', () => {
  it('configures nothing by default', async () => {
    const security = await resolveConnectionSecurity({});
    expect(security).toEqual({ nats: {}, etcd: {} });
    expect(natsConnectionOptions(security.nats)).toEqual({});
    expect(etcdClientOptions(security.etcd)).toEqual({});
  });

  it('takes every item from the secrets directory, trimming the final newline of text files', async () => {
    const { nats, etcd } = await resolveConnectionSecurity({ secretsDir: secrets });
    expect(nats.tls).toEqual({ ca: ca.ca.cert, cert: client.cert, key: client.key });
    expect(nats.auth).toEqual({ kind: 'password', user: 'dir-user', password: 'dir-password' });
    expect(natsConnectionOptions(nats)).toMatchObject({
      user: 'dir-user',
      pass: 'dir-password',
      tls: nats.tls,
    });
    expect(etcdClientOptions(etcd)).toEqual({
      credentials: { rootCertificate: Buffer.from(ca.ca.cert) },
      auth: { username: 'etcd-dir-user', password: 'etcd-dir-password' },
    });
    expect(describeSecurity(nats)).toEqual({ tls: 'client-certificate', auth: 'password' });
    expect(describeSecurity(etcd)).toEqual({ tls: 'server-only', auth: 'password' });
  });

  it('an explicit path or value wins over the directory', async () => {
    const { nats, etcd } = await resolveConnectionSecurity({
      secretsDir: secrets,
      natsTlsCert: other.certFile,
      natsTlsKey: other.keyFile,
      natsUser: 'flag-user',
      natsPassword: 'env-password',
      etcdPasswordFile: await file('etcd-password', 'file-password'),
    });
    expect(nats.tls).toMatchObject({ ca: ca.ca.cert, cert: other.cert, key: other.key });
    expect(nats.auth).toEqual({ kind: 'password', user: 'flag-user', password: 'env-password' });
    expect(etcd.auth).toEqual({ username: 'etcd-dir-user', password: 'file-password' });
  });

  it('NKey, token and .creds each make one authenticator', async () => {
    const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
    const nkey = await resolveConnectionSecurity({ natsNkey: await file('user.seed', `${seed}\n`) });
    expect(nkey.nats.auth).toEqual({ kind: 'nkey', seed: new TextEncoder().encode(seed) });
    expect(natsConnectionOptions(nkey.nats).authenticator).toBeTypeOf('function');
    const token = await resolveConnectionSecurity({ natsTokenFile: await file('token', 'tok\n') });
    expect(natsConnectionOptions(token.nats)).toEqual({ token: 'tok' });
    const creds = await failure({ natsCreds: await file('bad.creds', 'not a creds file') });
    expect(creds).toBe('nats credentials file (--nats-creds) is not a .creds file (user JWT and seed)');
  });

  it('a missing file or directory names the item, the option and the path', async () => {
    expect(await failure({ natsTlsCa: join(dir, 'nope.crt') })).toBe(
      `nats CA certificate (--nats-tls-ca): cannot read ${join(dir, 'nope.crt')}: ENOENT`,
    );
    expect(await failure({ secretsDir: join(dir, 'no-dir') })).toBe(
      `runtime secrets directory (--runtime-secrets-dir) ${join(dir, 'no-dir')}: ENOENT`,
    );
  });

  it('refuses half or contradictory settings', async () => {
    expect(await failure({ etcdTlsCa: ca.ca.certFile, etcdTlsCert: client.certFile })).toBe(
      'etcd TLS: the client certificate is set without the client key (--etcd-tls-key or etcd-tls.key)',
    );
    expect(await failure({ etcdTlsCert: client.certFile, etcdTlsKey: client.keyFile })).toContain(
      'etcd client certificate needs a CA certificate',
    );
    expect(await failure({ natsTlsCert: client.certFile, natsTlsKey: other.keyFile })).toContain(
      'does not belong to the client certificate',
    );
    expect(await failure({ natsUser: 'u' })).toContain('nats user name is set without a password');
    expect(await failure({ etcdPassword: 'p' })).toContain('etcd password is set without a user name');
    expect(await failure({ natsToken: 't', natsTokenFile: await file('t2', 't') })).toBe(
      'nats token: both DYN_NATS_TOKEN and --nats-token-file are set; choose one',
    );
    expect(await failure({ secretsDir: secrets, natsToken: 't' })).toBe(
      'nats: more than one way to authenticate is set (password, token); choose one',
    );
  });

  it('checks PEM files and NKey seeds without quoting them', async () => {
    const secret = 'SUAM-NOT-A-SEED-BUT-SECRET';
    const seedError = await failure({ natsNkey: await file('bad.seed', secret) });
    expect(seedError).toBe('nats NKey seed (--nats-nkey) is not an NKey seed');
    expect(seedError).not.toContain(secret);
    expect(await failure({ etcdTlsCa: await file('bad.crt', 'garbage') })).toBe(
      'etcd CA certificate (--etcd-tls-ca) is not a PEM certificate',
    );
    expect(await failure({ secretsDir: secrets, natsPasswordFile: await file('empty', '\n') })).toBe(
      'nats password (--nats-password-file) is empty',
    );
  });

  it('refuses a client certificate that has expired', async () => {
    const longAgo = new Date(Date.now() - 30 * 86_400_000);
    const oldCa = await generateCa(longAgo, 3650);
    const expired = await issueServing(oldCa, { dns: ['client'], ips: [] }, longAgo, 1);
    const message = await failure({
      etcdTlsCa: await file('old-ca.crt', oldCa.certPem),
      etcdTlsCert: await file('expired.crt', expired.certPem),
      etcdTlsKey: await file('expired.key', expired.keyPem),
    });
    expect(message).toMatch(/^etcd client certificate \(--etcd-tls-cert\) expired on /);
  });

  it('validates the settings object with zod, naming the field', async () => {
    expect(await failure({ natsTlsCa: '' })).toBe('connection security: natsTlsCa: expected a file path');
    expect(await failure({ natsPassword: '' })).toBe('connection security: natsPassword: must not be empty');
    const unknown = await failure({ natsPasword: 'x' } as ConnectionSecuritySettings);
    expect(unknown).toContain('natsPasword');
  });
});

describe('CLI options to settings', () => {
  const resolve = (argv: string[], env: Record<string, string>) =>
    connectionSecurity(parseOptions(CONNECTION_SECURITY_OPTIONS, argv, env).values, env);

  it('flag over env over the directory; secrets come from env values only', async () => {
    const env = {
      DYN_NATS_TLS_CA: '/env/ca.crt',
      DYN_NATS_USER: 'env-user',
      DYN_NATS_PASSWORD: 'env-password',
      DYN_RUNTIME_SECRETS_DIR: '/etc/dynamo/runtime',
    };
    const settings = resolve(['--nats-tls-ca', '/flag/ca.crt'], env);
    expect(settings).toMatchObject({
      natsTlsCa: '/flag/ca.crt',
      natsUser: 'env-user',
      natsPassword: 'env-password',
      secretsDir: '/etc/dynamo/runtime',
    });
    expect(resolve([], env)).toMatchObject({ natsTlsCa: '/env/ca.crt' });
    expect(Object.values(CONNECTION_SECURITY_OPTIONS).map((o) => o.flag)).not.toContain('nats-password');
  });
});

describe('refusal classification', () => {
  it('NATS: auth and TLS errors are refusals, a refused socket is not', () => {
    expect(natsRefusal({ code: 'AUTHORIZATION_VIOLATION' })).toContain('authorization violation');
    expect(natsRefusal({ code: 'SERVER_OPT_NA' })).toContain('does not offer TLS');
    expect(
      natsRefusal(
        Object.assign(new Error('Hostname/IP does not match'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }),
      ),
    ).toBe('TLS: Hostname/IP does not match');
    expect(natsRefusal({ code: 'CONNECTION_REFUSED' })).toBeUndefined();
    expect(natsRefusal(new Error('TIMEOUT'))).toBeUndefined();
  });

  it('etcd: auth and TLS status texts are refusals, an unavailable server is not', () => {
    expect(
      etcdRefusal(new Error('9 FAILED_PRECONDITION: etcdserver: authentication is not enabled')),
    ).toContain('authentication is not enabled');
    expect(etcdRefusal(new Error('7 PERMISSION_DENIED: etcdserver: permission denied'))).toContain(
      'permission denied',
    );
    expect(
      etcdRefusal(
        new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1'),
      ),
    ).toBeUndefined();
  });
});
