// Chat templates: the Jinja template a model ships in tokenizer_config.json, rendered with
// @huggingface/jinja the way transformers' apply_chat_template does (messages, add_generation_prompt,
// the special tokens, tools for templates that use them, extra kwargs such as enable_thinking).
import { Template } from '@huggingface/jinja';
import { z } from 'zod';
import type { ChatMessage } from '../api/openai.js';

const specialTokenSchema = z.union([
  z.string(),
  z.object({ content: z.string() }).transform((t) => t.content),
]);

const tokenizerConfigSchema = z
  .object({
    chat_template: z
      .union([z.string(), z.array(z.object({ name: z.string(), template: z.string() }))])
      .nullish(),
  })
  .catchall(z.unknown());

const addedTokensSchema = z.record(z.string(), z.object({ content: z.string() }));

export interface RenderOptions {
  tools?: readonly unknown[] | undefined;
  /** Extra template variables (vLLM's chat_template_kwargs). */
  kwargs?: Record<string, unknown> | undefined;
}

/** A template failed to render (e.g. raise_exception on a role order it refuses). */
export class ChatTemplateError extends Error {
  override name = 'ChatTemplateError';
}

/** Message content as one string: templates expect strings, so text parts are joined. */
function contentText(content: ChatMessage['content']): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  let out = '';
  for (let i = 0; i < content.length; i++) out += (i > 0 ? '\n' : '') + (content[i]?.text ?? '');
  return out;
}

export class ChatTemplate {
  private readonly templates: Map<string, Template>;
  private readonly specialTokens: Record<string, string>;
  /** Every template's text, joined: what tool-call and reasoning format detection reads. */
  readonly source: string;
  /** The tokenizer's added tokens (added_tokens_decoder), e.g. `[TOOL_CALLS]`, `<think>`. */
  readonly addedTokens: ReadonlySet<string>;

  private constructor(
    templates: Map<string, Template>,
    specialTokens: Record<string, string>,
    source: string,
    addedTokens: ReadonlySet<string>,
  ) {
    this.templates = templates;
    this.specialTokens = specialTokens;
    this.source = source;
    this.addedTokens = addedTokens;
  }

  /** The chat template of a tokenizer_config.json, or null when it has none. */
  static fromTokenizerConfig(configJson: string): ChatTemplate | null {
    const config = tokenizerConfigSchema.parse(JSON.parse(configJson));
    const raw = config.chat_template;
    if (raw === null || raw === undefined) return null;
    const sources = typeof raw === 'string' ? [{ name: 'default', template: raw }] : raw;
    const templates = new Map(sources.map((t) => [t.name, new Template(t.template)] as const));
    const specialTokens: Record<string, string> = {};
    for (const [key, value] of Object.entries(config)) {
      if (!key.endsWith('_token')) continue;
      const token = specialTokenSchema.safeParse(value);
      if (token.success) specialTokens[key] = token.data;
    }
    const added = addedTokensSchema.safeParse(config.added_tokens_decoder);
    const addedTokens = new Set(added.success ? Object.values(added.data).map((t) => t.content) : []);
    return new ChatTemplate(templates, specialTokens, sources.map((t) => t.template).join('\n'), addedTokens);
  }

  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    const hasTools = options.tools !== undefined && options.tools.length > 0;
    const template =
      (hasTools ? this.templates.get('tool_use') : undefined) ??
      this.templates.get('default') ??
      this.templates.values().next().value;
    if (template === undefined) throw new ChatTemplateError('the model has no chat template');
    const context: Record<string, unknown> = {
      ...options.kwargs,
      ...this.specialTokens,
      messages: messages.map((m) => ({
        ...m,
        // Templates know system, user, assistant, tool; OpenAI's newer developer role is a system one.
        role: m.role === 'developer' ? 'system' : m.role,
        content: contentText(m.content),
      })),
      add_generation_prompt: true,
    };
    if (hasTools) context.tools = options.tools;
    try {
      return template.render(context);
    } catch (err) {
      throw new ChatTemplateError(`chat template: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
