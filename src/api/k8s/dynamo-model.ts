// DynamoModel: a model (base or LoRA) served by the components whose `modelRef` names it; its status
// lists the ready pods serving it.
import { z } from 'zod';
import { condition, GROUP_VERSION, objectMeta } from './common.js';

export const MODEL_TYPES = ['base', 'lora', 'adapter'] as const;

export const dynamoModelSpec = z.looseObject({
  modelName: z
    .string({ error: 'is required' })
    .min(1, 'is required')
    .describe("Full name of the model, e.g. meta-llama/Llama-3.3-70B-Instruct or a LoRA's name."),
  baseModelName: z
    .string({ error: 'is required' })
    .min(1, 'is required')
    .describe(
      'Name of the base model. dynamo-ts lists the endpoints of the components whose modelRef names this DynamoModel; it does not match on this field.',
    ),
  modelType: z
    .enum(MODEL_TYPES)
    .optional()
    .describe('base (the default), lora or adapter; immutable. A lora needs source.uri.'),
  source: z
    .looseObject({
      uri: z.string().min(1).describe('Where the weights are: s3://bucket/path or hf://org/model@revision.'),
    })
    .optional()
    .describe("Where a LoRA's weights come from. Checked, not downloaded, by dynamo-ts."),
});
export type DynamoModelSpec = z.infer<typeof dynamoModelSpec>;

export const modelEndpoint = z.object({
  address: z.string().describe('<pod IP>:<system port> of the serving pod.'),
  podName: z.string().describe('Name of the serving pod.'),
  ready: z.boolean().describe('Whether the pod is ready; dynamo-ts lists ready pods only.'),
});

export const dynamoModelStatus = z.object({
  observedGeneration: z.int().optional().describe('metadata.generation of the spec this status describes.'),
  endpoints: z.array(modelEndpoint).optional().describe('The ready pods serving the model.'),
  readyEndpoints: z.int().optional().describe('How many of the serving pods are ready.'),
  totalEndpoints: z.int().optional().describe('How many pods serve the model, ready or not.'),
  conditions: z.array(condition).optional().describe('Ready: True when at least one serving pod is ready.'),
});
export type DynamoModelStatus = z.infer<typeof dynamoModelStatus>;

export const dynamoModel = z
  .object({
    apiVersion: z.literal(GROUP_VERSION),
    kind: z.literal('DynamoModel'),
    metadata: objectMeta,
    spec: dynamoModelSpec.describe('The model.'),
    status: dynamoModelStatus.optional().describe('What the operator observed, written by it only.'),
  })
  .describe(
    'A model (base or LoRA) and, in its status, the pods serving it: those of the components whose modelRef names it.',
  );
export type DynamoModel = z.infer<typeof dynamoModel>;
