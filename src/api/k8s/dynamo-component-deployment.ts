// DynamoComponentDeployment (dcd): one component of a graph, made by the operator from a DGD service
// (one per service) and turned into a Deployment + Service (+ Ingress). Its spec has Dynamo's fields and
// no others: the graph's envs are merged into `envs`, the Dynamo namespace comes from the graph.
import { z } from 'zod';
import { condition, GROUP_VERSION, objectMeta, stringMap } from './common.js';
import { backendFramework, componentSpec, serviceReplicaStatus } from './dynamo-component.js';

export const dcdSpec = componentSpec.extend({
  /** The service's name in its graph (`spec.services` key); the DCD's own name when unset. */
  serviceName: z.string().min(1, 'must not be empty').optional(),
  backendFramework: backendFramework.optional(),
});
export type DcdSpec = z.infer<typeof dcdSpec>;

export const dcdStatus = z.object({
  observedGeneration: z.int().optional(),
  /** dynamo-ts's own summary (Dynamo's DCD has none): the DGD's states less `initializing`. */
  state: z.enum(['pending', 'successful', 'failed']).optional(),
  conditions: z.array(condition).optional(),
  podSelector: stringMap.optional(),
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
