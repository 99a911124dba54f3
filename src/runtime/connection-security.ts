// TLS and credentials for the NATS and etcd connections (DESIGN §14). A process is told file paths
// (flags or env), a few secrets as env values, and a secrets directory (a mounted Kubernetes Secret
// whose fixed file names supply any item not set explicitly). Everything is read and checked once at
// start, so a bad file stops the process before it connects; what it yields is the nats.js and etcd3
// options. Secret values never reach a message or a log line: errors name the item and its file only.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { IOptions as EtcdOptions } from 'etcd3';
import { type ConnectionOptions, credsAuthenticator, nkeyAuthenticator, nkeys } from 'nats';
import { z } from 'zod';
import { causeText } from './errors.js';

type Service = 'nats' | 'etcd';

/**
 * Each file item: its CLI option (the env name is DYN_ + its upper-snake form) and its secrets-dir name.
 * The user names are given directly (`--nats-user`), so their items are read from the directory only.
 */
const FILE_ITEMS = {
  natsTlsCa: { service: 'nats', option: 'nats-tls-ca', file: 'nats-ca.crt', what: 'CA certificate' },
  natsTlsCert: { service: 'nats', option: 'nats-tls-cert', file: 'nats-tls.crt', what: 'client certificate' },
  natsTlsKey: { service: 'nats', option: 'nats-tls-key', file: 'nats-tls.key', what: 'client key' },
  natsCreds: { service: 'nats', option: 'nats-creds', file: 'nats.creds', what: 'credentials file' },
  natsNkey: { service: 'nats', option: 'nats-nkey', file: 'nats-nkey.seed', what: 'NKey seed' },
  natsUserFile: { service: 'nats', option: 'nats-user', file: 'nats-user', what: 'user name' },
  natsPasswordFile: {
    service: 'nats',
    option: 'nats-password-file',
    file: 'nats-password',
    what: 'password',
  },
  natsTokenFile: { service: 'nats', option: 'nats-token-file', file: 'nats-token', what: 'token' },
  etcdTlsCa: { service: 'etcd', option: 'etcd-tls-ca', file: 'etcd-ca.crt', what: 'CA certificate' },
  etcdTlsCert: { service: 'etcd', option: 'etcd-tls-cert', file: 'etcd-tls.crt', what: 'client certificate' },
  etcdTlsKey: { service: 'etcd', option: 'etcd-tls-key', file: 'etcd-tls.key', what: 'client key' },
  etcdUserFile: { service: 'etcd', option: 'etcd-user', file: 'etcd-user', what: 'user name' },
  etcdPasswordFile: {
    service: 'etcd',
    option: 'etcd-password-file',
    file: 'etcd-password',
    what: 'password',
  },
} as const satisfies Record<string, { service: Service; option: string; file: string; what: string }>;

type FileItem = keyof typeof FILE_ITEMS;

/** The fixed file names of a runtime secrets directory (the chart's Secret uses the same keys). */
export const RUNTIME_SECRET_FILES: readonly string[] = Object.values(FILE_ITEMS).map((i) => i.file);

const path = z.string().min(1, 'expected a file path');
const value = z.string().min(1, 'must not be empty');

/**
 * What a process was told. Paths for every file item; `natsUser` / `etcdUser` are names (not secrets)
 * and so may be given directly; the three secrets may come as values from env only (DYN_NATS_PASSWORD,
 * DYN_NATS_TOKEN, DYN_ETCD_PASSWORD), never from a flag.
 */
export const connectionSecuritySettingsSchema = z
  .object({
    secretsDir: path,
    natsTlsCa: path,
    natsTlsCert: path,
    natsTlsKey: path,
    natsCreds: path,
    natsNkey: path,
    natsUser: value,
    natsPasswordFile: path,
    natsPassword: value,
    natsTokenFile: path,
    natsToken: value,
    etcdTlsCa: path,
    etcdTlsCert: path,
    etcdTlsKey: path,
    etcdUser: value,
    etcdPasswordFile: path,
    etcdPassword: value,
  })
  .partial()
  .strict();

