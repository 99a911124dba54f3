// The Responses API's answers: one response object (unary), or its streamed events. A stream is
//
//   response.created → response.in_progress → response.output_item.added → response.content_part.added
//   → response.output_text.delta … → response.output_text.done → response.content_part.done
//   → response.output_item.done → response.completed | response.incomplete (max_output_tokens)
//
// each as `event: <type>` + `data: <json>` with a rising sequence_number, as the `openai` SDK's
// responses.stream helper expects (it checks indexes and item ids event by event). No [DONE] sentinel.

import type { ErrorBody, OpenAiFinishReason, Usage } from '../api/openai.js';
import {
  type ResponseEcho,
  type ResponseObject,
  type ResponseOutputMessage,
  type ResponseStatus,
  responseUsage,
} from '../api/openai-responses.js';
import type { ChunkFormat } from './sse.js';

/** The response object in a given state; `text` is the whole output so far. */
export function responseObject(
  id: string,
  created: number,
  model: string,
  echo: ResponseEcho,
  state: { status: ResponseStatus; text: string | null; usage: Usage | null },
): ResponseObject {
  const output: ResponseOutputMessage[] =
    state.text === null
      ? []
      : [
          {
            id: messageId(id),
            type: 'message',
            status: state.status,
            role: 'assistant',
            content: [{ type: 'output_text', text: state.text, annotations: [], logprobs: [] }],
          },
        ];
  return {
    id,
    object: 'response',
    created_at: created,
    status: state.status,
    error: null,
    incomplete_details: state.status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: echo.instructions,
    max_output_tokens: echo.maxOutputTokens,
    metadata: echo.metadata ?? {},
    model,
    output,
    output_text: state.text ?? '',
    parallel_tool_calls: false,
    previous_response_id: null,
    store: false,
    temperature: echo.temperature,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: echo.topP,
    truncation: 'disabled',
    usage: state.usage === null ? null : responseUsage(state.usage),
  };
}

export const statusOf = (reason: OpenAiFinishReason): ResponseStatus =>
  reason === 'length' ? 'incomplete' : 'completed';

const messageId = (responseId: string) => `msg_${responseId.slice('resp_'.length)}`;

/** The streamed events of one response; it keeps the text so far for the closing events. */
export function responseEvents(id: string, created: number, model: string, echo: ResponseEcho): ChunkFormat {
  let sequence = 0;
  let text = '';
  const itemId = messageId(id);
  const event = (type: string, body: object) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...body })}\n\n`;
  const at = { output_index: 0, content_index: 0 };
  const part = (t: string) => ({ type: 'output_text', text: t, annotations: [], logprobs: [] });
  return {
    opening: () => {
      const response = responseObject(id, created, model, echo, {
        status: 'in_progress',
        text: null,
        usage: null,
      });
      return (
        event('response.created', { response }) +
        event('response.in_progress', { response }) +
        event('response.output_item.added', {
          output_index: 0,
          item: { id: itemId, type: 'message', status: 'in_progress', role: 'assistant', content: [] },
        }) +
        event('response.content_part.added', { item_id: itemId, ...at, part: part('') })
      );
    },
    text: (delta) => {
      text += delta;
      return event('response.output_text.delta', { item_id: itemId, ...at, delta, logprobs: [] });
    },
    finish: (reason, usage) => {
      const status = statusOf(reason);
      const response = responseObject(id, created, model, echo, { status, text, usage });
      return (
        event('response.output_text.done', { item_id: itemId, ...at, text, logprobs: [] }) +
        event('response.content_part.done', { item_id: itemId, ...at, part: part(text) }) +
        event('response.output_item.done', { output_index: 0, item: response.output[0] }) +
        event(status === 'completed' ? 'response.completed' : 'response.incomplete', { response })
      );
    },
    // Usage travels in the response.completed event.
    usage: () => '',
    error: (body: ErrorBody) =>
      event('error', { code: body.error.code, message: body.error.message, param: body.error.param }),
    end: '',
  };
}
