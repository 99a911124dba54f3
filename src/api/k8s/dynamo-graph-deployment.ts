// DynamoGraphDeployment (dgd): a graph of components (frontend, workers, planner) deployed together.
import { z } from 'zod';
import { condition, envVar, GROUP_VERSION, objectMeta, quantity } from './common.js';
import { backendFramework, componentSpec, serviceReplicaStatus } from './dynamo-component.js';

export const pvcSpec = z.looseObject({
  name: z
    .string()
    .min(1, 'must not be empty')
    .describe('Name of the PersistentVolumeClaim, unique in the graph; volumeMounts refer to it.'),
  create: z
    .boolean()
    .optional()
    .describe(
      'True: the operator creates the claim (storageClass, size and volumeAccessMode are then required). False (the default): the claim exists already.',
    ),
  storageClass: z.string().optional().describe('StorageClass of the claim to create.'),
  size: quantity.optional().describe('Requested storage of the claim to create, e.g. 100Gi.'),
  volumeAccessMode: z
    .enum(['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'])
    .optional()
    .describe('Access mode of the claim to create.'),
});
export type PvcSpec = z.infer<typeof pvcSpec>;

/** Dynamo's restart request: a new `id` restarts the graph's pods. Kept, not acted on (the webhook warns). */
export const restartSpec = z.looseObject({
  id: z.string().min(1, 'must not be empty').describe('Any string: a new value asks for a restart.'),
  strategy: z
    .looseObject({
      type: z
        .enum(['Sequential', 'Parallel'])
        .optional()
        .describe('Restart the services one after another, or all at once.'),
      order: z
        .array(z.string())
        .optional()
        .describe('Service names, in the order a Sequential restart takes.'),
    })
    .optional()
    .describe('How the services are restarted.'),
});

export const dgdSpec = z.looseObject({
  services: z
    .record(z.string(), componentSpec)
    .describe(
      "The graph's components by name (Frontend, VllmDecodeWorker, ...). Each becomes a DynamoComponentDeployment named <graph>-<service lowercased>, then a Deployment and a Service.",
    ),
  pvcs: z
    .array(pvcSpec)
    .optional()
    .describe(
      'PersistentVolumeClaims the services may mount (volumeMounts), created by the operator when create is true.',
    ),
  envs: z
    .array(envVar)
    .optional()
    .describe("Environment variables of every service; a service's own envs of the same name win."),
  backendFramework: backendFramework.optional(),
  restart: restartSpec
    .optional()
    .describe(
      "In Dynamo, restarts the graph's pods when id changes. Kept, warned about and ignored by dynamo-ts.",
    ),
});
export type DgdSpec = z.infer<typeof dgdSpec>;

/** `state` as Dynamo writes it (`initializing` until the first reconcile has written one). */
export const DEPLOYMENT_STATES = ['initializing', 'pending', 'successful', 'failed'] as const;

export const dgdStatus = z.object({
  observedGeneration: z.int().optional().describe('metadata.generation of the spec this status describes.'),
  state: z
    .enum(DEPLOYMENT_STATES)
    .optional()
    .describe(
      'Summary: initializing until the first reconcile, then pending (services not ready yet), successful (all ready) or failed (the spec cannot be deployed).',
    ),
  conditions: z
    .array(condition)
    .optional()
    .describe('Ready: True when every service has its replicas ready; the message names those that are not.'),
  services: z
    .record(z.string(), serviceReplicaStatus)
    .optional()
    .describe('Replica counts of each service, by its name in spec.services.'),
});
export type DgdStatus = z.infer<typeof dgdStatus>;

export const dynamoGraphDeployment = z
  .object({
    apiVersion: z.literal(GROUP_VERSION),
    kind: z.literal('DynamoGraphDeployment'),
    metadata: objectMeta,
    spec: dgdSpec.describe('The components of the graph and what they share.'),
    status: dgdStatus.optional().describe('What the operator observed, written by it only.'),
  })
  .describe(
    'A graph of Dynamo components (frontend, workers, planner) deployed and scaled together. The operator makes one DynamoComponentDeployment per service.',
  );
export type DynamoGraphDeployment = z.infer<typeof dynamoGraphDeployment>;
