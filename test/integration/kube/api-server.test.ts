// The harness's kube-apiserver is a real one: CRDs become Established and serve a custom resource with
// create/get/list/watch and a status subresource, and a ValidatingWebhookConfiguration makes it call an
// HTTPS webhook this test runs, whose denial reaches the client with the webhook's own message.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  AdmissionregistrationV1Api,
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1CustomResourceDefinition,
  VersionApi,
  Watch,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import { CertificateAuthority } from '../../harness/certificates.js';
import { harnessTempDir } from '../../harness/temp-dir.js';

const GROUP = 'harness.dynamo.test';
const VERSION = 'v1';
const PLURAL = 'widgets';

const Widget = z.object({
  apiVersion: z.literal(`${GROUP}/${VERSION}`),
  kind: z.literal('Widget'),
  metadata: z.object({ name: z.string(), namespace: z.string(), resourceVersion: z.string() }),
  spec: z.object({ size: z.number().int(), deny: z.boolean().optional() }),
  status: z.object({ phase: z.string() }).optional(),
});
type Widget = z.infer<typeof Widget>;

const WidgetList = z.object({ items: z.array(Widget), metadata: z.object({ resourceVersion: z.string() }) });

const Status = z.object({ code: z.number(), message: z.string() });

const AdmissionReview = z.object({
  request: z.object({
    uid: z.string(),
    operation: z.string(),
    name: z.string().optional(),
    object: z.object({
      metadata: z.object({ name: z.string() }),
      spec: z.object({ deny: z.boolean().optional() }),
    }),
  }),
});
type AdmissionRequest = z.infer<typeof AdmissionReview>['request'];

const crd: V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${PLURAL}.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { plural: PLURAL, singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['size'],
                properties: { size: { type: 'integer', minimum: 0 }, deny: { type: 'boolean' } },
              },
              status: { type: 'object', properties: { phase: { type: 'string' } } },
            },
          },
        },
      },
    ],
  },
};

/** The Status the API server answered with, parsed out of client-node's exception. */
function apiStatus(error: unknown): z.infer<typeof Status> {
  if (!(error instanceof ApiException)) throw error;
  const body: unknown = typeof error.body === 'string' ? JSON.parse(error.body) : error.body;
  return Status.parse(body);
}

