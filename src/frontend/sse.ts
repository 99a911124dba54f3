// Server-sent events for streamed completions. Each chunk is serialized once: the parts of the JSON
// that do not change within a request (id, created, model) are built once, and per token only the
// text is JSON-escaped between them.
import type { ServerResponse } from 'node:http';
import type { OpenAiFinishReason, Usage } from '../api/openai.js';

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
} as const;

export const DONE = 'data: [DONE]\n\n';

export interface ChunkFormat {
  /** The role announcement that opens a chat stream (empty for completions). */
  opening(): string;
  text(text: string): string;
  finish(reason: OpenAiFinishReason): string;
  usage(usage: Usage): string;
}

export function chatChunks(id: string, created: number, model: string, includeUsage: boolean): ChunkFormat {
  const head = `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"choices":[`;
  const tail = includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
  return {
    opening: () =>
      `${head}{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}${tail}`,
    text: (text) =>
      `${head}{"index":0,"delta":{"content":${JSON.stringify(text)}},"logprobs":null,"finish_reason":null}${tail}`,
    finish: (reason) => `${head}{"index":0,"delta":{},"logprobs":null,"finish_reason":"${reason}"}${tail}`,
    usage: (usage) => `${head}],"usage":${JSON.stringify(usage)}}\n\n`,
  };
}

export function completionChunks(
  id: string,
  created: number,
  model: string,
  includeUsage: boolean,
): ChunkFormat {
  const head = `data: {"id":${JSON.stringify(id)},"object":"text_completion","created":${created},"model":${JSON.stringify(model)},"choices":[`;
  const tail = includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
  return {
    opening: () => '',
    text: (text) =>
      `${head}{"index":0,"text":${JSON.stringify(text)},"logprobs":null,"finish_reason":null}${tail}`,
    finish: (reason) => `${head}{"index":0,"text":"","logprobs":null,"finish_reason":"${reason}"}${tail}`,
    usage: (usage) => `${head}],"usage":${JSON.stringify(usage)}}\n\n`,
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
