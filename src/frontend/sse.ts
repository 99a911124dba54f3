// Server-sent events for streamed completions. Each chunk is serialized once: the parts of the JSON
// that do not change within a request (id, created, model, the choice's index) are built once per
// choice, and per token only the text is JSON-escaped between them.
import type { ServerResponse } from 'node:http';
import type { ChatFinishReason, ErrorBody, OpenAiFinishReason, Usage } from '../api/openai.js';
import type { ToolCall } from '../llm/tool-calls/chat-output.js';

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

export const DONE = 'data: [DONE]\n\n';

export interface ChunkFormat {
  /** The role announcement that opens a chat stream (empty for completions); `usage` as for text. */
  opening(usage?: Usage): string;
  /**
   * `usage`: the usage so far, on every chunk (vLLM's stream_options.continuous_usage_stats);
   * `logprobs`: the chunk's logprobs member, serialized (chat and completions).
   */
  text(text: string, usage?: Usage, logprobs?: string): string;
  /** `usage` is the final one (the Responses API puts it in its last event). */
  finish(reason: OpenAiFinishReason, usage: Usage): string;
  /** The usage chunk of stream_options.include_usage. */
  usage(usage: Usage): string;
  /** An error after the headers went out: the stream's last event. */
  error(body: ErrorBody): string;
  /** What ends a stream that finished. */
  readonly end: string;
}

/** A chunk's usage member: the usage so far (continuous_usage_stats), null before the usage chunk, or none. */
const usageMember = (includeUsage: boolean, usage: Usage | undefined): string =>
  usage !== undefined
    ? `],"usage":${JSON.stringify(usage)}}\n\n`
    : includeUsage
      ? '],"usage":null}\n\n'
      : ']}\n\n';

const errorEvent = (body: ErrorBody): string => `data: ${JSON.stringify(body)}\n\n${DONE}`;

/** A chat stream's other deltas: reasoning, and tool calls as OpenAI streams them. */
export interface ChatChunkFormat extends ChunkFormat {
  finish(reason: ChatFinishReason, usage: Usage): string;
  reasoning(text: string, usage?: Usage): string;
  /** The call's first delta (id, type, name, empty arguments), then one with its arguments. */
  toolCall(index: number, call: ToolCall, usage?: Usage): string;
}

/**
 * `continuousUsage`: the finish chunk carries the usage too. `index`: the choice these chunks are of
 * (n > 1: one format per choice); the usage chunk has no choice.
 */
export function chatChunks(
  id: string,
  created: number,
  model: string,
  includeUsage: boolean,
  continuousUsage = false,
  index = 0,
): ChatChunkFormat {
  const head = `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"choices":[`;
  const choice = `${head}{"index":${index},`;
  const tail = usageMember(includeUsage, undefined);
  return {
    opening: (usage) =>
      `${choice}"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}${usageMember(includeUsage, usage)}`,
    text: (text, usage, logprobs = 'null') =>
      `${choice}"delta":{"content":${JSON.stringify(text)}},"logprobs":${logprobs},"finish_reason":null}${usageMember(includeUsage, usage)}`,
    reasoning: (text, usage) =>
      `${choice}"delta":{"reasoning_content":${JSON.stringify(text)}},"logprobs":null,"finish_reason":null}${usageMember(includeUsage, usage)}`,
    toolCall: (callIndex, call, usage) => {
      const delta = (calls: string) =>
        `${choice}"delta":{"tool_calls":[${calls}]},"logprobs":null,"finish_reason":null}${usageMember(includeUsage, usage)}`;
      return (
        delta(
          `{"index":${callIndex},"id":"${call.id}","type":"function","function":{"name":${JSON.stringify(call.name)},"arguments":""}}`,
        ) + delta(`{"index":${callIndex},"function":{"arguments":${JSON.stringify(call.arguments)}}}`)
      );
    },
    finish: (reason, usage) =>
      `${choice}"delta":{},"logprobs":null,"finish_reason":"${reason}"}${continuousUsage ? usageMember(includeUsage, usage) : tail}`,
    usage: (usage) => `${head}],"usage":${JSON.stringify(usage)}}\n\n`,
    error: errorEvent,
    end: DONE,
  };
}

export function completionChunks(
  id: string,
  created: number,
  model: string,
  includeUsage: boolean,
  continuousUsage = false,
  index = 0,
): ChunkFormat {
  const head = `data: {"id":${JSON.stringify(id)},"object":"text_completion","created":${created},"model":${JSON.stringify(model)},"choices":[`;
  const choice = `${head}{"index":${index},`;
  const tail = usageMember(includeUsage, undefined);
  return {
    opening: () => '',
    text: (text, usage, logprobs = 'null') =>
      `${choice}"text":${JSON.stringify(text)},"logprobs":${logprobs},"finish_reason":null}${usageMember(includeUsage, usage)}`,
    finish: (reason, usage) =>
      `${choice}"text":"","logprobs":null,"finish_reason":"${reason}"}${continuousUsage ? usageMember(includeUsage, usage) : tail}`,
    usage: (usage) => `${head}],"usage":${JSON.stringify(usage)}}\n\n`,
    error: errorEvent,
    end: DONE,
  };
}

/** Writes SSE events to a response, waiting for 'drain' only when the socket buffer is full. */
export class SseWriter {
  constructor(private readonly res: ServerResponse) {}

  /** undefined at once, unless the socket buffer is full: then resolves on 'drain' or close. */
  write(data: string): Promise<void> | undefined {
    if (this.res.write(data)) return undefined;
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  end(data: string): void {
    this.res.end(data);
  }
}
