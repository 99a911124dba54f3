// DeepSeek V3 / R1 (vLLM's `deepseek_v3` parser):
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{…}\n```<｜tool▁call▁end｜>…<｜tool▁calls▁end｜>
// and V3.1's shorter `<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{…}<｜tool▁call▁end｜>`.
import { argumentsJson, type ParsedCall, parseJson, type ToolCallFormat } from './types.js';

const CALL_BEGIN = '<｜tool▁call▁begin｜>';
const CALL_END = '<｜tool▁call▁end｜>';
const SEP = '<｜tool▁sep｜>';
/** V3: the name on the first line after the separator, the arguments in a json code fence. */
const V3_BODY = /^([^\n]+)\n```(?:json)?\n([\s\S]*)\n```\s*$/;

function parseOne(entry: string): ParsedCall | undefined {
  const sep = entry.indexOf(SEP);
  if (sep < 0) return undefined;
  const head = entry.slice(0, sep).trim();
  const rest = entry.slice(sep + SEP.length);
  const v3 = head === 'function' ? V3_BODY.exec(rest) : null;
  const name = v3 === null ? head : (v3[1] as string).trim();
  const args = v3 === null ? rest : (v3[2] as string);
  const json = parseJson(args);
  if (name === '' || json === undefined) return undefined;
  const text = argumentsJson(json);
  return text === undefined ? undefined : { name, arguments: text };
}

export const deepseekV3: ToolCallFormat = {
  name: 'deepseek_v3',
  starts: [{ marker: '<｜tool▁calls▁begin｜>', end: '<｜tool▁calls▁end｜>' }],
  parse(region) {
    const calls: ParsedCall[] = [];
    let at = region.indexOf(CALL_BEGIN);
    while (at >= 0) {
      const end = region.indexOf(CALL_END, at);
      if (end < 0) return undefined;
      const call = parseOne(region.slice(at + CALL_BEGIN.length, end));
      if (call === undefined) return undefined;
      calls.push(call);
      at = region.indexOf(CALL_BEGIN, end);
    }
    return calls.length > 0 ? calls : undefined;
  },
};