/** Polls `probe` until it gives a value; `what` names the wait (a function is read at the timeout). */
async function until<T>(
  what: string | (() => string),
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('kube-apiserver in the harness', () => {
  const kc = new KubeConfig();
  let custom: CustomObjectsApi;
  let namespace: string;

  const widget = (name: string, spec: Widget['spec']) => ({
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'Widget',
    metadata: { name, namespace },
    spec,
  });
  const widgets = () => ({ group: GROUP, version: VERSION, namespace, plural: PLURAL });
  const ref = (name: string) => ({ ...widgets(), name });

  beforeAll(async () => {
    kc.loadFromFile(inject('kubeconfig'));
    custom = kc.makeApiClient(CustomObjectsApi);
    namespace = `kube-test-${randomUUID().slice(0, 8)}`;
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });

    const extensions = kc.makeApiClient(ApiextensionsV1Api);
    await extensions.createCustomResourceDefinition({ body: crd });
    await until('the CRD to be Established', async () => {
      const current = await extensions.readCustomResourceDefinition({ name: `${PLURAL}.${GROUP}` });
      const established = current.status?.conditions?.find((c) => c.type === 'Established');
      return established?.status === 'True' ? true : undefined;
    });
  });

  it('exposes the child processes the same kubeconfig', () => {
    expect(process.env.KUBECONFIG).toBe(inject('kubeconfig'));
  });

  it('reports the pinned Kubernetes version, which clients parse', async () => {
    const version = await kc.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+$/);
    expect(`v${version.major}.${version.minor}.`).toBe(version.gitVersion.replace(/\d+$/, ''));
  });

  it('creates, gets, lists and watches a custom resource', async () => {
    const before = WidgetList.parse(await custom.listNamespacedCustomObject(widgets()));
    expect(before.items).toEqual([]);

    const events: { type: string; name: string }[] = [];
    const abort = await new Watch(kc).watch(
      `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`,
      { resourceVersion: before.metadata.resourceVersion },
      (type, object: unknown) => events.push({ type, name: Widget.parse(object).metadata.name }),
      () => {},
    );
    try {
      const created = Widget.parse(
        await custom.createNamespacedCustomObject({ ...widgets(), body: widget('a', { size: 1 }) }),
      );
      expect(created.metadata.namespace).toBe(namespace);

      const got = Widget.parse(await custom.getNamespacedCustomObject(ref('a')));
      expect(got.spec).toEqual({ size: 1 });

      await custom.createNamespacedCustomObject({ ...widgets(), body: widget('b', { size: 2 }) });
      const list = WidgetList.parse(await custom.listNamespacedCustomObject(widgets()));
      expect(list.items.map((w) => w.metadata.name).sort()).toEqual(['a', 'b']);

      await custom.deleteNamespacedCustomObject(ref('b'));
      await until('the watch to deliver three events', async () => (events.length >= 3 ? true : undefined));
      expect(events).toEqual([
        { type: 'ADDED', name: 'a' },
        { type: 'ADDED', name: 'b' },
        { type: 'DELETED', name: 'b' },
      ]);
    } finally {
      abort.abort();
    }
  });

  it('validates against the CRD schema', async () => {
    const error = await custom
      .createNamespacedCustomObject({ ...widgets(), body: widget('negative', { size: -1 }) })
      .catch((e: unknown) => e);
    const status = apiStatus(error);
    expect(status.code).toBe(422);
    expect(status.message).toContain('spec.size');
  });

  it('keeps spec and status apart through the status subresource', async () => {
    const created = Widget.parse(
      await custom.createNamespacedCustomObject({
        ...widgets(),
        body: { ...widget('s', { size: 1 }), status: { phase: 'ignored-on-create' } },
      }),
    );
    expect(created.status).toBeUndefined();

    // Through /status, a status change sticks and a spec change is dropped.
    const viaStatus = Widget.parse(
      await custom.replaceNamespacedCustomObjectStatus({
        ...ref('s'),
        body: { ...created, spec: { size: 9 }, status: { phase: 'Ready' } },
      }),
    );
    expect(viaStatus.status).toEqual({ phase: 'Ready' });
    expect(viaStatus.spec).toEqual({ size: 1 });

    // Through the main resource, the reverse.
    const viaMain = Widget.parse(
      await custom.replaceNamespacedCustomObject({
        ...ref('s'),
        body: { ...viaStatus, spec: { size: 3 }, status: { phase: 'Overwritten' } },
      }),
    );
    expect(viaMain.spec).toEqual({ size: 3 });
    expect(viaMain.status).toEqual({ phase: 'Ready' });

    const status = Widget.parse(await custom.getNamespacedCustomObjectStatus(ref('s')));
    expect(status.status).toEqual({ phase: 'Ready' });
  });

  describe('validating webhook', () => {
    const WEBHOOK = `deny.${GROUP}`;
    const DENIAL = 'widgets with spec.deny are refused by the test webhook';
    const requests: AdmissionRequest[] = [];
    let server: Server;
    let admission: AdmissionregistrationV1Api;

    beforeAll(async () => {
      const ca = await CertificateAuthority.create(await harnessTempDir('webhook-pki'), 'webhook-ca');
      const serving = await ca.issue({
        name: 'webhook',
        commonName: '127.0.0.1',
        ipAddresses: ['127.0.0.1'],
        usage: 'server',
      });
      server = createServer({ cert: serving.cert, key: serving.key }, async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const review = AdmissionReview.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        requests.push(review.request);
        const denied = review.request.object.spec.deny === true;
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: {
              uid: review.request.uid,
              allowed: !denied,
              ...(denied ? { status: { code: 403, message: DENIAL } } : {}),
            },
          }),
        );
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;

      admission = kc.makeApiClient(AdmissionregistrationV1Api);
      await admission.createValidatingWebhookConfiguration({
        body: {
          metadata: { name: WEBHOOK },
          webhooks: [
            {
              name: WEBHOOK,
              clientConfig: { url: `https://127.0.0.1:${port}/validate`, caBundle: ca.bundle },
              rules: [
                { apiGroups: [GROUP], apiVersions: [VERSION], operations: ['CREATE'], resources: [PLURAL] },
              ],
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
              admissionReviewVersions: ['v1'],
              sideEffects: 'None',
              failurePolicy: 'Fail',
              timeoutSeconds: 5,
            },
          ],
        },
      });
      // The API server picks new webhook configurations up from its informer, shortly after the create.
      let probe = 0;
      let last = 'none yet';
      await until(
        () => `the API server to call the webhook (last answer: ${last})`,
        async () => {
          const name = `probe-${probe++}`;
          try {
            await custom.createNamespacedCustomObject({
              ...widgets(),
              body: widget(name, { size: 0, deny: true }),
            });
            await custom.deleteNamespacedCustomObject(ref(name));
            last = 'created: the webhook was not called';
            return undefined;
          } catch (error) {
            last = apiStatus(error).message;
            return last.includes(DENIAL) ? true : undefined;
          }
        },
      );
    });

    afterAll(async () => {
      await admission?.deleteValidatingWebhookConfiguration({ name: WEBHOOK });
      server?.close();
    });

    it('is called for an allowed create, which is stored', async () => {
      requests.length = 0;
      await custom.createNamespacedCustomObject({ ...widgets(), body: widget('allowed', { size: 1 }) });
      expect(requests).toHaveLength(1);
      expect(requests[0]).toMatchObject({ operation: 'CREATE', object: { metadata: { name: 'allowed' } } });
      const stored = Widget.parse(await custom.getNamespacedCustomObject(ref('allowed')));
      expect(stored.metadata.name).toBe('allowed');
    });

    it("rejects a denied create with the webhook's message, and stores nothing", async () => {
      const error = await custom
        .createNamespacedCustomObject({ ...widgets(), body: widget('denied', { size: 1, deny: true }) })
        .catch((e: unknown) => e);
      const status = apiStatus(error);
      expect(status.code).toBe(403);
      expect(status.message).toBe(`admission webhook "${WEBHOOK}" denied the request: ${DENIAL}`);
      expect(
        apiStatus(await custom.getNamespacedCustomObject(ref('denied')).catch((e: unknown) => e)).code,
      ).toBe(404);
    });
  });
});
