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
 * the image's own command, no role; `epp` runs `dynamo epp`, the gateway's endpoint picker.
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

export const BACKEND_FRAMEWORKS = ['onnx', 'mocker', 'vllm', 'sglang', 'trtllm'] as const;
export const backendFramework = z
  .enum(BACKEND_FRAMEWORKS)
  .describe(
    "Inference engine of the workers. onnx and mocker (dynamo-ts's own engines) set the workers' DYN_ENGINE; vllm, sglang and trtllm (Dynamo's values) are accepted and name no engine of ours.",
  );

const resourceItem = z.looseObject({
  cpu: quantity.optional().describe('CPU, as a Kubernetes quantity ("500m", "2").'),
  memory: quantity.optional().describe('Memory, as a Kubernetes quantity ("512Mi", "8Gi").'),
  gpu: quantity
    .optional()
    .describe('Number of GPUs, set on the container as the extended resource named by gpuType.'),
  gpuType: z
    .string()
    .min(1, 'must not be empty')
    .optional()
    .describe('The extended resource that gpu counts, e.g. gpu.intel.com/xe; nvidia.com/gpu when unset.'),
  custom: z
    .record(z.string(), quantity)
    .optional()
    .describe(
      'Further resources by their Kubernetes name (ephemeral-storage, rdma/ib, ...) with a quantity each, passed to the container as they are.',
    ),
});

export const resources = z.looseObject({
  requests: resourceItem
    .optional()
    .describe('What the main container is guaranteed: the scheduler places the pod by these.'),
  limits: resourceItem.optional().describe('The most the main container may use.'),
  claims: z
    .array(
      z.looseObject({
        name: z
          .string()
          .min(1, 'must not be empty')
          .describe("Name of an entry of the pod's resourceClaims (set them in extraPodSpec)."),
        request: z.string().optional().describe('One request of that claim; the whole claim when unset.'),
      }),
    )
    .optional()
    .describe('Dynamic resource allocation claims of the main container (corev1.ResourceClaim).'),
});
export type Resources = z.infer<typeof resources>;

export const ingressSpec = z.looseObject({
  enabled: z
    .boolean()
    .optional()
    .describe('Make an Ingress for this component. dynamo-ts makes one for a frontend with a host only.'),
  host: z.string().optional().describe("Host name the Ingress routes to the frontend's HTTP port."),
  ingressControllerClassName: z
    .string()
    .optional()
    .describe("ingressClassName of the Ingress, e.g. nginx; the cluster's default class when unset."),
  annotations: stringMap.optional().describe('Annotations put on the Ingress.'),
  labels: stringMap.optional().describe("Labels put on the Ingress, besides the operator's own."),
  tls: z
    .looseObject({
      secretName: z
        .string()
        .optional()
        .describe('Secret (kubernetes.io/tls) holding the certificate and key for host.'),
    })
    .optional()
    .describe('TLS for the Ingress: without a secretName, the Ingress serves plain HTTP.'),
});
export type IngressSpec = z.infer<typeof ingressSpec>;

export const volumeMount = z.looseObject({
  name: z
    .string()
    .min(1, 'must not be empty')
    .describe(
      "Name of the PersistentVolumeClaim: one of the graph's spec.pvcs, or a claim that exists already.",
    ),
  mountPoint: z
    .string()
    .optional()
    .describe('Path in the main container; required unless useAsCompilationCache is true.'),
  useAsCompilationCache: z
    .boolean()
    .optional()
    .describe(
      "Use the volume as the engine's compilation cache: mountPoint then defaults to /root/.cache. dynamo-ts sets no backend-specific cache variables.",
    ),
});

export const sharedMemory = z.looseObject({
  disabled: z.boolean().optional().describe('Mount no memory-backed /dev/shm.'),
  size: quantity
    .optional()
    .describe(
      'Size limit of the memory-backed volume mounted at /dev/shm; required unless disabled (dynamo-ts mounts none without it).',
    ),
});

