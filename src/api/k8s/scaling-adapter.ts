// DynamoGraphDeploymentScalingAdapter (dgdsa): the scale subresource of one service of a graph, for
// HPA / KEDA. While it exists, its spec.replicas is the only writer of that service's replicas.
import { z } from 'zod';
import { condition, GROUP_VERSION, objectMeta } from './common.js';

export const scalingAdapterSpec = z.object({
  replicas: z.int().min(0, 'must not be negative'),
  dgdRef: z.object({ name: z.string().min(1), serviceName: z.string().min(1) }),
});

export const scalingAdapterStatus = z.object({
  replicas: z.int().optional(),
  /** Label selector of the service's pods, as the scale subresource's labelSelectorPath wants it. */
  selector: z.string().optional(),
  lastScaleTime: z.string().optional(),
  conditions: z.array(condition).optional(),
});

export const scalingAdapter = z.object({
  apiVersion: z.literal(GROUP_VERSION),
  kind: z.literal('DynamoGraphDeploymentScalingAdapter'),
  metadata: objectMeta,
  spec: scalingAdapterSpec,
  status: scalingAdapterStatus.optional(),
});
export type ScalingAdapter = z.infer<typeof scalingAdapter>;
