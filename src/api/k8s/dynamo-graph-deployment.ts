// DynamoGraphDeployment (dgd): a graph of components (frontend, workers, planner) deployed together.
import { z } from 'zod';
import { condition, envVar, GROUP_VERSION, objectMeta, quantity } from './common.js';
import { backendFramework, componentSpec, serviceReplicaStatus } from './dynamo-component.js';

export const pvcSpec = z.looseObject({
  name: z.string().min(1, 'must not be empty'),
  /** True: the operator creates the claim (storageClass, size and volumeAccessMode then required). */
  create: z.boolean().optional(),
  storageClass: z.string().optional(),
  size: quantity.optional(),
  volumeAccessMode: z.enum(['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod']).optional(),
});
export type PvcSpec = z.infer<typeof pvcSpec>;

/** Dynamo's restart request: a new `id` restarts the graph's pods. Kept, not acted on (the webhook warns). */
export const restartSpec = z.looseObject({
  id: z.string().min(1, 'must not be empty'),
  strategy: z
    .looseObject({
      type: z.enum(['Sequential', 'Parallel']).optional(),
      order: z.array(z.string()).optional(),
    })
    .optional(),
});

export const dgdSpec = z.looseObject({
  services: z.record(z.string(), componentSpec),
  pvcs: z.array(pvcSpec).optional(),
  envs: z.array(envVar).optional(),
  backendFramework: backendFramework.optional(),
  restart: restartSpec.optional(),
});
export type DgdSpec = z.infer<typeof dgdSpec>;

/** `state` as Dynamo writes it (`initializing` until the first reconcile has written one). */
export const DEPLOYMENT_STATES = ['initializing', 'pending', 'successful', 'failed'] as const;

export const dgdStatus = z.object({
  observedGeneration: z.int().optional(),
  state: z.enum(DEPLOYMENT_STATES).optional(),
  conditions: z.array(condition).optional(),
  services: z.record(z.string(), serviceReplicaStatus).optional(),
});
export type DgdStatus = z.infer<typeof dgdStatus>;

export const dynamoGraphDeployment = z.object({
  apiVersion: z.literal(GROUP_VERSION),
  kind: z.literal('DynamoGraphDeployment'),
  metadata: objectMeta,
  spec: dgdSpec,
  status: dgdStatus.optional(),
});
export type DynamoGraphDeployment = z.infer<typeof dynamoGraphDeployment>;
