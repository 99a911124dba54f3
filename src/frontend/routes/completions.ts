// POST /v1/completions: a prompt (text or token ids) → a worker → text, streamed or not.
import type { FastifyInstance } from 'fastify';
import { type CompletionRequest, completionRequestSchema } from '../../api/openai.js';
import { preprocessCompletion } from '../../llm/preprocessor.js';
import { checkPromptTokenIds, preprocessOrThrow } from '../prompt-errors.js';

export async function completionsRoute(app: FastifyInstance): Promise<void> {
  app.post('/v1/completions', { schema: { body: completionRequestSchema } }, async (request, reply) => {
    const body = request.body as CompletionRequest;
    const { model, resources } = await app.services.resolve(body.model, 'completions', reply.raw);
    checkPromptTokenIds(body.prompt, model.card.vocabSize);
    const pre = preprocessOrThrow(() => preprocessCompletion(body, model.card, resources), 'prompt');
    return app.services.responder.respond(request, reply, {
      endpoint: 'completions',
      model,
      resources,
      pre,
      stream: body.stream === true,
      n: body.n ?? 1,
      includeUsage: body.stream_options?.include_usage === true,
      continuousUsage: body.stream_options?.continuous_usage_stats === true,
    });
  });
}
