import { once } from 'node:events';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { ensureTls, notAfter, subjectAltNames } from '../../../../src/operator/webhooks/certificates.js';

const NAMES = { dns: ['dynamo-operator-webhook.dynamo-system.svc'], ips: ['127.0.0.1'] };
const DAY = 86_400_000;

/** Completes a TLS handshake against a server with this pair, trusting only the bundle. */
async function handshake(
  certPem: string,
  keyPem: string,
  caBundle: string,
  servername: string,
): Promise<boolean> {
  const server = createServer({ cert: certPem, key: keyPem }, (_req, res) => res.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  try {
    const socket = connect({ host: '127.0.0.1', port, ca: caBundle, servername });
    const ok = await new Promise<boolean>((resolve) => {
      socket.once('secureConnect', () => resolve(socket.authorized));
      socket.once('error', () => resolve(false));
    });
    socket.destroy();
    return ok;
  } finally {
    server.close();
  }
}

describe('webhook certificates', () => {
  it('issues a CA and a serving certificate for the names that a TLS client accepts', async () => {
    const { tls, changed } = await ensureTls(undefined, NAMES, new Date());
    expect(changed).toBe(true);
    expect(subjectAltNames(tls.serving.certPem)).toEqual([
      'DNS:dynamo-operator-webhook.dynamo-system.svc',
      'IP Address:127.0.0.1',
    ]);
    expect(
      await handshake(
        tls.serving.certPem,
        tls.serving.keyPem,
        tls.caBundle,
        'dynamo-operator-webhook.dynamo-system.svc',
      ),
    ).toBe(true);
    const other = await ensureTls(undefined, NAMES, new Date());
    expect(await handshake(tls.serving.certPem, tls.serving.keyPem, other.tls.caBundle, 'localhost')).toBe(
      false,
    );
  });

  it('keeps a valid pair, renews the serving certificate when due, rotates the CA keeping the old in the bundle', async () => {
    const now = new Date();
    const { tls } = await ensureTls(undefined, NAMES, now, {
      caValidityDays: 100,
      servingValidityDays: 40,
      renewBeforeDays: 30,
    });
    const policy = { caValidityDays: 100, servingValidityDays: 40, renewBeforeDays: 30 };
    expect((await ensureTls(tls, NAMES, new Date(now.getTime() + 5 * DAY), policy)).changed).toBe(false);

    const renewed = await ensureTls(tls, NAMES, new Date(now.getTime() + 15 * DAY), policy);
    expect(renewed.changed).toBe(true);
    expect(renewed.tls.ca.certPem).toBe(tls.ca.certPem);
    expect(notAfter(renewed.tls.serving.certPem).getTime()).toBeGreaterThan(
      notAfter(tls.serving.certPem).getTime(),
    );

    const rotated = await ensureTls(renewed.tls, NAMES, new Date(now.getTime() + 75 * DAY), policy);
    expect(rotated.tls.ca.certPem).not.toBe(tls.ca.certPem);
    expect(rotated.tls.caBundle.startsWith(rotated.tls.ca.certPem)).toBe(true);
    expect(rotated.tls.caBundle).toContain(tls.ca.certPem);
  });

  it('reissues when the names change', async () => {
    const { tls } = await ensureTls(undefined, NAMES, new Date());
    const more = await ensureTls(tls, { dns: [...NAMES.dns, 'localhost'], ips: NAMES.ips }, new Date());
    expect(more.changed).toBe(true);
    expect(subjectAltNames(more.tls.serving.certPem)).toContain('DNS:localhost');
  });
});
