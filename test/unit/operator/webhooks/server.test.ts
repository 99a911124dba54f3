// The webhook server on a real TLS socket: answers AdmissionReviews, counts verdicts, and swaps in a
// renewed certificate without a restart.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { KubeClient } from '../../../../src/operator/kube/client.js';
import { OperatorMetrics } from '../../../../src/operator/metrics.js';
import { ensureTls, type WebhookTls } from '../../../../src/operator/webhooks/certificates.js';
import { webhooks } from '../../../../src/operator/webhooks/registry.js';
import { WebhookServer } from '../../../../src/operator/webhooks/server.js';
import {
  FileTlsSource,
  type ServingPair,
  type TlsSource,
} from '../../../../src/operator/webhooks/tls-source.js';
import { createLogger } from '../../../../src/runtime/logger.js';
import { dgd } from '../manifests.js';

const NAMES = { dns: ['localhost'], ips: ['127.0.0.1'] };
const controllers: AbortController[] = [];
afterEach(() => {
  for (const c of controllers.splice(0)) c.abort();
});

/** A TLS source whose pair the test replaces. */
class SwappableSource implements TlsSource {
  constructor(public tls: WebhookTls) {}
  async sync(): Promise<ServingPair> {
    return { ...this.tls.serving, caBundle: this.tls.caBundle };
  }
}

function post(
  port: number,
  path: string,
  body: unknown,
  ca: string,
): Promise<{ status: number; json: unknown; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        ca,
        headers: { 'content-type': 'application/json' },
        agent: false,
      },
      (res) => {
        const serial = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().serialNumber;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            json: JSON.parse(Buffer.concat(chunks).toString()),
            serial,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('webhook server', () => {
  it('answers reviews over TLS and serves a renewed certificate without restarting', async () => {
    const first = (await ensureTls(undefined, NAMES, new Date())).tls;
    const source = new SwappableSource(first);
    const metrics = new OperatorMetrics();
    const server = new WebhookServer({
      host: '127.0.0.1',
      port: 0,
      tls: source,
      webhooks: webhooks({ defaultImage: 'dynamo-ts:test' }),
      log: createLogger({ level: 'silent' }),
      metrics,
      operatorUsernames: new Set(),
      certCheckIntervalMs: 50,
    });
    const controller = new AbortController();
    controllers.push(controller);
    await server.start(controller.signal);
    expect(server.ready).toBe(true);

    const review = (object: unknown) => ({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'u1', operation: 'CREATE', userInfo: { username: 'alice' }, object },
    });
    const denied = await post(
      server.port,
      '/validate-nvidia-com-v1alpha1-dynamographdeployment',
      review(dgd('x', { services: {} })),
      first.caBundle,
    );
    expect(denied.status).toBe(200);
    expect(denied.json).toMatchObject({ response: { uid: 'u1', allowed: false, status: { code: 422 } } });
    expect((await post(server.port, '/nope', review({}), first.caBundle)).status).toBe(404);
    expect(await metrics.admissions.get()).toMatchObject({
      values: [
        expect.objectContaining({
          labels: { webhook: 'vdynamographdeployment.nvidia.com', verdict: 'denied' },
          value: 1,
        }),
      ],
    });

    // Renewal: same CA, new serving pair; the server picks it up on its next check.
    const renewed = (
      await ensureTls(first, { dns: ['localhost', 'renewed.example'], ips: NAMES.ips }, new Date())
    ).tls;
    expect(renewed.ca.certPem).toBe(first.ca.certPem);
    source.tls = renewed;
    const before = denied.serial;
    const after = await (async () => {
      for (let i = 0; i < 100; i++) {
        const r = await post(
          server.port,
          '/validate-nvidia-com-v1alpha1-dynamographdeployment',
          review(dgd('x', { services: {} })),
          first.caBundle,
        );
        if (r.serial !== before) return r.serial;
        await new Promise((r) => setTimeout(r, 20));
      }
      return before;
    })();
    expect(after).not.toBe(before);
  });
});

describe('webhook registration with cert-manager (--cert-dir)', () => {
  it("points only the CRDs' conversion webhook here, with the mounted ca.crt; the chart keeps the configurations", async () => {
    const tls = (await ensureTls(undefined, NAMES, new Date())).tls;
    const dir = await mkdtemp(join(tmpdir(), 'cert-dir-'));
    await writeFile(join(dir, 'tls.crt'), tls.serving.certPem);
    await writeFile(join(dir, 'tls.key'), tls.serving.keyPem);
    await writeFile(join(dir, 'ca.crt'), tls.caBundle);
    const calls: string[] = [];
    const client = {
      apply: async (_rt: unknown, obj: { kind: string }) => {
        calls.push(`apply ${obj.kind}`);
      },
      mergePatch: async (_rt: unknown, _ns: unknown, name: string, patch: unknown) => {
        const caBundle = (
          patch as { spec: { conversion: { webhook: { clientConfig: { caBundle: string } } } } }
        ).spec.conversion.webhook.clientConfig.caBundle;
        calls.push(`patch ${name} ${Buffer.from(caBundle, 'base64').toString() === tls.caBundle}`);
      },
    } as unknown as KubeClient;
    const server = new WebhookServer({
      host: '127.0.0.1',
      port: 0,
      tls: new FileTlsSource(dir),
      webhooks: webhooks({ defaultImage: 'dynamo-ts:test' }),
      log: createLogger({ level: 'silent' }),
      metrics: new OperatorMetrics(),
      operatorUsernames: new Set(),
      register: {
        client,
        registration: {
          name: 'x',
          target: { kind: 'service', namespace: 'ops', name: 'op-webhook', port: 443 },
          configurations: false,
        },
      },
    });
    const controller = new AbortController();
    controllers.push(controller);
    await server.start(controller.signal);
    expect(calls).toEqual([
      'patch dynamographdeployments.nvidia.com true',
      'patch dynamocomponentdeployments.nvidia.com true',
    ]);
  });
});
