// POST /v1/responses, the stateless subset (issue 21 item 5), driven by the openai SDK's own Responses
// helpers: responses.create (unary and streamed) and responses.stream, which checks every event's
// indexes and item ids against its snapshot and fails on a malformed stream.
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateRequest } from '../../../src/api/index.js';
import { startTestFrontend, type TestFrontend } from './test-frontend.js';
import { qwenTokenizer } from './test-worker.js';

const REPLY = 'Hello there, how are you today?';

describe('/v1/responses', () => {
  let client: OpenAI;
  const seen: GenerateRequest[] = [];

  let t: TestFrontend;

  beforeAll(async () => {
    t = await startTestFrontend({ reply: REPLY, onRequest: (r) => seen.push(r) });
    client = t.client;
  });
  afterAll(() => t.close());

  it('answers text input with a completed response object', async () => {
    seen.length = 0;
    const res = await client.responses.create({
      model: 'test-model',
      input: 'Hi',
      instructions: 'Be brief.',
    });
    expect(res.object).toBe('response');
    expect(res.id).toMatch(/^resp_/);
    expect(res.status).toBe('completed');
    expect(res.output_text).toBe(REPLY);
    expect(res.instructions).toBe('Be brief.');
    expect(res.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed' });
    // Instructions are a system message before the input, rendered by the chat template.
    const prompt =
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n';
    expect(seen[0]?.tokenIds).toEqual(qwenTokenizer.encode(prompt, false));
    const inputTokens = seen[0]?.tokenIds.length ?? 0;
    const outputTokens = qwenTokenizer.encode(REPLY, false).length + 1;
    expect(res.usage).toMatchObject({
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      total_tokens: inputTokens + outputTokens,
      input_tokens_details: { cached_tokens: 0 },
    });
  });

  it('takes a message list with text parts, and max_output_tokens', async () => {
    seen.length = 0;
    const res = await client.responses.create({
      model: 'test-model',
      input: [
        { role: 'user', content: 'Hi' },
        {
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          status: 'completed',
          content: [{ type: 'output_text', text: 'Hey', annotations: [] }],
        },
        { role: 'user', content: [{ type: 'input_text', text: 'Again' }] },
      ],
      max_output_tokens: 3,
      temperature: 0.5,
      top_p: 0.9,
    });
    expect(res.status).toBe('incomplete');
    expect(res.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(res.usage?.output_tokens).toBe(3);
    expect(res.temperature).toBe(0.5);
    expect(seen[0]?.sampling).toMatchObject({ temperature: 0.5, topP: 0.9 });
    expect(seen[0]?.stop.maxTokens).toBe(3);
    const prompt = qwenTokenizer.decode(seen[0]?.tokenIds ?? [], false);
    expect(prompt).toContain('<|im_start|>assistant\nHey<|im_end|>');
    expect(prompt).toContain('<|im_start|>user\nAgain<|im_end|>');
  });

  it('streams the events the SDK stream helper accumulates', async () => {
    const stream = client.responses.stream({ model: 'test-model', input: 'Hi' });
    const types: string[] = [];
    let deltas = '';
    stream.on('response.output_text.delta', (e) => {
      deltas += e.delta;
    });
    for await (const event of stream) types.push(event.type);
    const final = await stream.finalResponse();
    expect(final.output_text).toBe(REPLY);
    expect(final.status).toBe('completed');
    expect(final.usage?.output_tokens).toBeGreaterThan(0);
    expect(deltas).toBe(REPLY);
    expect(types.slice(0, 4)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
    ]);
    expect(types.slice(-4)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
  });

  it('streams with responses.create({ stream: true }), sequence numbers rising', async () => {
    const stream = await client.responses.create({
      model: 'test-model',
      input: 'Hi',
      stream: true,
      max_output_tokens: 2,
    });
    const seqs: number[] = [];
    let last = '';
    for await (const event of stream) {
      seqs.push(event.sequence_number);
      last = event.type;
    }
    expect(seqs).toEqual(seqs.map((_, i) => i));
    expect(last).toBe('response.incomplete');
  });

  it('refuses what a stateless server cannot do, naming the field', async () => {
    await expect(
      client.responses.create({ model: 'test-model', input: 'Hi', store: true }),
    ).rejects.toMatchObject({ status: 400, param: 'store', code: 'unsupported_parameter' });
    await expect(
      client.responses.create({ model: 'test-model', input: 'Hi', previous_response_id: 'resp_1' }),
    ).rejects.toMatchObject({ status: 400, param: 'previous_response_id' });
    await expect(
      client.responses.create({
        model: 'test-model',
        input: [{ type: 'function_call_output', call_id: 'c', output: 'x' }],
      }),
    ).rejects.toMatchObject({ status: 400, param: 'input[0].type' });
    await expect(client.responses.create({ model: 'nope', input: 'Hi' })).rejects.toMatchObject({
      status: 404,
    });
  });

  it('accepts store: false and the caller fields', async () => {
    const res = await client.responses.create({
      model: 'test-model',
      input: 'Hi',
      store: false,
      user: 'u',
      metadata: { a: 'b' },
      prompt_cache_key: 'k',
      safety_identifier: 's',
    });
    expect(res.output_text).toBe(REPLY);
    expect(res.metadata).toEqual({ a: 'b' });
  });
});
