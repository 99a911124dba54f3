// Reasoning parsing (<think>…</think>) whole and split into deltas, the formats' differences, the
// block opened by the prompt, and detection from real chat templates.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChatTemplate } from '../../../src/llm/chat-template.js';
import {
  detectReasoningFormat,
  promptOpensReasoning,
  REASONING_FORMATS,
  ReasoningParser,
} from '../../../src/llm/reasoning.js';
import { tokenizerFiles } from './fixtures.js';

function parse(format: string, pieces: readonly string[], openInPrompt = false) {
  const f = REASONING_FORMATS.get(format);
  if (f === undefined) throw new Error(format);
  const parser = new ReasoningParser(f, openInPrompt);
  let content = '';
  let reasoning = '';
  for (const p of pieces) {
    content += parser.push(p);
    reasoning += parser.reasoning;
  }
  content += parser.finish();
  reasoning += parser.reasoning;
  return { reasoning, content };
}

const both = (format: string, text: string, openInPrompt = false) => {
  const whole = parse(format, [text], openInPrompt);
  expect(parse(format, [...text], openInPrompt)).toEqual(whole);
  return whole;
};

describe('reasoning parser', () => {
  it('splits a Qwen3 reply into reasoning and content', () => {
    expect(both('qwen3', '<think>\nThe user greets.\n</think>\n\nHello!')).toEqual({
      reasoning: '\nThe user greets.\n',
      content: 'Hello!',
    });
  });

  it('qwen3: no block, all content; deepseek_r1: reasoning until </think> even without <think>', () => {
    expect(both('qwen3', 'Hello <think> there')).toEqual({ reasoning: '', content: 'Hello <think> there' });
    expect(both('deepseek_r1', 'Let me think.</think>The answer is 4.')).toEqual({
      reasoning: 'Let me think.',
      content: 'The answer is 4.',
    });
  });

  it('starts inside the block when the prompt opened it', () => {
    expect(both('qwen3', 'Thinking...\n</think>\n\nDone.', true)).toEqual({
      reasoning: 'Thinking...\n',
      content: 'Done.',
    });
    expect(promptOpensReasoning('<|im_start|>assistant\n<think>\n')).toBe(true);
    expect(promptOpensReasoning('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(false);
  });

  it('a stream that ends inside the block is all reasoning', () => {
    expect(both('qwen3', '<think>still thinking </thi')).toEqual({
      reasoning: 'still thinking </thi',
      content: '',
    });
  });

  it('gives the same result for any split', () => {
    const fragments = ['<think>', '</think>', '<th', '</th', 'a', ' ', '\n', '<', '>', 'think'];
    fc.assert(
      fc.property(
        fc.constantFrom('qwen3', 'deepseek_r1'),
        fc.boolean(),
        fc.array(fc.constantFrom(...fragments), { maxLength: 16 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (format, open, parts, cuts) => {
          const text = parts.join('');
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const pieces = points.map((p, i) => text.slice(points[i - 1] ?? 0, p));
          pieces.push(text.slice(points.at(-1) ?? 0));
          expect(parse(format, pieces, open)).toEqual(parse(format, [text], open));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('detects Qwen3 (qwen3) and not Llama 3 from their chat templates', () => {
    const qwen = ChatTemplate.fromTokenizerConfig(tokenizerFiles('qwen3').tokenizerConfigJson);
    const llama = ChatTemplate.fromTokenizerConfig(tokenizerFiles('llama3').tokenizerConfigJson);
    expect(detectReasoningFormat(qwen?.source ?? '')?.name).toBe('qwen3');
    expect(detectReasoningFormat(llama?.source ?? '')).toBeUndefined();
    expect(detectReasoningFormat("{{'<｜Assistant｜>'}}{% if x %}</think>{% endif %}")?.name).toBe(
      'deepseek_r1',
    );
  });
});