export type ConnectionSecuritySettings = z.input<typeof connectionSecuritySettingsSchema>;

export type NatsAuth =
  | { kind: 'password'; user: string; password: string }
  | { kind: 'token'; token: string }
  | { kind: 'nkey'; seed: Uint8Array }
  | { kind: 'creds'; creds: Uint8Array };

export interface NatsSecurity {
  tls?: { ca?: string; cert?: string; key?: string };
  auth?: NatsAuth;
}

export interface EtcdSecurity {
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  auth?: { username: string; password: string };
}

export interface ConnectionSecurity {
  nats: NatsSecurity;
  etcd: EtcdSecurity;
}

/** A security setting that cannot be used: the process must not start (and never connect without it). */
export class ConnectionSecurityError extends Error {
  override readonly name = 'ConnectionSecurityError';
}

/** etcd or NATS refused this client (credentials, certificates, TLS or auth not offered): fatal, not retried. */
export class ServiceRefusedError extends Error {
  override readonly name = 'ServiceRefusedError';
  constructor(
    readonly service: Service,
    readonly endpoint: string,
    reason: string,
    cause: unknown,
  ) {
    super(`${service} at ${endpoint} refused the connection: ${reason}`, { cause });
  }
}

interface Found {
  path: string;
  /** How a person finds the setting: `--nats-tls-key` or `nats-tls-key in /etc/dynamo/runtime`. */
  source: string;
}

