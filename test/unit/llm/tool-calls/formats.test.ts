// The tool-call formats through the streaming parser, whole and split into deltas: calls out, and text
// that only looks like a call (code fence, invalid JSON, incomplete at the end) kept as content.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ToolCallParser } from '../../../../src/llm/tool-calls/parser.js';
import { TOOL_CALL_FORMATS } from '../../../../src/llm/tool-calls/registry.js';
import type { ParsedCall } from '../../../../src/llm/tool-calls/types.js';

interface Result {
  content: string;
  calls: ParsedCall[];
}

function parse(format: string, pieces: readonly string[], maxCalls?: number): Result {
  const f = TOOL_CALL_FORMATS.get(format);
  if (f === undefined) throw new Error(format);
  const parser = new ToolCallParser(f, maxCalls);
  let content = '';
  for (const p of pieces) content += parser.push(p);
  content += parser.finish();
  return { content, calls: [...parser.calls] };
}

/** Every split of the text into single characters, and the whole text: the same result. */
function both(format: string, text: string, maxCalls?: number): Result {
  const whole = parse(format, [text], maxCalls);
  expect(parse(format, [...text], maxCalls)).toEqual(whole);
  return whole;
}

const weather = { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' };
const time = { name: 'get_time', arguments: '{"tz":"UTC"}' };

// Outputs in each format, as the models write them (the format of each model's chat template; vLLM's
// tool parser tests for the same formats).
const CASES: Record<string, { text: string; content: string; calls: ParsedCall[] }[]> = {
  hermes: [
    {
      text: '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}\n</tool_call>',
      content: '',
      calls: [weather],
    },
    {
      text:
        'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}\n</tool_call>\n' +
        '<tool_call>\n{"name": "get_time", "arguments": {"tz": "UTC"}}\n</tool_call>',
      content: 'Let me check.\n',
      calls: [weather, time],
    },
  ],
  llama3_json: [
    {
      text: '{"name": "get_weather", "parameters": {"city": "Paris", "unit": "c"}}',
      content: '',
      calls: [weather],
    },
    {
      text: '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris", "unit": "c"}}; {"name": "get_time", "parameters": {"tz": "UTC"}}',
      content: '',
      calls: [weather, time],
    },
  ],
  mistral: [
    {
      text: '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris", "unit": "c"}[TOOL_CALLS]get_time[ARGS]{"tz": "UTC"}',
      content: '',
      calls: [weather, time],
    },
    {
      text: '[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}, {"name": "get_time", "arguments": {"tz": "UTC"}}]',
      content: '',
      calls: [weather, time],
    },
  ],
  deepseek_v3: [
    {
      text:
        '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Paris", "unit": "c"}\n```<｜tool▁call▁end｜>' +
        '<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{"tz": "UTC"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
      content: '',
      calls: [weather, time],
    },
    {
      text: 'Sure.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"tz": "UTC"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
      content: 'Sure.',
      calls: [time],
    },
  ],
  pythonic: [
    {
      text: '[get_weather(city="Paris", unit=\'c\'), get_time(tz="UTC")]',
      content: '',
      calls: [weather, time],
    },
    {
      text: '[f(n=-1.5, ok=True, none=None, tags=["a", \'b\'], opts={"k": [1, 2]})]',
      content: '',
      calls: [
        { name: 'f', arguments: '{"n":-1.5,"ok":true,"none":null,"tags":["a","b"],"opts":{"k":[1,2]}}' },
      ],
    },
  ],
};

describe('tool-call formats', () => {
  for (const [format, cases] of Object.entries(CASES)) {
    it(`${format}: calls, whole and streamed`, () => {
      for (const c of cases) expect(both(format, c.text)).toEqual({ content: c.content, calls: c.calls });
    });
  }

  it('keeps the first call only under parallel_tool_calls: false', () => {
    const text = CASES.hermes?.[1]?.text as string;
    expect(both('hermes', text, 1).calls).toEqual([weather]);
  });

  it('leaves text that only looks like a call as content', () => {
    const asContent = (format: string, text: string) =>
      expect(both(format, text)).toEqual({ content: text, calls: [] });
    // Inside a markdown code fence.
    asContent(
      'hermes',
      'Use it so:\n```\n<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>\n```\ndone',
    );
    asContent('mistral', 'Example: ```[TOOL_CALLS][{"name": "f", "arguments": {}}]```');
    // Invalid JSON, or JSON that is not a call.
    asContent('hermes', '<tool_call>\n{"name": "f", "arguments": {oops}}\n</tool_call>');
    asContent('hermes', '<tool_call>["f"]</tool_call>');
    asContent('llama3_json', '{"city": "Paris"}');
    asContent('mistral', '[TOOL_CALLS] not json');
    asContent('mistral', '[TOOL_CALLS]f[ARGX]{}');
    asContent('mistral', '[TOOL_CALLS]f[ARGS]{"a": }');
    asContent('mistral', '[TOOL_CALLS]f[ARGS]{"a": 1');
    asContent('pythonic', '[1] A footnote, not a call.');
    asContent('pythonic', '[f(x=os.system("ls"))]');
    // Incomplete at the end of the stream.
    asContent('hermes', 'Calling: <tool_call>\n{"name": "get_weather", "arguments": {"ci');
    asContent('llama3_json', '{"name": "get_weather", "parameters": {"city": "Par');
    asContent(
      'deepseek_v3',
      '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{}\n```',
    );
    // A bare bracket only counts where a call may stand (the start of the reply).
    asContent('llama3_json', 'The object is {"name": "f", "parameters": {}}');
    // Plain text with marker look-alikes.
    asContent('hermes', 'a < b and <tool_x> and <tool_cal');
  });

  it('gives the same result for any split of the text into deltas', () => {
    const samples = [
      ...Object.entries(CASES).flatMap(([format, cases]) => cases.map((c) => [format, c.text] as const)),
      [
        'hermes',
        'Hi ```<tool_call>{"name":"f","arguments":{}}</tool_call>``` <tool_call>{"name":"g","arguments":{"a":"}"}}</tool_call> tail <tool_cal',
      ],
      ['llama3_json', '  \n{"name": "f", "parameters": {"s": "a \\" } ]"}} ; {"name": "g"} trailing'],
      ['pythonic', "\n[f(a=\"]\"), g(b='x\\'y')] and more"],
    ] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.array(fc.nat(), { maxLength: 12 }),
        ([format, text], cuts) => {
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const pieces: string[] = [];
          let at = 0;
          for (const p of points) {
            pieces.push(text.slice(at, p));
            at = p;
          }
          pieces.push(text.slice(at));
          expect(parse(format, pieces)).toEqual(parse(format, [text]));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('gives the same result for any split of random marker-laden text', () => {
    const fragments = [
      '<tool_call>',
      '</tool_call>',
      '<tool_',
      'f[ARGS]',
      '[ARG',
      'S]',
      '{"name":"f","arguments":{"a":1}}',
      '{"name":"g"}',
      '```',
      ' ',
      '\n',
      'x',
      '{',
      '}',
      '[',
      ']',
      '"',
      "'",
      '\\',
      ';',
      '[TOOL_CALLS]',
      '<|python_tag|>',
      'f(a=1)',
      '<｜tool▁calls▁begin｜>',
      '<｜tool▁call▁begin｜>',
      'function<｜tool▁sep｜>f\n```json\n{}\n```',
      '<｜tool▁call▁end｜>',
      '<｜tool▁calls▁end｜>',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...TOOL_CALL_FORMATS.keys()),
        fc.array(fc.constantFrom(...fragments), { maxLength: 16 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (format, parts, cuts) => {
          const text = parts.join('');
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const pieces = points.map((p, i) => text.slice(points[i - 1] ?? 0, p));
          pieces.push(text.slice(points.at(-1) ?? 0));
          const whole = parse(format, [text]);
          expect(parse(format, pieces)).toEqual(whole);
          // Nothing is lost: what is not a call comes out as content.
          if (whole.calls.length === 0) expect(whole.content).toBe(text);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