export const mainContainer = z
  .looseObject({
    image: z
      .string()
      .optional()
      .describe("Container image of the component; the operator's --default-image when unset."),
    command: z.array(z.string()).optional().describe("Entrypoint; the image's own when unset."),
    args: z
      .array(z.string())
      .optional()
      .describe(
        'Arguments; when neither command nor args is set, a frontend gets `frontend` and a worker, prefill or decode `worker`.',
      ),
    workingDir: z.string().optional().describe('Working directory of the container.'),
    env: z.array(envVar).optional().describe('Environment variables; they win over envs of the same name.'),
  })
  .meta({ 'x-kubernetes-preserve-unknown-fields': true });

/** A corev1.PodSpec fragment merged into the pod, plus Dynamo's `mainContainer`. */
export const extraPodSpec = z
  .looseObject({
    mainContainer: mainContainer
      .optional()
      .describe(
        "A corev1.Container merged into the component's container (named main): any container field may be set.",
      ),
  })
  .meta({ 'x-kubernetes-preserve-unknown-fields': true });
export type ExtraPodSpec = z.infer<typeof extraPodSpec>;

export const componentSpec = z.looseObject({
  componentType: componentType
    .optional()
    .describe(
      "Role of the component: frontend, worker, prefill, decode, planner, epp or default. Without one (or default), a plain component that runs the image's own command. epp runs `dynamo epp`, the endpoint picker of the graph's InferencePool (Gateway API Inference Extension).",
    ),
  // A free string, as in Dynamo's v1alpha1: an enum would refuse manifests Dynamo accepts.
  subComponentType: z
    .string()
    .optional()
    .describe(
      'Sub-role of the component. On a worker, prefill or decode sets its disaggregation role; any other value, or one on a frontend or planner, is kept and warned about.',
    ),
  replicas: z
    .int()
    .min(0, 'must not be negative')
    .optional()
    .describe(
      "Number of pods; 1 when unset. While scalingAdapter is enabled, only the operator writes it, from the adapter's spec.replicas.",
    ),
  resources: resources.optional().describe('CPU, memory, GPUs and other resources of the main container.'),
  envs: z
    .array(envVar)
    .optional()
    .describe(
      "Environment variables of the main container; they win over the graph's spec.envs of the same name.",
    ),
  envFromSecret: z
    .string()
    .optional()
    .describe('Secret whose every key becomes an environment variable of the main container (envFrom).'),
  extraPodSpec: extraPodSpec
    .optional()
    .describe(
      'A corev1.PodSpec fragment merged into the generated pod (volumes, tolerations, nodeSelector, more containers, ...), plus mainContainer.',
    ),
  extraPodMetadata: z
    .looseObject({
      annotations: stringMap.optional().describe('Annotations put on each pod.'),
      labels: stringMap
        .optional()
        .describe("Labels put on each pod; the operator's own labels win over them."),
    })
    .optional()
    .describe("Labels and annotations for the component's pods."),
  ingress: ingressSpec
    .optional()
    .describe(
      'Expose the component outside the cluster through an Ingress. dynamo-ts acts on it for frontends only and makes no VirtualService.',
    ),
  livenessProbe: probe
    .optional()
    .describe(
      'corev1.Probe that restarts the container when it fails; replaces the default (GET /live; none for a plain component).',
    ),
  readinessProbe: probe
    .optional()
    .describe(
      'corev1.Probe that keeps the pod out of its Service while it fails; replaces the default (GET /health; none for a plain component).',
    ),
  scalingAdapter: z
    .looseObject({
      enabled: z
        .boolean()
        .optional()
        .describe(
          'When true, the operator creates a DynamoGraphDeploymentScalingAdapter for the service, and replicas are set through it (HPA, KEDA, kubectl scale).',
        ),
    })
    .optional()
    .describe("Whether the service's replicas are owned by a scaling adapter."),
  sharedMemory: sharedMemory.optional().describe('The memory-backed volume mounted at /dev/shm.'),
  volumeMounts: z
    .array(volumeMount)
    .optional()
    .describe('PersistentVolumeClaims mounted into the main container.'),
  modelRef: z
    .looseObject({
      name: z
        .string()
        .min(1, 'must not be empty')
        .describe('Name of the DynamoModel, in the same namespace.'),
      revision: z.string().optional().describe('Model revision; kept, not acted on by dynamo-ts.'),
    })
    .optional()
    .describe(
      "The DynamoModel this component serves: its pods are labelled with the model's hash and listed in that model's status.endpoints.",
    ),
  annotations: stringMap
    .optional()
    .describe('Annotations put on the Deployment the operator makes for the component.'),
  labels: stringMap
    .optional()
    .describe("Labels put on the Deployment the operator makes for the component; the operator's own win."),
  // Dynamo's fields that dynamo-ts keeps but does not act on (IGNORED_COMPONENT_FIELDS says why).
  dynamoNamespace: z
    .string()
    .optional()
    .describe(
      'Deprecated, in Dynamo too. Kept, warned about and ignored: the Dynamo namespace is <Kubernetes namespace>-<graph name>.',
    ),
  globalDynamoNamespace: z
    .boolean()
    .optional()
    .describe(
      'In Dynamo, puts the component in the shared global Dynamo namespace. Kept, warned about and ignored by dynamo-ts: the Dynamo namespace is per graph.',
    ),
  multinode: z
    .looseObject({
      nodeCount: z
        .int()
        .min(2, 'must be at least 2')
        .describe('Number of nodes one replica spans (at least 2).'),
    })
    .optional()
    .describe(
      'In Dynamo, spreads each replica over several nodes. Kept, warned about and ignored by dynamo-ts: each replica runs on one node.',
    ),
  checkpoint: z
    .looseObject({
      enabled: z.boolean().optional().describe('Restore pods from a checkpoint.'),
      mode: z
        .enum(['Auto', 'Manual'])
        .optional()
        .describe('Auto: the controller creates the checkpoint; Manual: the user does.'),
      checkpointRef: z.string().optional().describe('Name of an existing DynamoCheckpoint to restore from.'),
      identity: preserved
        .optional()
        .describe('What identifies the checkpoint (model, backend, ...) when no checkpointRef is given.'),
    })
    .optional()
    .describe(
      'In Dynamo, container checkpoint/restore for faster cold starts. Kept, warned about and ignored by dynamo-ts.',
    ),
  eppConfig: z
    .looseObject({
      configMapRef: preserved
        .optional()
        .describe("ConfigMap key holding the endpoint picker's configuration (YAML)."),
      config: preserved.optional().describe("The endpoint picker's configuration, inline."),
    })
    .optional()
    .describe(
      "In Dynamo, the endpoint picker's plugin configuration (Inference Extension EndpointPickerConfig). Kept, warned about and ignored by dynamo-ts, whose `dynamo epp` takes flags (args, envs).",
    ),
  autoscaling: preserved
    .optional()
    .describe(
      'Deprecated and ignored, in Dynamo too: use scalingAdapter with an HPA or KEDA. Kept and warned about.',
    ),
});
export type ComponentSpec = z.infer<typeof componentSpec>;

/** Dynamo's per-service status: replica counts taken from the component's Deployment. */
export const serviceReplicaStatus = z.object({
  componentKind: z.string().describe('Kind of the workload running the service: Deployment in dynamo-ts.'),
  componentName: z.string().describe('Name of that workload.'),
  replicas: z.int().describe('Pods the workload has.'),
  updatedReplicas: z.int().optional().describe('Pods running the current pod template.'),
  readyReplicas: z.int().optional().describe('Pods whose readiness probe passes.'),
  availableReplicas: z.int().optional().describe("Pods ready for at least the workload's minReadySeconds."),
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
  eppConfig: 'not supported by dynamo-ts; ignored (dynamo epp is configured by its flags: args or envs)',
};
