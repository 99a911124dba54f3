// Tool calls and reasoning through the whole frontend, with the openai SDK as the client (create,
// streamed and not, and its chat.completions.stream helper), against scripted workers that answer in
// each format, with the real Qwen3 tokenizer and chat template (auto-detection: hermes + qwen3).

import { createHash } from 'node:crypto';
import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionTool } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_NAMESPACE,
  DEFAULT_WORKER_COMPONENT,
  ENDPOINTS,
  type GenerateResponse,
  generateRequestSchema,
  type ModelFile,
  modelFileRequestSchema,
} from '../../../src/api/index.js';
import { type Frontend, startFrontend } from '../../../src/frontend/index.js';
import type { OutputParserSettings } from '../../../src/llm/tool-calls/chat-output.js';
import { createRuntime, MemoryHub, type Runtime } from '../../../src/runtime/index.js';
import { createLogger } from '../../../src/runtime/logger.js';
import { QWEN, qwenTokenizer, serveTestWorker, testCard } from './test-worker.js';

const log = createLogger({ level: 'silent' });

const tools: ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
];
const WEATHER = { name: 'get_weather', arguments: '{"city":"Paris"}' };
const TIME = { name: 'get_time', arguments: '{}' };

/** Model name → what its worker answers, and the parser the frontend is told to use (else detected). */
const MODELS: Record<
  string,
  { reply: string; parser?: string; calls: (typeof WEATHER)[]; content: string | null }
> = {
  hermes: {
    reply:
      'I will look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>',
    calls: [WEATHER, TIME],
    content: 'I will look.\n',
  },
  mistral: {
    reply: '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]',
    parser: 'mistral',
    calls: [WEATHER],
    content: null,
  },
  mistral11: {
    reply: '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]get_time[ARGS]{}',
    parser: 'mistral',
    calls: [WEATHER, TIME],
    content: null,
  },
  llama: {
    reply: '{"name": "get_weather", "parameters": {"city": "Paris"}}',
    parser: 'llama3_json',
    calls: [WEATHER],
    content: null,
  },
  deepseek: {
    reply:
      '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Paris"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
    parser: 'deepseek_v3',
    calls: [WEATHER],
    content: null,
  },
  pythonic: {
    reply: '[get_weather(city="Paris"), get_time()]',
    parser: 'pythonic',
    calls: [WEATHER, TIME],
    content: null,
  },
  fenced: {
    reply: 'Like this:\n```\n<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>\n```',
    calls: [],
    content: 'Like this:\n```\n<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>\n```',
  },
  thinker: {
    reply:
      '<think>\nThe user wants the weather.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
    calls: [WEATHER],
    content: null,
  },
};

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Model `agent`: calls get_weather, and once the prompt holds the tool's answer (Qwen's template wraps
 * it in <tool_response>), answers in words: one turn of an agent loop.
 */
async function serveAgent(): Promise<void> {
  const runtime = await createRuntime({ log, memory: hub });
  runtimes.push(runtime);
  const ep = (endpoint: string) => ({
    namespace: DEFAULT_NAMESPACE,
    component: DEFAULT_WORKER_COMPONENT,
    endpoint,
  });
  await runtime.serveEndpoint(
    ep(ENDPOINTS.modelFiles),
    async function* (req): AsyncIterable<ModelFile> {
      const content = req.file === 'tokenizer.json' ? QWEN.tokenizerJson : QWEN.tokenizerConfigJson;
      yield { file: req.file, checksum: sha256(content), content };
    },
    { requestSchema: modelFileRequestSchema },
  );
  await runtime.serveEndpoint(
    ep(ENDPOINTS.generate),
    async function* (req): AsyncIterable<GenerateResponse> {
      const prompt = qwenTokenizer.decode(req.tokenIds, false);
      const reply = prompt.includes('<tool_response>\nSunny, 21 C\n</tool_response>')
        ? 'It is sunny in Paris.'
        : '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
      const ids = qwenTokenizer.encode(reply, false);
      for (const [i, id] of ids.entries()) {
        yield i === ids.length - 1 ? { tokenIds: [id], finishReason: 'stop' } : { tokenIds: [id] };
      }
    },
    { requestSchema: generateRequestSchema, card: testCard('agent') },
  );
}

