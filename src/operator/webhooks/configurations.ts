// The Validating/MutatingWebhookConfigurations that send our kinds' admissions to this operator: to
// its Service in a cluster, or (--local-webhooks, for development and tests) to a URL on this host.
import { API_GROUP, API_VERSION, CONVERSION_PATH, CUSTOM_KINDS, crdName } from '../../api/k8s/index.js';
import type { KubeObject } from '../kube/types.js';
import { webhooks } from './registry.js';

export interface WebhookRegistration {
  target: WebhookTarget;
  /** Configurations are `<name>-validating` and `<name>-mutating`. */
  name: string;
  /** Only objects in this namespace go through the webhooks (an operator watching one namespace). */
  namespace?: string;
  /**
   * false: the chart owns the admission configurations (cert-manager's cainjector fills their CA), and
   * only the CRDs' conversion webhook is pointed here — the static crds/ cannot name the release's
   * Service, so nobody else can. Default true.
   */
  configurations?: boolean;
}

export type WebhookTarget =
  | { kind: 'service'; namespace: string; name: string; port: number }
  | { kind: 'url'; baseUrl: string };

export function webhookConfigurations(registration: WebhookRegistration, caBundlePem: string): KubeObject[] {
  const { target, namespace } = registration;
  const caBundle = Buffer.from(caBundlePem).toString('base64');
  const entries = (type: 'validating' | 'mutating') =>
    webhooks()
      .filter((w) => w.type === type)
      .map((w) => ({
        name: w.name,
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        matchPolicy: 'Equivalent',
        timeoutSeconds: 10,
        ...(namespace
          ? { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } }
          : {}),
        ...(type === 'mutating' ? { reinvocationPolicy: 'Never' } : {}),
        rules: [
          {
            apiGroups: [API_GROUP],
            apiVersions: [API_VERSION],
            operations: ['CREATE', 'UPDATE'],
            resources: [w.kind.plural],
            scope: 'Namespaced',
          },
        ],
        clientConfig:
          target.kind === 'url'
            ? { url: `${target.baseUrl}${w.path}`, caBundle }
            : {
                service: { namespace: target.namespace, name: target.name, port: target.port, path: w.path },
                caBundle,
              },
      }));
  // No app.kubernetes.io/managed-by label: when the chart ships these configurations Helm owns that
  // label, and a forced apply of ours would make every `helm upgrade` conflict.
  const metadata = (name: string) => ({ name });
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: metadata(`${registration.name}-validating`),
      webhooks: entries('validating'),
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: metadata(`${registration.name}-mutating`),
      webhooks: entries('mutating'),
    },
  ];
}

/**
 * Merge patches that point the conversion webhook of each CRD serving two versions at this operator,
 * with the CA bundle (the CRD is cluster-wide: whichever operator registers last converts).
 */
export function conversionPatches(
  registration: WebhookRegistration,
  caBundlePem: string,
): { name: string; patch: unknown }[] {
  const { target } = registration;
  const caBundle = Buffer.from(caBundlePem).toString('base64');
  // A merge patch: the other way of addressing the webhook is removed (null), never left beside.
  const clientConfig =
    target.kind === 'url'
      ? { url: `${target.baseUrl}${CONVERSION_PATH}`, service: null, caBundle }
      : {
          url: null,
          service: {
            namespace: target.namespace,
            name: target.name,
            port: target.port,
            path: CONVERSION_PATH,
          },
          caBundle,
        };
  return CUSTOM_KINDS.filter((k) => k.v1beta1).map((k) => ({
    name: crdName(k),
    patch: {
      spec: {
        conversion: { strategy: 'Webhook', webhook: { conversionReviewVersions: ['v1'], clientConfig } },
      },
    },
  }));
}
