// Llama 3.1 / 3.2 JSON tool calls: `{"name": "f", "parameters": {…}}` as the whole reply, optionally
// after `<|python_tag|>` (a special token: gone when special tokens are skipped), several separated by
// `;` (vLLM's `llama3_json` parser).
import { callFromObject, parseJson, type ToolCallFormat } from './types.js';

export const llama3Json: ToolCallFormat = {
  name: 'llama3_json',
  starts: [{ marker: '<|python_tag|>' }],
  bareStart: '{',
  separators: ';',
  parse(region) {
    const call = callFromObject(parseJson(region));
    return call === undefined ? undefined : [call];
  },
};
