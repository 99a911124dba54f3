// Mistral (vLLM's `mistral` parser): `[TOOL_CALLS][{"name": "f", "arguments": {…}}, …]` (Mistral 7B
// v0.3 / Nemo / Small templates), and the newer tokenizers' `[TOOL_CALLS]f[ARGS]{…}`, one marker per
// call (Mistral Small 3.2, Devstral, Magistral). `[TOOL_CALLS]` is a special token in Mistral's tokenizers.
import { argumentsJson, callFromObject, type ParsedCall, parseJson, type ToolCallFormat } from './types.js';

const ARGS = '[ARGS]';
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function namedCall(region: string): ParsedCall[] | undefined {
  const at = region.indexOf(ARGS);
  const name = region.slice(0, at).trim();
  const json = parseJson(region.slice(at + ARGS.length));
  if (at < 0 || !NAME.test(name) || json === undefined) return undefined;
  const args = argumentsJson(json);
  return args === undefined ? undefined : [{ name, arguments: args }];
}

export const mistral: ToolCallFormat = {
  name: 'mistral',
  starts: [{ marker: '[TOOL_CALLS]', namedArgs: ARGS }],
  parse(region) {
    const first = region.trimStart()[0];
    if (first !== '[' && first !== '{') return namedCall(region);
    const value = parseJson(region);
    const list = Array.isArray(value) ? value : [value];
    const calls: ParsedCall[] = [];
    for (const item of list) {
      const call = callFromObject(item);
      if (call === undefined) return undefined;
      calls.push(call);
    }
    return calls.length > 0 ? calls : undefined;
  },
};
