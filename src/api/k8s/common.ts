// Building blocks shared by the nvidia.com/v1alpha1 schemas: Kubernetes quantities, env vars, probes,
// object metadata, conditions. Field names follow Kubernetes and Dynamo's v1alpha1 so manifests written
// for Dynamo validate here. Free-form parts of Kubernetes types (probes, extraPodSpec) are typed where we
// read them and preserved otherwise (the CRD generator marks them x-kubernetes-preserve-unknown-fields).
import { z } from 'zod';

export const API_GROUP = 'nvidia.com';
export const API_VERSION = 'v1alpha1';
export const GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;

// Kubernetes' resource.Quantity grammar (the same pattern controller-gen writes into CRDs).
export const QUANTITY_PATTERN =
  /^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;

/** A resource quantity: `"500m"`, `"8Gi"`, or an integer. Marked int-or-string in the CRDs. */
export const quantity = z
  .union([
    z.int().min(0, 'must not be negative'),
    z.string().regex(QUANTITY_PATTERN, 'must be a Kubernetes quantity such as "500m", "2", "8Gi"'),
  ])
  .meta({ 'x-kubernetes-int-or-string': true });
export type Quantity = z.infer<typeof quantity>;

/** DNS-1123 label: what Kubernetes accepts as the name of a Service, a label value's strict form. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Anything Kubernetes defines that we pass through untouched (its own API server validates it). */
export const preserved = z
  .record(z.string(), z.unknown())
  .meta({ 'x-kubernetes-preserve-unknown-fields': true });

export const envVar = z.looseObject({
  name: z.string().min(1, 'env var name must not be empty').describe('Name of the environment variable.'),
  value: z.string().optional().describe('Literal value of the variable; empty when unset.'),
  valueFrom: preserved
    .optional()
    .describe(
      'Where the value comes from instead (corev1.EnvVarSource: a Secret or ConfigMap key, a pod field, a resource); passed to the pod as written.',
    ),
});
export type EnvVar = z.infer<typeof envVar>;

const intOrString = z.union([z.int(), z.string()]).meta({ 'x-kubernetes-int-or-string': true });

/** corev1.Probe: the handler and timings we read; any other field is kept. */
export const probe = z
  .looseObject({
    httpGet: z
      .looseObject({
        path: z.string().optional().describe('HTTP path to request, e.g. /health.'),
        port: intOrString.describe('Container port to probe, by number or by port name.'),
        scheme: z.string().optional().describe('HTTP or HTTPS; HTTP when unset.'),
      })
      .optional()
      .describe('Probe with an HTTP GET: a status from 200 to 399 counts as success.'),
    tcpSocket: z
      .looseObject({ port: intOrString.describe('Container port to connect to, by number or by port name.') })
      .optional()
      .describe('Probe by opening a TCP connection.'),
    exec: z
      .looseObject({
        command: z
          .array(z.string())
          .optional()
          .describe('Command run in the container (no shell); exit status 0 counts as success.'),
      })
      .optional()
      .describe('Probe by running a command in the container.'),
    grpc: z
      .looseObject({ port: z.int().describe('Port of the gRPC health service.') })
      .optional()
      .describe('Probe with the standard gRPC health check.'),
    initialDelaySeconds: z
      .int()
      .min(0)
      .optional()
      .describe('Seconds after the container starts before the first probe.'),
    periodSeconds: z.int().min(1).optional().describe('Seconds between two probes.'),
    timeoutSeconds: z.int().min(1).optional().describe('Seconds after which one probe counts as failed.'),
    successThreshold: z
      .int()
      .min(1)
      .optional()
      .describe('Consecutive successes after a failure before the probe counts as passing again.'),
    failureThreshold: z
      .int()
      .min(1)
      .optional()
      .describe('Consecutive failures before the probe counts as failing.'),
  })
  .meta({ 'x-kubernetes-preserve-unknown-fields': true });
export type Probe = z.infer<typeof probe>;

export const stringMap = z.record(z.string(), z.string());

/** metav1.Condition. */
export const condition = z.object({
  type: z.string().describe('What the condition is about, e.g. Ready.'),
  status: z
    .enum(['True', 'False', 'Unknown'])
    .describe('Whether the condition holds: True, False or Unknown.'),
  reason: z.string().optional().describe('A CamelCase word for why the status is what it is.'),
  message: z.string().optional().describe('A sentence for humans with the details.'),
  lastTransitionTime: z
    .string()
    .optional()
    .describe('When the status last changed (RFC 3339); a condition that keeps its status keeps its time.'),
  observedGeneration: z
    .int()
    .optional()
    .describe('metadata.generation of the object when the condition was last set.'),
});
export type Condition = z.infer<typeof condition>;

/** The part of metav1.ObjectMeta the operator reads. The CRD leaves metadata to the API server. */
export const objectMeta = z.looseObject({
  name: z.string().optional(),
  generateName: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.int().optional(),
  labels: stringMap.optional(),
  annotations: stringMap.optional(),
  finalizers: z.array(z.string()).optional(),
  deletionTimestamp: z.string().optional(),
  ownerReferences: z.array(z.looseObject({ uid: z.string(), kind: z.string(), name: z.string() })).optional(),
});
export type ObjectMeta = z.infer<typeof objectMeta>;

/** Formats a zod issue path the way Kubernetes names fields: `spec.services.Frontend.envs[0].name`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** Every issue of a failed parse, one `path: message` each. */
export function describeZodError(error: z.ZodError, prefix: readonly PropertyKey[] = []): string[] {
  return error.issues.map((issue) => {
    const path = fieldPath([...prefix, ...issue.path]);
    return path === '' ? issue.message : `${path}: ${issue.message}`;
  });
}
