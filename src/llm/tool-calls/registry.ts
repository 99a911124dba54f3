// The tool-call formats by name, and which one a model speaks, read from its chat template and
// tokenizer tokens. Detection rules, first match wins (the template text is what tells the model the
// format, so it is the best witness):
//   `<tool_call>` in the template                           → hermes (Qwen 2.5/3, Hermes, QwQ)
//   `[TOOL_CALLS]` in the template or tokens                → mistral
//   `<｜tool▁calls▁begin｜>` in the template or tokens       → deepseek_v3
//   `[func_name1(` or `<|python_start|>` in the template    → pythonic (Llama 3.2 / 4 pythonic templates)
//   `<|python_tag|>` in the template, or a Llama 3 template (`<|start_header_id|>`) that uses tools → llama3_json
//   otherwise none: tools still reach the template, nothing is parsed out of the output.
import { deepseekV3 } from './deepseek-v3.js';
import { hermes } from './hermes.js';
import { llama3Json } from './llama3-json.js';
import { mistral } from './mistral.js';
import { pythonic } from './pythonic.js';
import type { ToolCallFormat } from './types.js';

export const TOOL_CALL_FORMATS: ReadonlyMap<string, ToolCallFormat> = new Map(
  [hermes, llama3Json, mistral, deepseekV3, pythonic].map((f) => [f.name, f] as const),
);

export const TOOL_CALL_PARSER_NAMES = [...TOOL_CALL_FORMATS.keys()];

/** What detection reads: the chat template sources and the tokenizer's added tokens. */
export interface ModelText {
  template: string;
  addedTokens: ReadonlySet<string>;
}

export function detectToolCallFormat(model: ModelText): ToolCallFormat | undefined {
  const t = model.template;
  const has = (s: string) => t.includes(s) || model.addedTokens.has(s);
  if (t.includes('<tool_call>')) return hermes;
  if (has('[TOOL_CALLS]')) return mistral;
  if (has('<｜tool▁calls▁begin｜>')) return deepseekV3;
  if (t.includes('[func_name1(') || t.includes('<|python_start|>')) return pythonic;
  if (t.includes('<|python_tag|>') || (t.includes('<|start_header_id|>') && t.includes('tools'))) {
    return llama3Json;
  }
  return undefined;
}
