// POST /v1/chat/completions: messages → chat template → tokens → a worker → text, streamed or not.
import type { FastifyInstance } from 'fastify';
import { type ChatCompletionRequest, chatCompletionRequestSchema } from '../../api/openai.js';
import { preprocessChat } from '../../llm/preprocessor.js';
import { preprocessOrThrow } from '../prompt-errors.js';

export async function chatCompletionsRoute(app: FastifyInstance): Promise<void> {
  app.post(
    '/v1/chat/completions',
    { schema: { body: chatCompletionRequestSchema } },
    async (request, reply) => {
      const body = request.body as ChatCompletionRequest;
      const { model, resources } = await app.services.resolve(body.model, 'chat', reply.raw);
      const pre = preprocessOrThrow(() => preprocessChat(body, model.card, resources), 'messages');
      return app.services.responder.respond(request, reply, {
        endpoint: 'chat_completions',
        model,
        resources,
        pre,
        stream: body.stream === true,
        includeUsage: body.stream_options?.include_usage === true,
      });
    },
  );
}
