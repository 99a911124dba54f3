// The Validating/MutatingWebhookConfigurations that send our kinds' admissions to this operator: to
// its Service in a cluster, or (--local-webhooks, for development and tests) to a URL on this host.
import { API_GROUP, API_VERSION } from '../../api/k8s/index.js';
import type { KubeObject } from '../kube/types.js';
import { webhooks } from './registry.js';

export interface WebhookRegistration {
  target: WebhookTarget;
  /** Configurations are `<name>-validating` and `<name>-mutating`. */
  name: string;
  /** Only objects in this namespace go through the webhooks (an operator watching one namespace). */
  namespace?: string;
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