let hub: MemoryHub;
const runtimes: Runtime[] = [];
const frontends: Frontend[] = [];
const clients = new Map<string, OpenAI>();
let requests = 0;

async function frontend(parsers: OutputParserSettings): Promise<OpenAI> {
  const runtime = await createRuntime({ log, memory: hub });
  runtimes.push(runtime);
  const f = await startFrontend(
    {
      host: '127.0.0.1',
      port: 0,
      migrationLimit: 0,
      busyStatusCode: 529,
      bodyLimitBytes: 1 << 20,
      outputParsers: parsers,
    },
    runtime,
    log,
  );
  frontends.push(f);
  for (let i = 0; i <= 500 && f.app.services.registry.list().length <= Object.keys(MODELS).length; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return new OpenAI({ baseURL: `${f.url}/v1`, apiKey: 'unused', maxRetries: 0 });
}

beforeAll(async () => {
  hub = new MemoryHub();
  for (const [name, m] of Object.entries(MODELS)) {
    const runtime = await createRuntime({ log, memory: hub });
    runtimes.push(runtime);
    await serveTestWorker(runtime, { name, reply: m.reply, onRequest: () => requests++ });
  }
  await serveAgent();
  const detected = await frontend({});
  for (const [name, m] of Object.entries(MODELS)) {
    clients.set(name, m.parser === undefined ? detected : await frontend({ toolCallParser: m.parser }));
  }
});

afterAll(async () => {
  await Promise.all(frontends.map((f) => f.close()));
  await Promise.all(runtimes.map((r) => r.close()));
});

const client = (model: string) => clients.get(model) as OpenAI;
const ask = { messages: [{ role: 'user' as const, content: 'Weather in Paris?' }], tools };

/** A streamed reply put together from its chunks, checking the shape OpenAI streams tool calls in. */
async function streamed(model: string, extra: Record<string, unknown> = {}) {
  const stream = await client(model).chat.completions.create({ model, ...ask, ...extra, stream: true });
  let content = '';
  let reasoning = '';
  let finish: string | null = null;
  const calls: { id: string; name: string; arguments: string }[] = [];
  for await (const chunk of stream as AsyncIterable<ChatCompletionChunk>) {
    const choice = chunk.choices[0];
    if (choice === undefined) continue;
    content += choice.delta.content ?? '';
    reasoning += (choice.delta as { reasoning_content?: string }).reasoning_content ?? '';
    for (const d of choice.delta.tool_calls ?? []) {
      if (d.id !== undefined) {
        // The first delta of a call: index, id, type and name, arguments still empty.
        expect(d).toMatchObject({ index: calls.length, type: 'function', function: { arguments: '' } });
        calls.push({ id: d.id, name: d.function?.name ?? '', arguments: '' });
      } else (calls[d.index] as { arguments: string }).arguments += d.function?.arguments ?? '';
    }
    finish = choice.finish_reason ?? finish;
  }
  return { content, reasoning, finish, calls };
}

describe('tool calls through the frontend', () => {
  for (const [model, m] of Object.entries(MODELS)) {
    it(`${model}: unary and streamed give the same calls`, async () => {
      const res = await client(model).chat.completions.create({ model, ...ask });
      const message = res.choices[0]?.message;
      const calls = (message?.tool_calls ?? []).map((c) => {
        expect(c.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
        return c.type === 'function' ? { name: c.function.name, arguments: c.function.arguments } : c;
      });
      expect(calls).toEqual(m.calls);
      expect(message?.content).toBe(m.content);
      const finish = m.calls.length > 0 ? 'tool_calls' : 'stop';
      expect(res.choices[0]?.finish_reason).toBe(finish);

      const s = await streamed(model);
      expect(s.calls.map(({ name, arguments: a }) => ({ name, arguments: a }))).toEqual(m.calls);
      expect(s.content).toBe(m.content ?? '');
      expect(s.finish).toBe(finish);
    });
  }

  it('splits reasoning from the tool call (Qwen3 template: qwen3 reasoning detected)', async () => {
    const res = await client('thinker').chat.completions.create({ model: 'thinker', ...ask });
    const message = res.choices[0]?.message as { reasoning_content?: string };
    expect(message.reasoning_content).toBe('\nThe user wants the weather.\n');
    expect((await streamed('thinker')).reasoning).toBe('\nThe user wants the weather.\n');
  });

  it('works with the SDK stream helper', async () => {
    const names: string[] = [];
    const stream = client('hermes')
      .chat.completions.stream({ model: 'hermes', ...ask })
      .on('tool_calls.function.arguments.done', (e) => names.push(e.name));
    const final = await stream.finalChatCompletion();
    expect(names).toEqual(['get_weather', 'get_time']);
    expect(final.choices[0]?.message.tool_calls?.length).toBe(2);
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it("runs an agent turn with the SDK's runTools helper", async () => {
    const cities: string[] = [];
    const runner = client('hermes').chat.completions.runTools({
      model: 'agent',
      messages: ask.messages,
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'The weather in a city',
            parameters: { type: 'object', properties: { city: { type: 'string' } } },
            parse: (input: string) => JSON.parse(input) as { city: string },
            function: (args: { city: string }) => {
              cities.push(args.city);
              return 'Sunny, 21 C';
            },
          },
        },
      ],
    });
    expect(await runner.finalContent()).toBe('It is sunny in Paris.');
    expect(cities).toEqual(['Paris']);
  });

  it('tool_choice none parses nothing; parallel_tool_calls false keeps the first call', async () => {
    const none = await client('hermes').chat.completions.create({
      model: 'hermes',
      ...ask,
      tool_choice: 'none',
    });
    expect(none.choices[0]?.message.content).toBe(MODELS.hermes?.reply);
    expect(none.choices[0]?.message.tool_calls).toBeUndefined();
    const one = await client('hermes').chat.completions.create({
      model: 'hermes',
      ...ask,
      parallel_tool_calls: false,
    });
    expect(one.choices[0]?.message.tool_calls?.map((c) => c.type === 'function' && c.function.name)).toEqual([
      'get_weather',
    ]);
    expect((await streamed('hermes', { parallel_tool_calls: false })).calls.length).toBe(1);
  });

  it('without tools, a call-looking reply is content', async () => {
    const res = await client('hermes').chat.completions.create({
      model: 'hermes',
      messages: ask.messages,
    });
    expect(res.choices[0]?.message.content).toBe(MODELS.hermes?.reply);
    expect(res.choices[0]?.finish_reason).toBe('stop');
  });

  it('answers 400 naming the field before generating anything', async () => {
    const before = requests;
    const refused = async (body: Record<string, unknown>) => {
      const err = await client('hermes')
        .chat.completions.create({ model: 'hermes', messages: ask.messages, ...body })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      return (err as InstanceType<typeof OpenAI.BadRequestError>).param;
    };
    const badSchema = [
      { type: 'function', function: { name: 'f', parameters: { type: 'object', properties: 3 } } },
    ];
    expect(await refused({ tools: badSchema })).toBe('tools[0].function.parameters');
    expect(await refused({ tools, tool_choice: { type: 'function', function: { name: 'nope' } } })).toBe(
      'tool_choice.function.name',
    );
    expect(await refused({ tool_choice: 'required' })).toBe('tool_choice');
    expect(requests).toBe(before);
  });
});
