// DynamoModel: a model (base or LoRA) served by the components whose `modelRef` names it; its status
// lists the ready pods serving it.
import { z } from 'zod';
import { condition, GROUP_VERSION, objectMeta } from './common.js';

export const MODEL_TYPES = ['base', 'lora', 'adapter'] as const;

export const dynamoModelSpec = z.looseObject({
  modelName: z.string({ error: 'is required' }).min(1, 'is required'),
  baseModelName: z.string({ error: 'is required' }).min(1, 'is required'),
  modelType: z.enum(MODEL_TYPES).optional(),
  source: z.looseObject({ uri: z.string().min(1) }).optional(),
});
export type DynamoModelSpec = z.infer<typeof dynamoModelSpec>;

export const modelEndpoint = z.object({
  address: z.string(),
  podName: z.string(),
  ready: z.boolean(),
});

export const dynamoModelStatus = z.object({
  observedGeneration: z.int().optional(),
  endpoints: z.array(modelEndpoint).optional(),
  readyEndpoints: z.int().optional(),
  totalEndpoints: z.int().optional(),
  conditions: z.array(condition).optional(),
});
export type DynamoModelStatus = z.infer<typeof dynamoModelStatus>;

export const dynamoModel = z.object({
  apiVersion: z.literal(GROUP_VERSION),
  kind: z.literal('DynamoModel'),
  metadata: objectMeta,
  spec: dynamoModelSpec,
  status: dynamoModelStatus.optional(),
});
export type DynamoModel = z.infer<typeof dynamoModel>;
