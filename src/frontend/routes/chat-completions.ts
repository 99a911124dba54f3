// POST /v1/chat/completions: messages → chat template → tokens → a worker → text, streamed or not.
import type { FastifyInstance } from 'fastify';
import { type ChatCompletionRequest, chatCompletionRequestSchema } from '../../api/openai.js';
import { preprocessChat } from '../../llm/preprocessor.js';
import { grammarOf } from '../../llm/structured-output.js';
import { checkToolRequest } from '../../llm/tool-calls/request.js';
import { HttpError } from '../errors.js';
import { preprocessOrThrow } from '../prompt-errors.js';

export async function chatCompletionsRoute(app: FastifyInstance): Promise<void> {
  app.post(
    '/v1/chat/completions',
    { schema: { body: chatCompletionRequestSchema } },
    async (request, reply) => {
      const body = request.body as ChatCompletionRequest;
      const toolIssue = checkToolRequest(body);
      if (toolIssue !== undefined) throw new HttpError('INVALID_REQUEST', toolIssue.message, toolIssue.param);
      const structured = await grammarOf(body.response_format);
      if (structured.issue !== undefined)
        throw new HttpError('INVALID_REQUEST', structured.issue.message, structured.issue.param);
      const { model, resources } = await app.services.resolve(body.model, 'chat', reply.raw);
      const pre = preprocessOrThrow(() => preprocessChat(body, model.card, resources), 'messages');
      if (structured.grammar !== undefined) pre.grammar = structured.grammar;
      return app.services.responder.respond(request, reply, {
        endpoint: 'chat_completions',
        model,
        resources,
        pre,
        stream: body.stream === true,
        n: body.n ?? 1,
        output: () => app.services.responder.chatOutput(body, resources, pre.tokenIds),
        includeUsage: body.stream_options?.include_usage === true,
        continuousUsage: body.stream_options?.continuous_usage_stats === true,
      });
    },
  );
}
