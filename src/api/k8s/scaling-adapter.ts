// DynamoGraphDeploymentScalingAdapter (dgdsa): the scale subresource of one service of a graph, for
// HPA / KEDA. While it exists, its spec.replicas is the only writer of that service's replicas.
import { z } from 'zod';
import { condition, GROUP_VERSION, objectMeta } from './common.js';

export const scalingAdapterSpec = z.object({
  replicas: z
    .int()
    .min(0, 'must not be negative')
    .describe(
      'Desired replicas of the service, written by an autoscaler (HPA, KEDA, the planner) or kubectl scale; the operator copies it into the graph.',
    ),
  dgdRef: z
    .object({
      name: z.string().min(1).describe('Name of the DynamoGraphDeployment, in the same namespace.'),
      serviceName: z.string().min(1).describe("The service to scale: its key in the graph's spec.services."),
    })
    .describe('The graph and service this adapter scales.'),
});

export const scalingAdapterStatus = z.object({
  replicas: z.int().optional().describe("Replicas the service has now (the scale subresource's status)."),
  selector: z
    .string()
    .optional()
    .describe(
      "Label selector of the service's pods, as a string: what an HPA reads through the scale subresource.",
    ),
  lastScaleTime: z
    .string()
    .optional()
    .describe("When the adapter last changed the service's replicas (RFC 3339)."),
  conditions: z
    .array(condition)
    .optional()
    .describe("Conditions of the adapter; kept for Dynamo's shape, dynamo-ts writes none."),
});

export const scalingAdapter = z
  .object({
    apiVersion: z.literal(GROUP_VERSION),
    kind: z.literal('DynamoGraphDeploymentScalingAdapter'),
    metadata: objectMeta,
    spec: scalingAdapterSpec.describe('The scale target and its desired replicas.'),
    status: scalingAdapterStatus.optional().describe('What the operator observed, written by it only.'),
  })
  .describe(
    "The scale subresource of one service of a DynamoGraphDeployment, for HPA, KEDA and kubectl scale. While it exists, its spec.replicas is the only writer of the service's replicas.",
  );
export type ScalingAdapter = z.infer<typeof scalingAdapter>;
