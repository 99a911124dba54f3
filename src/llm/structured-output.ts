// response_format → the grammar a worker constrains decoding to (GrammarSpec on the generate request),
// checked before anything is generated: a json_schema's schema must be a JSON Schema (Ajv's draft-07
// meta-schema) that XGrammar can turn into a grammar (its schema converter, run here without a
// vocabulary: the worker compiles against its own). Otherwise a 400 names the schema's field.
import { Ajv } from 'ajv';
import type { GrammarSpec } from '../api/generate.js';
import type { ChatCompletionRequest } from '../api/openai.js';
import { deeperThan } from './tool-calls/request.js';
import { xgrammar } from './xgrammar.js';

export interface StructuredOutputIssue {
  param: string;
  message: string;
}

const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
const MAX_SCHEMA_DEPTH = 64;
const PARAM = 'response_format.json_schema.schema';

/** Schemas XGrammar accepted, by their text: the converter runs once per distinct schema. */
const accepted = new Set<string>();
const ACCEPTED_MAX = 256;

/** The grammar a request asks for (undefined: plain text), or why it cannot be served. */
export async function grammarOf(
  format: ChatCompletionRequest['response_format'],
): Promise<{ grammar?: GrammarSpec; issue?: StructuredOutputIssue }> {
  if (format == null || format.type === 'text') return {};
  const schema = format.type === 'json_schema' ? format.json_schema.schema : undefined;
  if (schema == null) return { grammar: { type: 'json_object' } };
  if (deeperThan(schema, MAX_SCHEMA_DEPTH))
    return { issue: { param: PARAM, message: `nests deeper than ${MAX_SCHEMA_DEPTH} levels` } };
  // The meta-schema is draft-07; a `$schema` naming another draft would make Ajv look it up.
  const { $schema: _ignored, ...rest } = schema;
  if (!ajv.validateSchema(rest)) {
    const e = ajv.errors?.[0];
    const message = `not a valid JSON Schema: ${e?.instancePath || '(root)'} ${e?.message ?? 'is invalid'}`;
    return { issue: { param: PARAM, message } };
  }
  const text = JSON.stringify(schema);
  if (!accepted.has(text)) {
    try {
      const { Grammar } = await xgrammar();
      // The worker's settings (grammar-mask.ts): fixed whitespace, strict.
      const grammar = await Grammar.fromJSONSchema(text, false, undefined, undefined, true);
      grammar.dispose();
    } catch {
      // XGrammar aborts with no message in the error (it prints its reason to stderr).
      const message =
        'the grammar engine (XGrammar) cannot compile this schema (unsupported keyword, pattern or type)';
      return { issue: { param: PARAM, message } };
    }
    if (accepted.size >= ACCEPTED_MAX) accepted.clear();
    accepted.add(text);
  }
  return { grammar: { type: 'json_schema', schema } };
}