/** Reads and checks every configured item; throws ConnectionSecurityError naming the item, never its value. */
export async function resolveConnectionSecurity(
  settings: ConnectionSecuritySettings = {},
): Promise<ConnectionSecurity> {
  const parsed = connectionSecuritySettingsSchema.safeParse(settings);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConnectionSecurityError(
      `connection security: ${issue?.path.join('.') || 'settings'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const s = parsed.data;
  const dirFiles = s.secretsDir === undefined ? new Set<string>() : await listSecretsDir(s.secretsDir);

  const find = (item: FileItem): Found | undefined => {
    const explicit = item === 'natsUserFile' || item === 'etcdUserFile' ? undefined : s[item];
    const spec = FILE_ITEMS[item];
    if (explicit !== undefined) return { path: explicit, source: `--${spec.option}` };
    if (s.secretsDir !== undefined && dirFiles.has(spec.file))
      return { path: join(s.secretsDir, spec.file), source: `${spec.file} in ${s.secretsDir}` };
    return undefined;
  };
  const read = async (item: FileItem, found: Found): Promise<Buffer> => {
    const spec = FILE_ITEMS[item];
    try {
      return await readFile(found.path);
    } catch (err) {
      throw new ConnectionSecurityError(
        `${spec.service} ${spec.what} (${found.source}): cannot read ${found.path}: ${(err as NodeJS.ErrnoException).code ?? causeText(err)}`,
      );
    }
  };
  const readItem = async (item: FileItem): Promise<{ data: Buffer; found: Found } | undefined> => {
    const found = find(item);
    return found && { data: await read(item, found), found };
  };
  // Files written by `echo` end with a newline; Kubernetes Secrets from literals do not.
  const readText = async (item: FileItem): Promise<string | undefined> => {
    const got = await readItem(item);
    if (!got) return undefined;
    const text = got.data.toString('utf8').replace(/[\r\n]+$/, '');
    if (text === '') {
      const spec = FILE_ITEMS[item];
      throw new ConnectionSecurityError(`${spec.service} ${spec.what} (${got.found.source}) is empty`);
    }
    return text;
  };
  /** An explicit value (user name, or a secret from env) wins over a file; both given is ambiguous. */
  const textOrValue = async (
    item: FileItem,
    valueKey: 'natsUser' | 'natsPassword' | 'natsToken' | 'etcdUser' | 'etcdPassword',
    valueSource: string,
  ) => {
    const direct = s[valueKey];
    if (direct !== undefined && find(item)?.source.startsWith('--')) {
      throw new ConnectionSecurityError(
        `${FILE_ITEMS[item].service} ${FILE_ITEMS[item].what}: both ${valueSource} and --${FILE_ITEMS[item].option} are set; choose one`,
      );
    }
    return direct ?? (await readText(item));
  };

  const nats: NatsSecurity = {};
  const natsTls = await readTls('nats', readItem, 'natsTlsCa', 'natsTlsCert', 'natsTlsKey');
  if (natsTls) {
    nats.tls = {
      ...(natsTls.ca ? { ca: natsTls.ca.toString('utf8') } : {}),
      ...(natsTls.cert ? { cert: natsTls.cert.toString('utf8') } : {}),
      ...(natsTls.key ? { key: natsTls.key.toString('utf8') } : {}),
    };
  }
  const natsUser = await textOrValue('natsUserFile', 'natsUser', '--nats-user');
  const natsPassword = await textOrValue('natsPasswordFile', 'natsPassword', 'DYN_NATS_PASSWORD');
  const natsToken = await textOrValue('natsTokenFile', 'natsToken', 'DYN_NATS_TOKEN');
  const creds = await readItem('natsCreds');
  const nkey = await readItem('natsNkey');
  const mechanisms: NatsAuth[] = [];
  if (natsUser !== undefined || natsPassword !== undefined) {
    if (natsUser === undefined || natsPassword === undefined) {
      throw new ConnectionSecurityError(
        natsUser === undefined
          ? 'nats password is set without a user name (--nats-user or nats-user)'
          : 'nats user name is set without a password (--nats-password-file, DYN_NATS_PASSWORD or nats-password)',
      );
    }
    mechanisms.push({ kind: 'password', user: natsUser, password: natsPassword });
  }
  if (natsToken !== undefined) mechanisms.push({ kind: 'token', token: natsToken });
  if (nkey) mechanisms.push({ kind: 'nkey', seed: checkNkeySeed(nkey.data, nkey.found) });
  if (creds) mechanisms.push({ kind: 'creds', creds: checkCreds(creds.data, creds.found) });
  if (mechanisms.length > 1) {
    throw new ConnectionSecurityError(
      `nats: more than one way to authenticate is set (${mechanisms.map((m) => m.kind).join(', ')}); choose one`,
    );
  }
  if (mechanisms[0]) nats.auth = mechanisms[0];

  const etcd: EtcdSecurity = {};
  const etcdTls = await readTls('etcd', readItem, 'etcdTlsCa', 'etcdTlsCert', 'etcdTlsKey');
  if (etcdTls) {
    if (!etcdTls.ca)
      throw new ConnectionSecurityError(
        'etcd client certificate needs a CA certificate (--etcd-tls-ca or etcd-ca.crt)',
      );
    etcd.tls = {
      ca: etcdTls.ca,
      ...(etcdTls.cert && etcdTls.key ? { cert: etcdTls.cert, key: etcdTls.key } : {}),
    };
  }
  const etcdUser = await textOrValue('etcdUserFile', 'etcdUser', '--etcd-user');
  const etcdPassword = await textOrValue('etcdPasswordFile', 'etcdPassword', 'DYN_ETCD_PASSWORD');
  if (etcdUser !== undefined || etcdPassword !== undefined) {
    if (etcdUser === undefined || etcdPassword === undefined) {
      throw new ConnectionSecurityError(
        etcdUser === undefined
          ? 'etcd password is set without a user name (--etcd-user or etcd-user)'
          : 'etcd user name is set without a password (--etcd-password-file, DYN_ETCD_PASSWORD or etcd-password)',
      );
    }
    etcd.auth = { username: etcdUser, password: etcdPassword };
  }
  return { nats, etcd };
}

async function listSecretsDir(dir: string): Promise<Set<string>> {
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    throw new ConnectionSecurityError(
      `runtime secrets directory (--runtime-secrets-dir) ${dir}: ${err.code ?? causeText(err)}`,
    );
  });
  if (!info.isDirectory())
    throw new ConnectionSecurityError(
      `runtime secrets directory (--runtime-secrets-dir) ${dir} is not a directory`,
    );
  const present = await Promise.all(
    RUNTIME_SECRET_FILES.map(async (f) =>
      (await stat(join(dir, f)).catch(() => undefined))?.isFile() ? f : undefined,
    ),
  );
  return new Set(present.filter((f) => f !== undefined));
}

type ReadItem = (item: FileItem) => Promise<{ data: Buffer; found: Found } | undefined>;

/** CA, client certificate and key: parsed so a wrong or expired file fails here, not in a handshake. */
async function readTls(
  service: Service,
  readItem: ReadItem,
  caItem: FileItem,
  certItem: FileItem,
  keyItem: FileItem,
): Promise<{ ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined> {
  const [ca, cert, key] = await Promise.all([readItem(caItem), readItem(certItem), readItem(keyItem)]);
  if (!ca && !cert && !key) return undefined;
  if ((cert === undefined) !== (key === undefined)) {
    const [have, missing] = cert ? [certItem, keyItem] : [keyItem, certItem];
    throw new ConnectionSecurityError(
      `${service} TLS: the ${FILE_ITEMS[have].what} is set without the ${FILE_ITEMS[missing].what} (--${FILE_ITEMS[missing].option} or ${FILE_ITEMS[missing].file})`,
    );
  }
  if (ca) parseCertificate(service, caItem, ca);
  if (cert && key) {
    const certificate = parseCertificate(service, certItem, cert);
    if (Date.parse(certificate.validTo) < Date.now()) {
      throw new ConnectionSecurityError(
        `${service} ${FILE_ITEMS[certItem].what} (${cert.found.source}) expired on ${certificate.validTo}`,
      );
    }
    let privateKey: ReturnType<typeof createPrivateKey>;
    try {
      privateKey = createPrivateKey(key.data);
    } catch {
      throw new ConnectionSecurityError(
        `${service} ${FILE_ITEMS[keyItem].what} (${key.found.source}) is not a PEM private key`,
      );
    }
    if (!certificate.checkPrivateKey(privateKey)) {
      throw new ConnectionSecurityError(
        `${service} TLS: the client key (${key.found.source}) does not belong to the client certificate (${cert.found.source})`,
      );
    }
  }
  return {
    ...(ca ? { ca: ca.data } : {}),
    ...(cert ? { cert: cert.data } : {}),
    ...(key ? { key: key.data } : {}),
  };
}

function parseCertificate(
  service: Service,
  item: FileItem,
  got: { data: Buffer; found: Found },
): X509Certificate {
  try {
    return new X509Certificate(got.data);
  } catch {
    throw new ConnectionSecurityError(
      `${service} ${FILE_ITEMS[item].what} (${got.found.source}) is not a PEM certificate`,
    );
  }
}

function checkNkeySeed(data: Buffer, found: Found): Uint8Array {
  const seed = new TextEncoder().encode(data.toString('utf8').trim());
  try {
    nkeys.fromSeed(seed);
  } catch {
    throw new ConnectionSecurityError(`nats NKey seed (${found.source}) is not an NKey seed`);
  }
  return seed;
}

const jwtExpirySchema = z.object({ exp: z.number().optional() });

/**
 * A .creds file holds a user JWT and its NKey seed between nsc's dashed markers. An expired JWT is
 * refused here by date: the server would only answer "Authorization Violation".
 */
function checkCreds(data: Buffer, found: Found): Uint8Array {
  const jwt = /-{3,}BEGIN NATS USER JWT-{3,}\r?\n\s*([\w.=-]+)/.exec(data.toString('utf8'))?.[1];
  const payload = jwt?.split('.')[1];
  if (!payload || !/-{3,}BEGIN USER NKEY SEED-{3,}/.test(data.toString('utf8')))
    throw new ConnectionSecurityError(
      `nats credentials file (${found.source}) is not a .creds file (user JWT and seed)`,
    );
  let exp: number | undefined;
  try {
    exp = jwtExpirySchema.parse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))).exp;
  } catch {
    throw new ConnectionSecurityError(
      `nats credentials file (${found.source}): its user JWT cannot be decoded`,
    );
  }
  if (exp !== undefined && exp * 1000 < Date.now()) {
    throw new ConnectionSecurityError(
      `nats credentials file (${found.source}) expired on ${new Date(exp * 1000).toISOString()}`,
    );
  }
  return new Uint8Array(data);
}

/** nats.js options for this security: merged into the connection options. */
export function natsConnectionOptions(security: NatsSecurity): Partial<ConnectionOptions> {
  const auth = security.auth;
  return {
    ...(security.tls ? { tls: security.tls } : {}),
    ...(auth?.kind === 'password' ? { user: auth.user, pass: auth.password } : {}),
    ...(auth?.kind === 'token' ? { token: auth.token } : {}),
    ...(auth?.kind === 'nkey' ? { authenticator: nkeyAuthenticator(auth.seed) } : {}),
    ...(auth?.kind === 'creds' ? { authenticator: credsAuthenticator(auth.creds) } : {}),
  };
}

/** etcd3 options for this security. */
export function etcdClientOptions(security: EtcdSecurity): Pick<EtcdOptions, 'credentials' | 'auth'> {
  return {
    ...(security.tls
      ? {
          credentials: {
            rootCertificate: security.tls.ca,
            ...(security.tls.cert && security.tls.key
              ? { certChain: security.tls.cert, privateKey: security.tls.key }
              : {}),
          },
        }
      : {}),
    ...(security.auth
      ? { auth: { username: security.auth.username, password: security.auth.password } }
      : {}),
  };
}

/** For the startup log line: which mechanisms are on, never a value. */
export function describeSecurity(security: NatsSecurity | EtcdSecurity): { tls: string; auth: string } {
  const tls = security.tls ? (security.tls.cert ? 'client-certificate' : 'server-only') : 'off';
  const auth = security.auth ? ('kind' in security.auth ? security.auth.kind : 'password') : 'none';
  return { tls, auth };
}

// nats.js codes for a server that refused us; node's TLS verification codes.
const NATS_REFUSALS: Record<string, string> = {
  AUTHORIZATION_VIOLATION:
    'authorization violation: the credentials are wrong, expired, missing or not allowed',
  AUTHENTICATION_EXPIRED: 'the credentials have expired',
  AUTHENTICATION_TIMEOUT: 'authentication timed out',
  ACCOUNT_EXPIRED: 'the account has expired',
  SERVER_OPT_NA: 'the server does not offer TLS, but TLS is configured',
};
const TLS_CODE =
  /^(ERR_TLS_|ERR_SSL_|ERR_OSSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|INVALID_CA)/;

/** The reason when `err` means NATS refused this client (fatal), undefined when it may be unreachable. */
export function natsRefusal(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') return undefined;
  if (code in NATS_REFUSALS) return NATS_REFUSALS[code];
  return TLS_CODE.test(code) ? `TLS: ${causeText(err)}` : undefined;
}

// gRPC status texts of etcd's refusals and of TLS failures (the socket error is inside the text).
const ETCD_REFUSALS: [RegExp, string][] = [
  [/authentication is not enabled/, 'authentication is not enabled on the server, but a user is configured'],
  [/authentication failed|invalid user ID or password/, 'authentication failed: wrong user name or password'],
  [
    /user name is empty|PERMISSION_DENIED|permission denied/,
    'permission denied: missing or insufficient credentials',
  ],
  [/UNAUTHENTICATED|invalid auth token/, 'the credentials were not accepted'],
  [
    /secure TLS connection|wrong version number|packet length too long/,
    'TLS handshake failed (does the server speak TLS?)',
  ],
];

/** The reason when `err` means etcd refused this client (fatal), undefined when it may be unreachable. */
export function etcdRefusal(err: unknown): string | undefined {
  const text = err instanceof Error ? err.message : String(err);
  for (const [pattern, reason] of ETCD_REFUSALS) if (pattern.test(text)) return reason;
  const tls = /ERR_TLS_\w+\]?:? ?([^.]*)|(certificate[^.]*)/.exec(text);
  return tls ? `TLS: ${(tls[1] ?? tls[2] ?? '').trim()}` : undefined;
}
