// DynamoGraphDeployment nvidia.com/v1beta1: Dynamo's current API, served beside v1alpha1 (the storage
// version) and converted by the operator's webhook (conversion.ts). Field names are Dynamo's v1beta1:
// `spec.components[]` keyed by `name`, `type` instead of componentType/subComponentType, and a
// `podTemplate` whose container named `main` carries what v1alpha1 keeps in resources, envs, probes and
// extraPodSpec.mainContainer. Only the fields dynamo-ts models are typed; any other is kept, as in v1alpha1.
import { z } from 'zod';
import { API_GROUP, condition, envVar, objectMeta, preserved, probe, quantity, stringMap } from './common.js';
import { backendFramework, componentSpec, serviceReplicaStatus } from './dynamo-component.js';
import { DEPLOYMENT_STATES, restartSpec } from './dynamo-graph-deployment.js';

export const API_VERSION_V1BETA1 = 'v1beta1';
export const GROUP_VERSION_V1BETA1 = `${API_GROUP}/${API_VERSION_V1BETA1}`;

/** The container of a podTemplate that the operator fills in (Dynamo's MainContainerName). */
export const MAIN_CONTAINER = 'main';

/** Dynamo's v1beta1 component types: prefill and decode are types of their own, `default` is no type. */
export const COMPONENT_TYPES_V1BETA1 = ['frontend', 'worker', 'prefill', 'decode', 'planner', 'epp'] as const;

/** Dynamo's pattern for a component name (a DNS label in either case). */
export const COMPONENT_NAME = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;

const resourceList = z
  .record(z.string(), quantity)
  .describe('Quantities by resource name: cpu, memory, nvidia.com/gpu, ephemeral-storage, ...');

export const containerV1beta1 = z
  .looseObject({
    name: z
      .string()
      .min(1, 'must not be empty')
      .describe('Name of the container: main is the one the operator fills in; any other is a sidecar.'),
    image: z
      .string()
      .optional()
      .describe("Container image; for main, the operator's --default-image when unset."),
    command: z.array(z.string()).optional().describe("Entrypoint; the image's own when unset."),
    args: z
      .array(z.string())
      .optional()
      .describe(
        'Arguments; when neither command nor args is set on main, a frontend gets `frontend` and a worker, prefill or decode `worker`.',
      ),
    workingDir: z.string().optional().describe('Working directory of the container.'),
    env: z
      .array(envVar)
      .optional()
      .describe("Environment variables; on main they win over the graph's spec.env of the same name."),
    envFrom: z
      .array(preserved)
      .optional()
      .describe('corev1.EnvFromSource list: Secrets or ConfigMaps whose every key becomes a variable.'),
    resources: z
      .looseObject({
        requests: resourceList.optional().describe('What the container is guaranteed.'),
        limits: resourceList.optional().describe('The most the container may use.'),
        claims: componentSpec.shape.resources.unwrap().shape.claims,
      })
      .optional()
      .describe('corev1.ResourceRequirements of the container.'),
    livenessProbe: probe
      .optional()
      .describe('corev1.Probe; on main it replaces the default (GET /live; none for a plain component).'),
    readinessProbe: probe
      .optional()
      .describe('corev1.Probe; on main it replaces the default (GET /health; none for a plain component).'),
  })
  .meta({ 'x-kubernetes-preserve-unknown-fields': true });
export type ContainerV1beta1 = z.infer<typeof containerV1beta1>;

export const podTemplateV1beta1 = z
  .looseObject({
    metadata: z
      .looseObject({
        labels: stringMap.optional().describe("Labels put on each pod; the operator's own labels win."),
        annotations: stringMap.optional().describe('Annotations put on each pod.'),
      })
      .optional()
      .describe("Labels and annotations for the component's pods."),
    spec: z
      .looseObject({
        containers: z
          .array(containerV1beta1)
          .optional()
          .describe(
            "Containers of the pod: the one named main receives the operator's defaults; the others are sidecars, kept as written.",
          ),
      })
      .meta({ 'x-kubernetes-preserve-unknown-fields': true })
      .optional()
      .describe('A corev1.PodSpec merged into the generated pod (volumes, tolerations, nodeSelector, ...).'),
  })
  .meta({ 'x-kubernetes-preserve-unknown-fields': true });
export type PodTemplateV1beta1 = z.infer<typeof podTemplateV1beta1>;

const shape = componentSpec.shape;

