// Webhook TLS without cert-manager: a CA and a serving certificate, made here with @peculiar/x509 on
// node's WebCrypto (ECDSA P-256), kept in one Secret so every replica serves the same pair, and
// renewed before expiry. During a CA rotation the bundle holds the new and the old CA, so an API
// server that still has the old bundle, or a replica still serving the old pair, keeps working.
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API first.
import 'reflect-metadata';
import { X509Certificate as NodeX509, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto;
// @peculiar/x509 is typed against the DOM's Crypto, node's WebCrypto is the same API under another name.
x509.cryptoProvider.set(webcrypto as never);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export interface KeyPair {
  certPem: string;
  keyPem: string;
}

export interface WebhookTls {
  ca: KeyPair;
  serving: KeyPair;
  /** PEM of every CA the API server should trust (the current one first). */
  caBundle: string;
}

async function keyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(new Uint8Array(await crypto.subtle.exportKey('pkcs8', key)), 'PRIVATE KEY');
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  if (!der) throw new Error('no PEM block in private key');
  return crypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
}

const serial = () =>
  Buffer.from(crypto.getRandomValues(new Uint8Array(16)))
    .toString('hex')
    .replace(/^[89a-f]/, '1');

export async function generateCa(now: Date, validityDays: number): Promise<KeyPair> {
  const keys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=dynamo-operator-webhook-ca',
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + validityDays * DAY),
    signingAlgorithm: ALG,
    keys: keys as never,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** A serving certificate for the webhook's DNS names and IP addresses, signed by the CA. */
export async function issueServing(
  ca: KeyPair,
  names: { dns: string[]; ips: string[] },
  now: Date,
  validityDays: number,
): Promise<KeyPair> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const keys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names.dns[0] ?? names.ips[0] ?? 'dynamo-operator-webhook'}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + validityDays * DAY),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey as never,
    signingKey: (await importKey(ca.keyPem)) as never,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.dns.map((value) => ({ type: 'dns' as const, value })),
        ...names.ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

export function notAfter(certPem: string): Date {
  return new Date(new NodeX509(certPem).validTo);
}

/** The DNS names and IPs a serving certificate covers. */
export function subjectAltNames(certPem: string): string[] {
  return (new NodeX509(certPem).subjectAltName ?? '').split(', ').filter((s) => s !== '');
}

export interface RotationPolicy {
  caValidityDays: number;
  servingValidityDays: number;
  /** Renew when less than this is left. */
  renewBeforeDays: number;
}

export const DEFAULT_ROTATION: RotationPolicy = {
  caValidityDays: 3650,
  servingValidityDays: 365,
  renewBeforeDays: 30,
};

/**
 * What to serve now, given what is stored (or nothing): keeps what is valid long enough and covers
 * the names, reissues the serving pair when it is due, and makes a new CA (kept beside the old in the
 * bundle) when the CA is due. `changed` tells whether the result must be written back.
 */
export async function ensureTls(
  stored: WebhookTls | undefined,
  names: { dns: string[]; ips: string[] },
  now: Date,
  policy: RotationPolicy = DEFAULT_ROTATION,
): Promise<{ tls: WebhookTls; changed: boolean }> {
  const due = (pem: string) => notAfter(pem).getTime() - now.getTime() < policy.renewBeforeDays * DAY;
  const wanted = [...names.dns.map((d) => `DNS:${d}`), ...names.ips.map((ip) => `IP Address:${ip}`)];
  let ca = stored?.ca;
  let bundle = stored?.caBundle ?? '';
  let changed = false;
  if (!ca || due(ca.certPem)) {
    const old = ca && notAfter(ca.certPem).getTime() > now.getTime() ? ca.certPem : '';
    ca = await generateCa(now, policy.caValidityDays);
    bundle = `${ca.certPem}${old}`;
    changed = true;
  }
  let serving = stored?.serving;
  const covers = serving ? wanted.every((n) => subjectAltNames(serving?.certPem ?? '').includes(n)) : false;
  if (!serving || changed || due(serving.certPem) || !covers) {
    serving = await issueServing(ca, names, now, policy.servingValidityDays);
    changed = true;
  }
  return { tls: { ca, serving, caBundle: bundle }, changed };
}
