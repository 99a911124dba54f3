// The conversion webhook: ConversionReview v1 answered by the pure function and by the TLS server at
// /convert, the CRD serving both versions, and the patch that points its webhook at the operator.
import { request } from 'node:https';
import { afterEach, describe, expect, it } from 'vitest';
import { DCD_KIND, DGD_KIND, generateCrd, MODEL_KIND } from '../../../../src/api/k8s/index.js';
import { OperatorMetrics } from '../../../../src/operator/metrics.js';
import { ensureTls } from '../../../../src/operator/webhooks/certificates.js';
import { conversionPatches } from '../../../../src/operator/webhooks/configurations.js';
import { conversionRequestOf, convert } from '../../../../src/operator/webhooks/conversion.js';
import { webhooks } from '../../../../src/operator/webhooks/registry.js';
import { WebhookServer } from '../../../../src/operator/webhooks/server.js';
import { createLogger } from '../../../../src/runtime/logger.js';
import { dgd } from '../manifests.js';

const controllers: AbortController[] = [];
afterEach(() => {
  for (const c of controllers.splice(0)) c.abort();
});

const graph = dgd('g', {
  services: { Frontend: { componentType: 'frontend', extraPodSpec: { mainContainer: { image: 'i:1' } } } },
});

const review = (desiredAPIVersion: string, objects: unknown[]) => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'ConversionReview',
  request: { uid: 'u1', desiredAPIVersion, objects },
});

describe('ConversionReview', () => {
  it('converts every object to the desired version and back', () => {
    const request = conversionRequestOf(review('nvidia.com/v1beta1', [graph]));
    if (!request) throw new Error('not a review');
    const response = convert(request);
    expect(response.result).toEqual({ status: 'Success' });
    expect(response.uid).toBe('u1');
    const [beta] = response.convertedObjects;
    expect(beta?.apiVersion).toBe('nvidia.com/v1beta1');
    expect(((beta?.spec ?? {}) as { components: unknown[] }).components).toEqual([
      {
        name: 'Frontend',
        type: 'frontend',
        podTemplate: { spec: { containers: [{ name: 'main', image: 'i:1' }] } },
      },
    ]);
    const back = convert({ uid: 'u2', desiredAPIVersion: 'nvidia.com/v1alpha1', objects: [beta ?? {}] });
    expect(back.convertedObjects).toEqual([graph]);
  });

  it('fails the whole review on an object it cannot convert, naming it', () => {
    const model = { apiVersion: 'nvidia.com/v1alpha1', kind: 'DynamoModel', metadata: { name: 'm' } };
    const response = convert({ uid: 'u', desiredAPIVersion: 'nvidia.com/v1beta1', objects: [graph, model] });
    expect(response.result).toEqual({
      status: 'Failure',
      message: 'objects[1] (m): kind DynamoModel has a single version',
    });
    expect(response.convertedObjects).toEqual([]);
  });

  it('refuses a body that is not a ConversionReview', () => {
    expect(conversionRequestOf({ request: { uid: 'u' } })).toBeUndefined();
    expect(conversionRequestOf(null)).toBeUndefined();
  });
});

describe('the webhook server at /convert', () => {
  it('answers a ConversionReview over TLS and counts it', async () => {
    const tls = (await ensureTls(undefined, { dns: ['localhost'], ips: ['127.0.0.1'] }, new Date())).tls;
    const metrics = new OperatorMetrics();
    const server = new WebhookServer({
      host: '127.0.0.1',
      port: 0,
      tls: { sync: async () => ({ ...tls.serving, caBundle: tls.caBundle }) },
      webhooks: webhooks(),
      log: createLogger({ level: 'silent' }),
      metrics,
      operatorUsernames: new Set(),
    });
    const controller = new AbortController();
    controllers.push(controller);
    await server.start(controller.signal);
    const post = (body: unknown) =>
      new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: server.port,
            path: '/convert',
            method: 'POST',
            ca: tls.caBundle,
            agent: false,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }),
            );
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(body));
      });
    const ok = await post(review('nvidia.com/v1beta1', [graph]));
    expect(ok.status).toBe(200);
    expect(ok.json.kind).toBe('ConversionReview');
    expect((ok.json.response as { result: unknown }).result).toEqual({ status: 'Success' });
    expect((await post({ nope: true })).status).toBe(400);
    const text = await metrics.registry.metrics();
    expect(text).toContain('dynamo_operator_admission_total{webhook="conversion",verdict="allowed"} 1');
    expect(text).toContain('dynamo_operator_admission_total{webhook="conversion",verdict="error"} 1');
  });
});

