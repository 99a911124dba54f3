import { describe, expect, it } from 'vitest';
import type { ModelCard } from '../../../src/api/index.js';
import { chatCompletionRequestSchema, completionRequestSchema } from '../../../src/api/openai.js';
import { ChatTemplate } from '../../../src/llm/chat-template.js';
import type { ModelResources } from '../../../src/llm/model-resources.js';
import { PromptError, preprocessChat, preprocessCompletion } from '../../../src/llm/preprocessor.js';
import { loadTokenizer } from '../../../src/llm/tokenizer.js';
import { tokenizerFiles } from './fixtures.js';

const files = tokenizerFiles('qwen3');
const model: ModelResources = {
  tokenizer: loadTokenizer(files.tokenizerJson, files.tokenizerConfigJson),
  chatTemplate: ChatTemplate.fromTokenizerConfig(files.tokenizerConfigJson),
};
const card = (contextLength = 100): ModelCard => ({
  name: 'm',
  modelTypes: ['chat', 'completions'],
  engine: 'mocker',
  contextLength,
  kvCacheBlockSize: 16,
  totalKvBlocks: 100,
  maxNumSeqs: 8,
  maxNumBatchedTokens: 512,
  eosTokenIds: [151645],
  tokenizerChecksum: '0'.repeat(64),
  tokenizerConfigChecksum: '0'.repeat(64),
  disaggregationMode: 'agg',
});
const chat = (extra: object) =>
  chatCompletionRequestSchema.parse({ model: 'm', messages: [{ role: 'user', content: 'Hi' }], ...extra });

describe('preprocessChat', () => {
  it('renders, tokenizes without adding special tokens, and maps sampling and stop fields', () => {
    const pre = preprocessChat(
      chat({
        temperature: 0.5,
        top_p: 0.9,
        top_k: -1,
        seed: 7,
        presence_penalty: 1,
        stop: 'END',
        max_tokens: 10,
      }),
      card(),
      model,
    );
    const prompt = '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n';
    expect(pre.tokenIds).toEqual(model.tokenizer.encode(prompt, false));
    expect(pre.sampling).toEqual({ temperature: 0.5, topP: 0.9, seed: 7, presencePenalty: 1 });
    expect(pre.stop).toEqual({ maxTokens: 10, stopTokenIds: [151645] });
    expect(pre.stopStrings).toEqual(['END']);
  });

  it('defaults max tokens to what the context leaves, and honours ignore_eos', () => {
    const pre = preprocessChat(chat({ ignore_eos: true, max_completion_tokens: null }), card(), model);
    expect(pre.stop).toEqual({ maxTokens: 100 - pre.tokenIds.length, ignoreEos: true });
  });

  it('refuses a prompt at the context length and max_tokens past what it leaves', () => {
    const long = chat({ messages: [{ role: 'user', content: 'word '.repeat(200) }] });
    expect(() => preprocessChat(long, card(), model)).toThrow(PromptError);
    try {
      preprocessChat(long, card(), model);
    } catch (err) {
      expect((err as PromptError).kind).toBe('context_too_long');
    }
    try {
      preprocessChat(chat({ max_tokens: 99 }), card(), model);
      expect.unreachable();
    } catch (err) {
      expect((err as PromptError).kind).toBe('max_tokens');
      expect((err as PromptError).param).toBe('max_tokens');
    }
  });

  it('refuses chat for a model without a chat template', () => {
    expect(() => preprocessChat(chat({}), card(), { ...model, chatTemplate: null })).toThrow(
      /no chat template/,
    );
  });
});

describe('preprocessCompletion', () => {
  it('takes text (adding special tokens), token ids, and a batch of one', () => {
    const req = (prompt: unknown) => completionRequestSchema.parse({ model: 'm', prompt });
    expect(preprocessCompletion(req('Hello'), card(), model).tokenIds).toEqual(
      model.tokenizer.encode('Hello', true),
    );
    expect(preprocessCompletion(req([5, 6]), card(), model).tokenIds).toEqual([5, 6]);
    expect(preprocessCompletion(req([[5, 6]]), card(), model).tokenIds).toEqual([5, 6]);
    expect(preprocessCompletion(req(['Hello']), card(), model).tokenIds).toEqual(
      model.tokenizer.encode('Hello', true),
    );
    expect(() => preprocessCompletion(req(''), card(), model)).toThrow(/empty/);
  });
});
