import { describe, expect, it } from 'vitest';
import { ChatTemplate, ChatTemplateError } from '../../../src/llm/chat-template.js';
import { tokenizerFiles } from './fixtures.js';

const qwen = () => {
  const t = ChatTemplate.fromTokenizerConfig(tokenizerFiles('qwen3').tokenizerConfigJson);
  if (t === null) throw new Error('qwen3 has a chat template');
  return t;
};

describe('ChatTemplate', () => {
  it('renders Qwen3 system, user, assistant and tool turns with the generation prompt', () => {
    const out = qwen().render([
      { role: 'system', content: 'Be brief.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Hi' },
          { type: 'text', text: 'there' },
        ],
      },
      { role: 'assistant', content: 'Hello.' },
      { role: 'tool', content: '42', tool_call_id: 'c1' },
    ]);
    expect(out).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n' +
        '<|im_start|>user\nHi\nthere<|im_end|>\n' +
        '<|im_start|>assistant\nHello.<|im_end|>\n' +
        '<|im_start|>user\n<tool_response>\n42\n</tool_response><|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
  });

  it('hands tools to a template that uses them, and kwargs (enable_thinking)', () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    const out = qwen().render([{ role: 'user', content: 'Weather?' }], {
      tools,
      kwargs: { enable_thinking: false },
    });
    expect(out).toContain('# Tools');
    expect(out).toContain('"name": "get_weather"');
    expect(out.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(true);
  });

  it('maps the developer role to system', () => {
    const out = qwen().render([
      { role: 'developer', content: 'Rules.' },
      { role: 'user', content: 'x' },
    ]);
    expect(out.startsWith('<|im_start|>system\nRules.<|im_end|>\n')).toBe(true);
  });

  it('renders Llama 3 with its BOS special token from tokenizer_config.json', () => {
    const t = ChatTemplate.fromTokenizerConfig(tokenizerFiles('llama3').tokenizerConfigJson);
    const out = t?.render([{ role: 'user', content: '  Hi  ' }]);
    expect(out).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it('returns null for a config without a template and wraps render failures', () => {
    expect(ChatTemplate.fromTokenizerConfig('{"bos_token": "<s>"}')).toBeNull();
    const t = ChatTemplate.fromTokenizerConfig(
      JSON.stringify({ chat_template: "{{ raise_exception('roles must alternate') }}" }),
    );
    expect(() => t?.render([{ role: 'user', content: 'x' }])).toThrow(ChatTemplateError);
    expect(() => t?.render([{ role: 'user', content: 'x' }])).toThrow(/roles must alternate/);
  });
});
