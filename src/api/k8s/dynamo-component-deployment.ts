// DynamoComponentDeployment (dcd): one component of a graph, made by the operator from a DGD service
// (one per service) and turned into a Deployment + Service (+ Ingress). Its spec has Dynamo's fields and
// no others: the graph's envs are merged into `envs`, the Dynamo namespace comes from the graph.
import { z } from 'zod';
import { condition, GROUP_VERSION, objectMeta, stringMap } from './common.js';
import { backendFramework, componentSpec, serviceReplicaStatus } from './dynamo-component.js';

export const dcdSpec = componentSpec.extend({
  serviceName: z
    .string()
    .min(1, 'must not be empty')
    .optional()
    .describe("The service's name in its graph (its spec.services key); the object's own name when unset."),
  backendFramework: backendFramework.optional(),
});
export type DcdSpec = z.infer<typeof dcdSpec>;

export const dcdStatus = z.object({
  observedGeneration: z.int().optional().describe('metadata.generation of the spec this status describes.'),
  state: z
    .enum(['pending', 'successful', 'failed'])
    .optional()
    .describe(
      "dynamo-ts's own summary (Dynamo's component has none): pending (replicas not ready yet), successful (ready) or failed (the spec cannot be deployed).",
    ),
  conditions: z
    .array(condition)
    .optional()
    .describe('Ready: True when the Deployment has all its replicas updated and ready.'),
  podSelector: stringMap.optional().describe("Labels that select the component's pods."),
  service: serviceReplicaStatus.optional().describe("Replica counts of the component's Deployment."),
});
export type DcdStatus = z.infer<typeof dcdStatus>;

export const dynamoComponentDeployment = z
  .object({
    apiVersion: z.literal(GROUP_VERSION),
    kind: z.literal('DynamoComponentDeployment'),
    metadata: objectMeta,
    spec: dcdSpec.describe("The component: one service of a graph, with the graph's envs merged in."),
    status: dcdStatus.optional().describe('What the operator observed, written by it only.'),
  })
  .describe(
    'One component of a graph, made by the operator from a DynamoGraphDeployment service (or by hand), and turned into a Deployment, a Service and, for a frontend that asks, an Ingress.',
  );
export type DynamoComponentDeployment = z.infer<typeof dynamoComponentDeployment>;
