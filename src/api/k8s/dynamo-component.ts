// One component of a graph: Dynamo's DynamoComponentDeploymentSharedSpec, the fields dynamo-ts supports.
// Used as the value of DynamoGraphDeployment `spec.services` and as the spec of a DynamoComponentDeployment.
// Objects are loose: a field we do not support is kept (and the webhook warns about it), not dropped.
import { z } from 'zod';
import type { DisaggregationMode } from '../disagg.js';
import { envVar, probe, quantity, stringMap } from './common.js';

export const COMPONENT_TYPES = ['frontend', 'worker', 'prefill', 'decode', 'planner'] as const;
export const componentType = z.enum(COMPONENT_TYPES);
export type ComponentType = z.infer<typeof componentType>;

export const BACKEND_FRAMEWORKS = ['onnx', 'mocker', 'vllm', 'sglang', 'trtllm'] as const;
export const backendFramework = z.enum(BACKEND_FRAMEWORKS);

const resourceItem = z.looseObject({
  cpu: quantity.optional(),
  memory: quantity.optional(),
  gpu: quantity.optional(),
});

export const resources = z.looseObject({
  requests: resourceItem.optional(),
  limits: resourceItem.optional(),
});
export type Resources = z.infer<typeof resources>;

export const ingressSpec = z.looseObject({
  enabled: z.boolean().optional(),
  host: z.string().optional(),
  ingressControllerClassName: z.string().optional(),
  annotations: stringMap.optional(),
  labels: stringMap.optional(),
  tls: z.looseObject({ secretName: z.string().optional() }).optional(),
});
export type IngressSpec = z.infer<typeof ingressSpec>;

export const volumeMount = z.looseObject({
  /** The PVC's name (one of `spec.pvcs`, or an existing claim). */
  name: z.string().min(1, 'must not be empty'),
  mountPoint: z.string().optional(),
  useAsCompilationCache: z.boolean().optional(),
});

export const sharedMemory = z.looseObject({
  disabled: z.boolean().optional(),
  size: quantity.optional(),
});

export const mainContainer = z
  .looseObject({
    image: z.string().optional(),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
    workingDir: z.string().optional(),
    env: z.array(envVar).optional(),
  })
  .meta({ 'x-kubernetes-preserve-unknown-fields': true });

/** A corev1.PodSpec fragment merged into the pod, plus Dynamo's `mainContainer`. */
export const extraPodSpec = z
  .looseObject({ mainContainer: mainContainer.optional() })
  .meta({ 'x-kubernetes-preserve-unknown-fields': true });
export type ExtraPodSpec = z.infer<typeof extraPodSpec>;

export const componentSpec = z.looseObject({
  componentType: componentType,
  /**
   * Dynamo's sub-role of a component: a free string in its v1alpha1 (an enum would refuse manifests
   * Dynamo accepts). `prefill`/`decode` on a worker set its role; any other value is warned about.
   */
  subComponentType: z.string().optional(),
  replicas: z.int().min(0, 'must not be negative').optional(),
  resources: resources.optional(),
  envs: z.array(envVar).optional(),
  envFromSecret: z.string().optional(),
  extraPodSpec: extraPodSpec.optional(),
  extraPodMetadata: z
    .looseObject({ annotations: stringMap.optional(), labels: stringMap.optional() })
    .optional(),
  ingress: ingressSpec.optional(),
  livenessProbe: probe.optional(),
  readinessProbe: probe.optional(),
  scalingAdapter: z.looseObject({ enabled: z.boolean().optional() }).optional(),
  sharedMemory: sharedMemory.optional(),
  volumeMounts: z.array(volumeMount).optional(),
  /** The DynamoModel (by name, same namespace) this component serves: its pods count as its endpoints. */
  modelRef: z.looseObject({ name: z.string().min(1) }).optional(),
  annotations: stringMap.optional(),
  labels: stringMap.optional(),
});
export type ComponentSpec = z.infer<typeof componentSpec>;

/** Dynamo's per-service status: replica counts taken from the component's Deployment. */
export const serviceReplicaStatus = z.object({
  componentKind: z.string(),
  componentName: z.string(),
  replicas: z.int(),
  updatedReplicas: z.int().optional(),
  readyReplicas: z.int().optional(),
  availableReplicas: z.int().optional(),
});
export type ServiceReplicaStatus = z.infer<typeof serviceReplicaStatus>;

/** The subComponentType values dynamo-ts acts on (Dynamo's disaggregated examples use these two). */
export const SUB_COMPONENT_TYPES = ['prefill', 'decode'] as const;

/**
 * The role (`dynamo worker --disaggregation-mode`, DESIGN §12) of a service's worker processes, from
 * `componentType: prefill|decode` or Dynamo's `componentType: worker` + `subComponentType: prefill|decode`;
 * `agg` for any other worker, undefined for a service that runs no worker (frontend, planner).
 * A componentType prefill|decode wins over a contradicting subComponentType: the webhook refuses that pair.
 */
export function workerRole(
  spec: Pick<ComponentSpec, 'componentType' | 'subComponentType'>,
): DisaggregationMode | undefined {
  switch (spec.componentType) {
    case 'prefill':
    case 'decode':
      return spec.componentType;
    case 'worker':
      return spec.subComponentType === 'prefill' || spec.subComponentType === 'decode'
        ? spec.subComponentType
        : 'agg';
    default:
      return undefined;
  }
}

// Fields of Dynamo's v1alpha1 that dynamo-ts accepts but does not act on: the webhook warns about them.
// (subComponentType is typed and checked by value: see workerRole and the DGD validator.)
export const UNSUPPORTED_COMPONENT_FIELDS = ['multinode', 'globalDynamoNamespace'] as const;
export const DEPRECATED_COMPONENT_FIELDS: Readonly<Record<string, string>> = {
  autoscaling: 'deprecated: use scalingAdapter with an HPA or KEDA instead',
  dynamoNamespace: 'deprecated and ignored: the Dynamo namespace is derived from the graph',
};
