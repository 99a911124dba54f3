// POST /v1/responses: the Responses API's stateless subset, served as a chat generation — instructions
// become a system message, the input the conversation — and answered as a response object or its
// streamed events (responses-format.ts).
import type { FastifyInstance } from 'fastify';
import type { ChatCompletionRequest, ChatMessage } from '../../api/openai.js';
import {
  type ResponseCreateRequest,
  type ResponseInputMessage,
  responseCreateRequestSchema,
} from '../../api/openai-responses.js';
import { preprocessChat } from '../../llm/preprocessor.js';
import { preprocessOrThrow } from '../prompt-errors.js';

function message(item: ResponseInputMessage): ChatMessage {
  const content =
    typeof item.content === 'string'
      ? item.content
      : item.content.map((part) => ({ type: 'text' as const, text: part.text }));
  return { role: item.role, content };
}

/** The chat request a Responses request stands for. */
export function chatRequestOf(body: ResponseCreateRequest): ChatCompletionRequest {
  const messages: ChatMessage[] = [];
  if (body.instructions != null) messages.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') messages.push({ role: 'user', content: body.input });
  else for (const item of body.input) messages.push(message(item));
  return {
    model: body.model,
    messages,
    max_completion_tokens: body.max_output_tokens,
    temperature: body.temperature,
    top_p: body.top_p,
  };
}

export async function responsesRoute(app: FastifyInstance): Promise<void> {
  app.post('/v1/responses', { schema: { body: responseCreateRequestSchema } }, async (request, reply) => {
    const body = request.body as ResponseCreateRequest;
    const { model, resources } = await app.services.resolve(body.model, 'chat', reply.raw);
    const pre = preprocessOrThrow(
      () => preprocessChat(chatRequestOf(body), model.card, resources, 'max_output_tokens'),
      'messages',
    );
    return app.services.responder.respond(request, reply, {
      endpoint: 'responses',
      model,
      resources,
      pre,
      stream: body.stream === true,
      includeUsage: false,
      responses: {
        instructions: body.instructions ?? null,
        maxOutputTokens: body.max_output_tokens ?? null,
        temperature: body.temperature ?? null,
        topP: body.top_p ?? null,
        metadata: body.metadata ?? null,
      },
    });
  });
}
