// The shape every tool-call format shares: where a call region opens and ends in the generated text,
// and how a complete region becomes calls. The streaming machine (parser.ts) is format-agnostic.

/** One call as the model wrote it: `arguments` is a JSON object text (OpenAI's `function.arguments`). */
export interface ParsedCall {
  name: string;
  arguments: string;
}

/** A marker that opens a call region, and what closes it. */
export interface RegionStart {
  marker: string;
  /** The marker that closes the region; absent: the first balanced bracket group after `marker` does. */
  end?: string;
  /**
   * Balanced regions only: the group may instead follow a function name and this token
   * (Mistral's newer `[TOOL_CALLS]name[ARGS]{…}`).
   */
  namedArgs?: string;
}

export interface ToolCallFormat {
  /** The `--tool-call-parser` name (Dynamo's / vLLM's where one exists). */
  readonly name: string;
  /** Markers that open a region anywhere in the content, outside markdown code fences. */
  readonly starts: readonly RegionStart[];
  /**
   * A region may also open with this bracket where a call may stand: at the start of the output or
   * right after a call (Llama 3 JSON, pythonic); it ends with its balanced close.
   */
  readonly bareStart?: '{' | '[';
  /** Characters skipped between consecutive calls besides whitespace (Llama 3's `;`). */
  readonly separators?: string;
  /**
   * The calls of one complete region (its text between the markers; a bare region includes its
   * bracket), or undefined when it is not a well-formed call: then it stays content.
   */
  parse(region: string): ParsedCall[] | undefined;
}

/** `arguments` as OpenAI sends it: the JSON text of an object (`{}` when the model gave none). */
export function argumentsJson(value: unknown): string | undefined {
  if (value === undefined || value === null) return '{}';
  if (typeof value === 'string') {
    // Some models write the arguments as a JSON string holding the object.
    try {
      return argumentsJson(JSON.parse(value));
    } catch {
      return undefined;
    }
  }
  if (typeof value !== 'object' || Array.isArray(value)) return undefined;
  return JSON.stringify(value);
}

/** `{"name": …, "arguments"|"parameters": {…}}`, the object Hermes, Llama 3 and Mistral share. */
export function callFromObject(value: unknown): ParsedCall | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const o = value as Record<string, unknown>;
  if (typeof o.name !== 'string' || o.name === '') return undefined;
  const args = argumentsJson('arguments' in o ? o.arguments : o.parameters);
  return args === undefined ? undefined : { name: o.name, arguments: args };
}

/** JSON.parse that answers undefined instead of throwing (invalid JSON stays content). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
