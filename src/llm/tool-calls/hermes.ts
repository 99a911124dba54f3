// Hermes / Qwen 2.5 / Qwen 3: `<tool_call>\n{"name": "f", "arguments": {…}}\n</tool_call>`, one block
// per call (vLLM's `hermes` parser; the format Qwen's chat template describes).
import { callFromObject, parseJson, type ToolCallFormat } from './types.js';

export const hermes: ToolCallFormat = {
  name: 'hermes',
  starts: [{ marker: '<tool_call>', end: '</tool_call>' }],
  parse(region) {
    const call = callFromObject(parseJson(region));
    return call === undefined ? undefined : [call];
  },
};
