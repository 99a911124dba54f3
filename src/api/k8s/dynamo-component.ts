// One component of a graph: Dynamo's DynamoComponentDeploymentSharedSpec (v1alpha1), field for field.
// Used as the value of DynamoGraphDeployment `spec.services` and as the spec of a DynamoComponentDeployment.
// Objects are loose: a field we do not know is kept (and the webhook warns about it), not dropped. Fields
// Dynamo has and dynamo-ts does not act on are typed (so a wrong type is refused with its path) and listed
// in IGNORED_COMPONENT_FIELDS (so the webhook warns).
import { z } from 'zod';
import type { DisaggregationMode } from '../disagg.js';
import { envVar, preserved, probe, quantity, stringMap } from './common.js';

/**
 * Dynamo's component types (its consts: ComponentType*). A free string in Dynamo's v1alpha1 CRD; an enum
 * here so that a typo is refused with the list. `default` (or no componentType) is a plain component:
 * the image's own command, no role; `epp` is admitted but not run (see notImplemented).
 */
export const COMPONENT_TYPES = [
  'frontend',
  'worker',
  'prefill',
  'decode',
  'planner',
  'epp',
  'default',
] as const;
export const componentType = z.enum(COMPONENT_TYPES);
export type ComponentType = z.infer<typeof componentType>;

/** A service's type; `default` when it names none (Dynamo's BaseComponentDefaults). */
export const componentTypeOf = (spec: { componentType?: ComponentType }): ComponentType =>
  spec.componentType ?? 'default';

/** Types dynamo-ts admits but has no process for: their Deployment is kept at 0 replicas. */
export const NOT_IMPLEMENTED_TYPES: Readonly<Partial<Record<ComponentType, string>>> = {
  epp: 'the gateway endpoint picker (componentType epp) is not implemented by dynamo-ts: kept at 0 replicas',
};

/** Why a component gets no pods, or undefined when it runs. */
export const notImplemented = (spec: { componentType?: ComponentType }): string | undefined =>
  spec.componentType === undefined ? undefined : NOT_IMPLEMENTED_TYPES[spec.componentType];

export const BACKEND_FRAMEWORKS = ['onnx', 'mocker', 'vllm', 'sglang', 'trtllm'] as const;
export const backendFramework = z.enum(BACKEND_FRAMEWORKS);

const resourceItem = z.looseObject({
  cpu: quantity.optional(),
  memory: quantity.optional(),
  gpu: quantity.optional(),
  /** The extended resource that `gpu` counts; `nvidia.com/gpu` when unset. */
  gpuType: z.string().min(1, 'must not be empty').optional(),
  /** Further resources by name (`ephemeral-storage`, `rdma/ib`, ...), passed to the container as they are. */
  custom: z.record(z.string(), quantity).optional(),
});

export const resources = z.looseObject({
  requests: resourceItem.optional(),
  limits: resourceItem.optional(),
  /** corev1.ResourceClaim: dynamic resource allocation claims of the main container. */
  claims: z
    .array(z.looseObject({ name: z.string().min(1, 'must not be empty'), request: z.string().optional() }))
    .optional(),
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
  /** Optional as in Dynamo: a service without one is a plain component (`default`). */
  componentType: componentType.optional(),
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
  modelRef: z
    .looseObject({ name: z.string().min(1, 'must not be empty'), revision: z.string().optional() })
    .optional(),
  annotations: stringMap.optional(),
  labels: stringMap.optional(),
  // Dynamo's fields that dynamo-ts keeps but does not act on (IGNORED_COMPONENT_FIELDS says why).
  /** Deprecated in Dynamo: the Dynamo namespace is derived from the graph's namespace and name. */
  dynamoNamespace: z.string().optional(),
  globalDynamoNamespace: z.boolean().optional(),
  multinode: z.looseObject({ nodeCount: z.int().min(2, 'must be at least 2') }).optional(),
  checkpoint: z
    .looseObject({
      enabled: z.boolean().optional(),
      mode: z.enum(['Auto', 'Manual']).optional(),
      checkpointRef: z.string().optional(),
      identity: preserved.optional(),
    })
    .optional(),
  eppConfig: z.looseObject({ configMapRef: preserved.optional(), config: preserved.optional() }).optional(),
  /** Deprecated and ignored in Dynamo too. */
  autoscaling: preserved.optional(),
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

/**
 * Fields of Dynamo's v1alpha1 that dynamo-ts accepts and keeps but does not act on: the webhook warns,
 * naming the field, whenever one is set to anything but its Go zero value.
 */
export const IGNORED_COMPONENT_FIELDS: Readonly<Record<string, string>> = {
  dynamoNamespace: 'deprecated and ignored: the Dynamo namespace is derived from the graph',
  autoscaling: 'deprecated and ignored: use scalingAdapter with an HPA or KEDA instead',
  globalDynamoNamespace: 'not supported by dynamo-ts; ignored (the Dynamo namespace is per graph)',
  multinode: 'not supported by dynamo-ts; ignored (each replica runs on one node)',
  checkpoint: 'not supported by dynamo-ts; ignored',
  eppConfig: 'not supported by dynamo-ts; ignored (no endpoint picker)',
};
