// /openapi.json: the API described from the same zod schemas that validate the requests.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  chatCompletionRequestSchema,
  chatCompletionSchema,
  completionRequestSchema,
  completionSchema,
  errorBodySchema,
  modelListSchema,
} from '../../api/openai.js';
import { responseCreateRequestSchema } from '../../api/openai-responses.js';

const json = (schema: z.ZodType, io: 'input' | 'output') => ({
  'application/json': { schema: z.toJSONSchema(schema, { io, unrepresentable: 'any' }) },
});

function document(version: string): object {
  const errors = {
    '400': {
      description:
        'invalid or unsupported request field, a token id outside the vocabulary, or a prompt past the context length (code context_length_exceeded)',
      content: json(errorBodySchema, 'output'),
    },
    '404': { description: 'unknown model', content: json(errorBodySchema, 'output') },
    '413': { description: 'body too large', content: json(errorBodySchema, 'output') },
    '503': { description: 'no worker serves the model', content: json(errorBodySchema, 'output') },
    '529': {
      description: 'every worker is busy (or --busy-status-code); retry after the Retry-After header',
      content: json(errorBodySchema, 'output'),
    },
  };
  const post = (summary: string, body: z.ZodType, response: z.ZodType | object) => ({
    post: {
      summary,
      requestBody: { required: true, content: json(body, 'input') },
      responses: {
        '200': {
          description: 'the completion (JSON), or server-sent events when stream is true',
          content: {
            ...(response instanceof z.ZodType
              ? json(response, 'output')
              : { 'application/json': { schema: response } }),
            'text/event-stream': { schema: { type: 'string' } },
          },
        },
        ...errors,
      },
    },
  });
  return {
    openapi: '3.1.0',
    info: { title: 'dynamo-ts OpenAI-compatible API', version },
    paths: {
      '/v1/chat/completions': post('Chat completion', chatCompletionRequestSchema, chatCompletionSchema),
      '/v1/completions': post('Text completion', completionRequestSchema, completionSchema),
      '/v1/responses': post(
        'Response (stateless subset: text or message input, no tools, nothing stored)',
        responseCreateRequestSchema,
        { type: 'object', description: "OpenAI's Response object" },
      ),
      '/v1/models': {
        get: {
          summary: 'List models',
          responses: { '200': { description: 'models', content: json(modelListSchema, 'output') } },
        },
      },
      '/health': {
        get: {
          summary: 'Ready while a model is served',
          responses: { '200': { description: 'healthy' }, '503': { description: 'no model served' } },
        },
      },
      '/live': { get: { summary: 'The process answers', responses: { '200': { description: 'live' } } } },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          responses: { '200': { description: 'text exposition format' } },
        },
      },
    },
  };
}

export async function openapiRoute(app: FastifyInstance): Promise<void> {
  const body = JSON.stringify(document('1.0.0'));
  app.get('/openapi.json', async (_request, reply) => reply.type('application/json').send(body));
}
