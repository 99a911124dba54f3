// Throwaway TLS material for tests: a CA and the certificates it signs, made with the openssl CLI
// (OpenSSL 3's `req -x509 -CA` signs in one call). EC P-256 keys because they take milliseconds, where
// RSA would dominate the harness's start. Node can make keys but not X.509 certificates on its own.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

// `prompt = no` with an empty DN section lets -subj carry the whole name; the sections pin the extensions
// instead of openssl.cnf's v3_ca defaults (which would mark every leaf a CA).
const OPENSSL_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
authorityKeyIdentifier = keyid
`;

/** PEM files on disk plus their contents, as kubeconfigs and Node's TLS options want both. */
export interface KeyPair {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface CertificateRequest {
  /** File name stem inside the CA's directory. */
  name: string;
  commonName: string;
  /** Subject O= entries; Kubernetes reads them as the client's groups. */
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: 'server' | 'client';
}

function subject(commonName: string, organizations: string[] = []): string {
  return [...organizations.map((o) => `/O=${o}`), `/CN=${commonName}`].join('');
}

async function newKeyPair(dir: string, name: string, args: string[]): Promise<KeyPair> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-noenc',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-config',
    join(dir, 'openssl.cnf'),
    ...args,
  ]);
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  return { certFile, keyFile, cert, key };
}

export class CertificateAuthority {
  private constructor(
    private readonly dir: string,
    readonly ca: KeyPair,
  ) {}

  /** A new self-signed CA whose files live in `dir`. */
  static async create(dir: string, commonName = 'dynamo-test-ca'): Promise<CertificateAuthority> {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'openssl.cnf'), OPENSSL_CONFIG);
    const ca = await newKeyPair(dir, 'ca', [
      '-subj',
      subject(commonName),
      '-days',
      '3650',
      '-extensions',
      'ca',
    ]);
    return new CertificateAuthority(dir, ca);
  }

  /** The CA certificate base64-encoded, as kubeconfigs and webhook `caBundle` fields carry it. */
  get bundle(): string {
    return Buffer.from(this.ca.cert).toString('base64');
  }

  issue(request: CertificateRequest): Promise<KeyPair> {
    const names = [
      ...(request.dnsNames ?? []).map((n) => `DNS:${n}`),
      ...(request.ipAddresses ?? []).map((ip) => `IP:${ip}`),
    ];
    return newKeyPair(this.dir, request.name, [
      '-subj',
      subject(request.commonName, request.organizations),
      '-days',
      '365',
      '-extensions',
      'leaf',
      '-CA',
      this.ca.certFile,
      '-CAkey',
      this.ca.keyFile,
      '-addext',
      `extendedKeyUsage=${request.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
      ...(names.length > 0 ? ['-addext', `subjectAltName=${names.join(',')}`] : []),
    ]);
  }
}
