// What a chat completion's generated text becomes: reasoning, content and tool calls. Reasoning is
// split off first (a call inside `<think>` is thought, not made), then the tool-call parser reads the
// content. One ChatOutput per request, built only when the request and the model need one, so a plain
// request pays nothing.
import { randomBytes } from 'node:crypto';
import type { ChatCompletionRequest } from '../../api/openai.js';
import type { ChatTemplate } from '../chat-template.js';
import {
  detectReasoningFormat,
  promptOpensReasoning,
  REASONING_FORMATS,
  type ReasoningFormat,
  ReasoningParser,
} from '../reasoning.js';
import { ToolCallParser } from './parser.js';
import { detectToolCallFormat, TOOL_CALL_FORMATS } from './registry.js';
import type { ParsedCall, ToolCallFormat } from './types.js';

/** `--tool-call-parser` / `--reasoning-parser`: a name, 'none', or absent (detected per model). */
export interface OutputParserSettings {
  toolCallParser?: string | undefined;
  reasoningParser?: string | undefined;
}

export interface ToolCall extends ParsedCall {
  /** `call_` and 24 random alphanumerics, as OpenAI's. */
  id: string;
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export function newToolCallId(): string {
  let id = 'call_';
  for (const b of randomBytes(24)) id += ID_ALPHABET[b % ID_ALPHABET.length];
  return id;
}

interface Detected {
  toolCalls: ToolCallFormat | undefined;
  reasoning: ReasoningFormat | undefined;
}

/** Per chat template (one per model and tokenizer checksum): detection runs once. */
const detected = new WeakMap<ChatTemplate, Detected>();

function detect(template: ChatTemplate): Detected {
  let d = detected.get(template);
  if (d === undefined) {
    const text = { template: template.source, addedTokens: template.addedTokens };
    d = { toolCalls: detectToolCallFormat(text), reasoning: detectReasoningFormat(template.source) };
    detected.set(template, d);
  }
  return d;
}

/** A flag's value: a format by name, none, or the detected one. */
function choose<T>(setting: string | undefined, formats: ReadonlyMap<string, T>, auto: T | undefined) {
  if (setting === undefined) return auto;
  return setting === 'none' ? undefined : formats.get(setting);
}

export class ChatOutput {
  /** The reasoning released by the last push or finish. */
  reasoning = '';
  /** Every complete call so far, in order. */
  readonly calls: ToolCall[] = [];

  constructor(
    private readonly reasoningParser: ReasoningParser | undefined,
    private readonly toolParser: ToolCallParser | undefined,
  ) {}

  /** Appends generated text; returns the content it releases. */
  push(text: string): string {
    let content = text;
    if (this.reasoningParser !== undefined) {
      content = this.reasoningParser.push(text);
      this.reasoning = this.reasoningParser.reasoning;
    }
    if (this.toolParser === undefined || content === '') return content;
    content = this.toolParser.push(content);
    this.collect();
    return content;
  }

  /** The end of the generation: what was held back. */
  finish(): string {
    let content = '';
    if (this.reasoningParser !== undefined) {
      content = this.reasoningParser.finish();
      this.reasoning = this.reasoningParser.reasoning;
    }
    if (this.toolParser === undefined) return content;
    content = (content === '' ? '' : this.toolParser.push(content)) + this.toolParser.finish();
    this.collect();
    return content;
  }

  private collect(): void {
    const parsed = this.toolParser?.calls ?? [];
    while (this.calls.length < parsed.length) {
      const call = parsed[this.calls.length] as ParsedCall;
      this.calls.push({ id: newToolCallId(), name: call.name, arguments: call.arguments });
    }
  }
}

/**
 * The output parser of one chat request, or undefined when there is nothing to parse: tool calls are
 * parsed when the request offers tools (tool_choice other than none) and the model has a format;
 * reasoning whenever the model has one. `promptTail`: the last prompt tokens decoded, to see whether
 * the template opened the reasoning block.
 */
export function chatOutputFor(
  req: ChatCompletionRequest,
  template: ChatTemplate | null,
  promptTail: () => string,
  settings: OutputParserSettings,
): ChatOutput | undefined {
  const auto: Detected =
    template === null ? { toolCalls: undefined, reasoning: undefined } : detect(template);
  const offersTools = (req.tools?.length ?? 0) > 0 && req.tool_choice !== 'none';
  const toolFormat = offersTools
    ? choose(settings.toolCallParser, TOOL_CALL_FORMATS, auto.toolCalls)
    : undefined;
  const reasoningFormat = choose(settings.reasoningParser, REASONING_FORMATS, auto.reasoning);
  if (toolFormat === undefined && reasoningFormat === undefined) return undefined;
  return new ChatOutput(
    reasoningFormat && new ReasoningParser(reasoningFormat, promptOpensReasoning(promptTail())),
    toolFormat && new ToolCallParser(toolFormat, req.parallel_tool_calls === false ? 1 : undefined),
  );
}

/** The assistant message of a unary reply: content null when the reply is only tool calls. */
export function chatMessage(content: string, reasoning: string, calls: readonly ToolCall[]) {
  return {
    role: 'assistant' as const,
    content: calls.length > 0 && content.trim() === '' ? null : content,
    ...(reasoning === '' ? {} : { reasoning_content: reasoning }),
    ...(calls.length === 0
      ? {}
      : {
          tool_calls: calls.map((c) => ({
            id: c.id,
            type: 'function' as const,
            function: { name: c.name, arguments: c.arguments },
          })),
        }),
  };
}