export const componentV1beta1 = z.looseObject({
  name: z
    .string()
    .max(63, 'must be at most 63 characters')
    .regex(COMPONENT_NAME, 'must be letters, digits and "-", starting and ending with a letter or digit')
    .describe(
      'Name of the component, unique in the graph (the key of spec.services in v1alpha1). It becomes the DynamoComponentDeployment <graph>-<name lowercased>.',
    ),
  type: z
    .enum(COMPONENT_TYPES_V1BETA1)
    .optional()
    .describe(
      "Role of the component: frontend, worker, prefill, decode, planner or epp. Without one, a plain component that runs the image's own command. epp runs `dynamo epp`, the endpoint picker of the graph's InferencePool.",
    ),
  replicas: shape.replicas,
  podTemplate: podTemplateV1beta1
    .optional()
    .describe(
      'corev1.PodTemplateSpec of the component: the container named main carries image, command, env, resources and probes; anything else is merged into the pod.',
    ),
  sharedMemorySize: quantity
    .optional()
    .describe('Size of the memory-backed volume mounted at /dev/shm; "0" mounts none.'),
  modelRef: shape.modelRef,
  scalingAdapter: z
    .looseObject({})
    .optional()
    .describe(
      'Present (even as {}): a DynamoGraphDeploymentScalingAdapter owns replicas (HPA, KEDA, kubectl scale).',
    ),
  globalDynamoNamespace: shape.globalDynamoNamespace,
  multinode: shape.multinode,
  eppConfig: shape.eppConfig,
  experimental: z
    .looseObject({ checkpoint: shape.checkpoint })
    .optional()
    .describe('Preview features of Dynamo; dynamo-ts keeps them and acts on none.'),
});
export type ComponentV1beta1 = z.infer<typeof componentV1beta1>;

export const dgdSpecV1beta1 = z.looseObject({
  components: z
    .array(componentV1beta1)
    .describe(
      'The components of the graph (frontend, workers, planner), a list keyed by name. Each becomes a DynamoComponentDeployment, then a Deployment and a Service.',
    ),
  env: z
    .array(envVar)
    .optional()
    .describe("Environment variables of every component; a main container's own env of the same name wins."),
  backendFramework: backendFramework.optional(),
  restart: restartSpec
    .optional()
    .describe(
      "In Dynamo, restarts the graph's pods when id changes. Kept, warned about and ignored by dynamo-ts.",
    ),
});
export type DgdSpecV1beta1 = z.infer<typeof dgdSpecV1beta1>;

export const dgdStatusV1beta1 = z.object({
  observedGeneration: z.int().optional().describe('metadata.generation of the spec this status describes.'),
  state: z
    .enum(DEPLOYMENT_STATES)
    .optional()
    .describe('Summary: initializing, pending (components not ready yet), successful or failed.'),
  conditions: z
    .array(condition)
    .optional()
    .describe('Ready: True when every component has its replicas ready.'),
  components: z
    .record(z.string(), serviceReplicaStatus)
    .optional()
    .describe('Replica counts of each component, by its name.'),
});

export const dynamoGraphDeploymentV1beta1 = z
  .object({
    apiVersion: z.literal(GROUP_VERSION_V1BETA1),
    kind: z.literal('DynamoGraphDeployment'),
    metadata: objectMeta,
    spec: dgdSpecV1beta1.describe('The components of the graph and what they share.'),
    status: dgdStatusV1beta1.optional().describe('What the operator observed, written by it only.'),
  })
  .describe(
    'A graph of Dynamo components (frontend, workers, planner) deployed and scaled together, in the v1beta1 form. Stored as v1alpha1; the operator converts.',
  );
export type DynamoGraphDeploymentV1beta1 = z.infer<typeof dynamoGraphDeploymentV1beta1>;

// DynamoComponentDeployment nvidia.com/v1beta1: one component (the DGD's list entry) plus backendFramework.
export const dcdSpecV1beta1 = componentV1beta1.extend({
  name: componentV1beta1.shape.name
    .optional()
    .describe(
      "The component's name in its graph (serviceName in v1alpha1); the object's own name when unset.",
    ),
  backendFramework: backendFramework.optional(),
});

export const dcdStatusV1beta1 = z.object({
  observedGeneration: z.int().optional().describe('metadata.generation of the spec this status describes.'),
  state: z
    .enum(['pending', 'successful', 'failed'])
    .optional()
    .describe("dynamo-ts's own summary: pending (replicas not ready yet), successful (ready) or failed."),
  conditions: z
    .array(condition)
    .optional()
    .describe('Ready: True when the Deployment has all its replicas updated and ready.'),
  podSelector: stringMap.optional().describe("Labels that select the component's pods (dynamo-ts's own)."),
  component: serviceReplicaStatus.optional().describe("Replica counts of the component's Deployment."),
});

export const dynamoComponentDeploymentV1beta1 = z
  .object({
    apiVersion: z.literal(GROUP_VERSION_V1BETA1),
    kind: z.literal('DynamoComponentDeployment'),
    metadata: objectMeta,
    spec: dcdSpecV1beta1.describe('The component, in the v1beta1 form (podTemplate, type).'),
    status: dcdStatusV1beta1.optional().describe('What the operator observed, written by it only.'),
  })
  .describe(
    'One component of a graph, in the v1beta1 form, made by the operator from a DynamoGraphDeployment component (or by hand). Stored as v1alpha1; the operator converts.',
  );
