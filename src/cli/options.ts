// The one way a `dynamo` process reads its configuration: each command declares a table of options,
// each option a flag, an optional environment variable and a zod schema. Precedence: flag > env > the
// schema's default. Every value is validated by its schema; a bad one is a UsageError that names the
// flag or the variable it came from, so the process exits non-zero with a message a person can act on.
import { parseArgs } from 'node:util';
import type { z } from 'zod';

export interface OptionSpec<S extends z.ZodType = z.ZodType> {
  /** Flag name without dashes, kebab-case: `http-port` is `--http-port`. */
  flag: string;
  /** One-letter alias. */
  short?: string;
  /** Environment variable read when the flag is absent (DESIGN's DYN_* names). */
  env?: string;
  /** Validates (and coerces) the raw string, or the boolean of a switch; its default is the option's. */
  schema: S;
  description: string;
  /** A switch takes no value: `--x` sets true, `--no-x` false. */
  kind?: 'string' | 'boolean' | 'multiple';
  /** Placeholder shown in help for a value, e.g. `<port>`. */
  placeholder?: string;
}

export type OptionTable = Record<string, OptionSpec>;
export type OptionValues<T extends OptionTable> = { [K in keyof T]: z.output<T[K]['schema']> };

/** A wrong flag, env value or argument: printed without a stack, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off', '']);

function parseBool(raw: string, source: string): boolean {
  const v = raw.trim().toLowerCase();
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw new UsageError(`${source}: expected true or false, got ${JSON.stringify(raw)}`);
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}

/** Parses argv (without the node and script words) against a table; throws UsageError. */
export function parseOptions<T extends OptionTable>(
  table: T,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  { allowPositionals = false }: { allowPositionals?: boolean } = {},
): { values: OptionValues<T>; positionals: string[] } {
  const argsConfig: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const spec of Object.values(table)) {
    const type = spec.kind === 'boolean' ? 'boolean' : 'string';
    argsConfig[spec.flag] = {
      type,
      multiple: spec.kind === 'multiple',
      ...(spec.short ? { short: spec.short } : {}),
    };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: argsConfig,
      strict: true,
      allowPositionals,
      allowNegative: true,
    });
  } catch (err) {
    // node's messages name the flag already ("Unknown option '--prot'").
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }

  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    const fromFlag = parsed.values[spec.flag];
    const envRaw = spec.env === undefined ? undefined : env[spec.env];
    let raw: unknown;
    let source: string;
    if (fromFlag !== undefined) {
      raw = fromFlag;
      source = `--${spec.flag}`;
    } else if (envRaw !== undefined && envRaw !== '') {
      source = `${spec.env}=${JSON.stringify(envRaw)}`;
      if (spec.kind === 'boolean') raw = parseBool(envRaw, source);
      else if (spec.kind === 'multiple') raw = envRaw.split(',').map((s) => s.trim());
      else raw = envRaw;
    } else {
      raw = undefined;
      source = `--${spec.flag}`;
    }
    const result = spec.schema.safeParse(raw);
    if (!result.success) {
      const hint = spec.env && fromFlag === undefined && raw === undefined ? ` (or ${spec.env})` : '';
      throw new UsageError(`${source}${hint}: ${describeIssues(result.error)}`);
    }
    values[key] = result.data;
  }
  return { values: values as OptionValues<T>, positionals: parsed.positionals };
}

function defaultOf(spec: OptionSpec): unknown {
  const result = spec.schema.safeParse(undefined);
  return result.success ? result.data : undefined;
}

/** The option lines of a command's --help. */
export function formatOptions(table: OptionTable): string {
  const rows = Object.values(table).map((spec) => {
    const value =
      spec.kind === 'boolean'
        ? ''
        : ` ${spec.placeholder ?? (spec.kind === 'multiple' ? '<value>...' : '<value>')}`;
    const left = `${spec.short ? `-${spec.short}, ` : '    '}--${spec.flag}${value}`;
    const notes: string[] = [];
    if (spec.env) notes.push(`env ${spec.env}`);
    const def = defaultOf(spec);
    if (def !== undefined && def !== false && !(Array.isArray(def) && def.length === 0)) {
      notes.push(`default ${Array.isArray(def) ? def.join(',') : String(def)}`);
    }
    const right = notes.length > 0 ? `${spec.description} (${notes.join('; ')})` : spec.description;
    return [left, right] as const;
  });
  const width = Math.min(36, Math.max(...rows.map(([l]) => l.length)) + 2);
  return rows
    .map(([l, r]) => `  ${l.padEnd(width)}${l.length >= width ? `\n  ${' '.repeat(width)}` : ''}${r}`)
    .join('\n');
}