type Version = { name: string; served: boolean; storage: boolean; schema: { openAPIV3Schema: unknown } };

describe('the DynamoGraphDeployment CRD', () => {
  it('serves v1alpha1 (stored) and v1beta1, converted by the webhook', () => {
    const crd = generateCrd(DGD_KIND) as {
      spec: { versions: Version[]; conversion: { strategy: string; webhook: Record<string, unknown> } };
    };
    expect(crd.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual([
      ['v1alpha1', true, true],
      ['v1beta1', true, false],
    ]);
    expect(crd.spec.conversion).toEqual({
      strategy: 'Webhook',
      webhook: {
        conversionReviewVersions: ['v1'],
        clientConfig: {
          service: {
            namespace: 'dynamo-system',
            name: 'dynamo-operator-webhook',
            path: '/convert',
            port: 443,
          },
        },
      },
    });
    const beta = JSON.stringify(crd.spec.versions[1]?.schema);
    expect(beta).toContain('"components"');
    expect(beta).toContain('"podTemplate"');
    expect(beta).not.toContain('"services"');
  });

  it('DynamoComponentDeployment serves both too, with the v1beta1 paths in its printer columns', () => {
    const crd = generateCrd(DCD_KIND) as {
      spec: {
        versions: (Version & { additionalPrinterColumns: { jsonPath: string }[] })[];
        conversion: unknown;
      };
    };
    expect(crd.spec.versions.map((v) => [v.name, v.storage])).toEqual([
      ['v1alpha1', true],
      ['v1beta1', false],
    ]);
    expect(crd.spec.versions[1]?.additionalPrinterColumns.map((c) => c.jsonPath)).toContain('.spec.type');
    expect(crd.spec.conversion).toMatchObject({ strategy: 'Webhook' });
  });

  it('other kinds serve v1alpha1 only, with no conversion', () => {
    const crd = generateCrd(MODEL_KIND) as { spec: { versions: Version[]; conversion?: unknown } };
    expect(crd.spec.versions.map((v) => v.name)).toEqual(['v1alpha1']);
    expect(crd.spec.conversion).toBeUndefined();
  });

  it('is pointed at the operator with its CA bundle, by URL or by Service', () => {
    const url = conversionPatches(
      { name: 'x', target: { kind: 'url', baseUrl: 'https://127.0.0.1:9443' } },
      'PEM',
    );
    expect(url.map((p) => p.name)).toEqual([
      'dynamographdeployments.nvidia.com',
      'dynamocomponentdeployments.nvidia.com',
    ]);
    expect(url.slice(0, 1)).toEqual([
      {
        name: 'dynamographdeployments.nvidia.com',
        patch: {
          spec: {
            conversion: {
              strategy: 'Webhook',
              webhook: {
                conversionReviewVersions: ['v1'],
                clientConfig: {
                  url: 'https://127.0.0.1:9443/convert',
                  service: null,
                  caBundle: Buffer.from('PEM').toString('base64'),
                },
              },
            },
          },
        },
      },
    ]);
    const [svc] = conversionPatches(
      { name: 'x', target: { kind: 'service', namespace: 'ops', name: 'op-webhook', port: 443 } },
      'PEM',
    );
    const clientConfig = (
      (svc?.patch ?? {}) as { spec: { conversion: { webhook: { clientConfig: unknown } } } }
    ).spec.conversion.webhook.clientConfig;
    expect(clientConfig).toMatchObject({
      url: null,
      service: { namespace: 'ops', name: 'op-webhook', port: 443, path: '/convert' },
    });
  });
});
