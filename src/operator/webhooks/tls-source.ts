// Where the webhook's certificate comes from:
//   - SecretTlsSource: made and rotated by the operator (certificates.ts), kept in a Secret that every
//     replica reads; writes use the Secret's resourceVersion, so two replicas never both rotate;
//   - FileTlsSource: files mounted from a Secret that cert-manager keeps (its cainjector then fills
//     the caBundle of the webhook configurations; the operator only points the CRDs' conversion
//     webhook at itself, with the Secret's ca.crt).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../runtime/logger.js';
import { isConflict, type KubeClient } from '../kube/client.js';
import { type KubeObject, RT } from '../kube/types.js';
import {
  DEFAULT_ROTATION,
  ensureTls,
  notAfter,
  type RotationPolicy,
  type WebhookTls,
} from './certificates.js';

export interface ServingPair {
  certPem: string;
  keyPem: string;
  /** Bundle to write into the webhook configurations; undefined when someone else (cert-manager) does. */
  caBundle?: string;
}

export interface TlsSource {
  /** The current pair, renewed first if it is due. */
  sync(): Promise<ServingPair>;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: unknown) => (typeof s === 'string' ? Buffer.from(s, 'base64').toString('utf8') : '');

function fromSecret(secret: KubeObject | undefined): WebhookTls | undefined {
  const data = (secret?.data ?? {}) as Record<string, unknown>;
  const tls = {
    ca: { certPem: unb64(data['ca.crt']), keyPem: unb64(data['ca.key']) },
    serving: { certPem: unb64(data['tls.crt']), keyPem: unb64(data['tls.key']) },
    caBundle: unb64(data['ca-bundle.crt']) || unb64(data['ca.crt']),
  };
  return tls.ca.certPem && tls.ca.keyPem && tls.serving.certPem && tls.serving.keyPem ? tls : undefined;
}

export class SecretTlsSource implements TlsSource {
  constructor(
    private readonly options: {
      client: KubeClient;
      namespace: string;
      secretName: string;
      names: { dns: string[]; ips: string[] };
      log: Logger;
      policy?: RotationPolicy;
      now?: () => Date;
    },
  ) {}

  async sync(): Promise<ServingPair> {
    const { client, namespace, secretName, names, log } = this.options;
    for (let attempt = 0; ; attempt++) {
      const secret = await client.get(RT.secret, namespace, secretName);
      let stored: WebhookTls | undefined;
      try {
        stored = fromSecret(secret);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'webhook certificate secret unreadable: issuing a new one');
      }
      const now = this.options.now?.() ?? new Date();
      let result: Awaited<ReturnType<typeof ensureTls>>;
      try {
        result = await ensureTls(stored, names, now, this.options.policy ?? DEFAULT_ROTATION);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'stored webhook certificate invalid: issuing a new one');
        result = await ensureTls(undefined, names, now, this.options.policy ?? DEFAULT_ROTATION);
      }
      const { tls, changed } = result;
      if (!changed) return { ...tls.serving, caBundle: tls.caBundle };
      const body: KubeObject = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          name: secretName,
          namespace,
          ...(secret?.metadata.resourceVersion ? { resourceVersion: secret.metadata.resourceVersion } : {}),
        },
        type: 'kubernetes.io/tls',
        data: {
          'ca.crt': b64(tls.ca.certPem),
          'ca.key': b64(tls.ca.keyPem),
          'ca-bundle.crt': b64(tls.caBundle),
          'tls.crt': b64(tls.serving.certPem),
          'tls.key': b64(tls.serving.keyPem),
        },
      };
      try {
        if (secret) await client.replace(RT.secret, body);
        else await client.create(RT.secret, body);
        log.info(
          { secret: `${namespace}/${secretName}`, notAfter: notAfter(tls.serving.certPem).toISOString() },
          'webhook certificate issued',
        );
        return { ...tls.serving, caBundle: tls.caBundle };
      } catch (err) {
        // Another replica wrote first: take what it wrote.
        if (isConflict(err) && attempt < 3) continue;
        throw err;
      }
    }
  }
}

export class FileTlsSource implements TlsSource {
  constructor(private readonly dir: string) {}

  async sync(): Promise<ServingPair> {
    const [certPem, keyPem, caPem] = await Promise.all([
      readFile(join(this.dir, 'tls.crt'), 'utf8'),
      readFile(join(this.dir, 'tls.key'), 'utf8'),
      // cert-manager writes the issuer's CA (a self-signed certificate's own) as ca.crt; without it
      // the conversion webhook cannot be registered and only v1beta1 requests fail.
      readFile(join(this.dir, 'ca.crt'), 'utf8').catch(() => undefined),
    ]);
    return caPem ? { certPem, keyPem, caBundle: caPem } : { certPem, keyPem };
  }
}
