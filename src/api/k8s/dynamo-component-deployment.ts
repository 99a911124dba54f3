// DynamoComponentDeployment (dcd): one component of a graph, made by the operator from a DGD service
// (one per service) and turned into a Deployment + Service (+ Ingress).
import { z } from 'zod';
import { condition, envVar, GROUP_VERSION, objectMeta } from './common.js';
import { backendFramework, componentSpec, serviceReplicaStatus } from './dynamo-component.js';

export const dcdSpec = componentSpec.extend({
  /** The service's name in its graph (`spec.services` key). */
  serviceName: z.string().min(1),
  /** The Dynamo namespace (DYN_NAMESPACE) its processes register under. */
  dynamoNamespace: z.string().regex(/^[a-z0-9_-]+$/, 'must match ^[a-z0-9_-]+$'),
  backendFramework: backendFramework.optional(),
  /** Graph-wide env, applied before the component's own `envs`. */
  graphEnvs: z.array(envVar).optional(),
});
export type DcdSpec = z.infer<typeof dcdSpec>;

export const dcdStatus = z.object({
  observedGeneration: z.int().optional(),
  state: z.enum(['pending', 'successful', 'failed']).optional(),
  conditions: z.array(condition).optional(),
  service: serviceReplicaStatus.optional(),
});
export type DcdStatus = z.infer<typeof dcdStatus>;

export const dynamoComponentDeployment = z.object({
  apiVersion: z.literal(GROUP_VERSION),
  kind: z.literal('DynamoComponentDeployment'),
  metadata: objectMeta,
  spec: dcdSpec,
  status: dcdStatus.optional(),
});
export type DynamoComponentDeployment = z.infer<typeof dynamoComponentDeployment>;
