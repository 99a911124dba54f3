// Checks of a chat request's tools before anything is generated (400 naming the field): a tool's
// `parameters` must be a JSON Schema (draft-07 meta-schema, as OpenAI's function calling documents) of
// an object; tool_choice other than none needs tools; a named tool_choice must name one of them.
import { Ajv } from 'ajv';
import type { ChatCompletionRequest } from '../../api/openai.js';

export interface ToolRequestIssue {
  param: string;
  message: string;
}

// Only the meta-schema is used (validateSchema): no schema is compiled per request.
const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });

/** Ajv's meta-schema check recurses per level: a body nested ~1000 deep would overflow the stack. */
const MAX_SCHEMA_DEPTH = 64;

/** Whether a JSON value nests deeper than `max` (walked with an explicit stack, not recursion). */
export function deeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [v, depth] = top;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

function schemaIssue(parameters: Record<string, unknown>): string | undefined {
  if (deeperThan(parameters, MAX_SCHEMA_DEPTH)) return `nests deeper than ${MAX_SCHEMA_DEPTH} levels`;
  // The meta-schema is draft-07; a `$schema` naming another draft would make Ajv look it up.
  const { $schema: _ignored, ...schema } = parameters;
  if (!ajv.validateSchema(schema)) {
    const e = ajv.errors?.[0];
    return `not a valid JSON Schema: ${e?.instancePath || '(root)'} ${e?.message ?? 'is invalid'}`;
  }
  if (schema.type !== undefined && schema.type !== 'object') {
    return `must describe an object (type "object"), not ${JSON.stringify(schema.type)}`;
  }
  return undefined;
}

export function checkToolRequest(req: ChatCompletionRequest): ToolRequestIssue | undefined {
  const tools = req.tools ?? [];
  for (let i = 0; i < tools.length; i++) {
    const parameters = tools[i]?.function.parameters;
    if (parameters === null || parameters === undefined) continue;
    const issue = schemaIssue(parameters);
    if (issue !== undefined) return { param: `tools[${i}].function.parameters`, message: issue };
  }
  const choice = req.tool_choice;
  if (choice === null || choice === undefined || choice === 'none') return undefined;
  if (tools.length === 0) {
    return { param: 'tool_choice', message: 'tool_choice is only allowed when tools are specified' };
  }
  if (typeof choice === 'object' && !tools.some((t) => t.function.name === choice.function.name)) {
    return {
      param: 'tool_choice.function.name',
      message: `tool_choice names function ${JSON.stringify(choice.function.name)}, which is not in tools`,
    };
  }
  return undefined;
}
