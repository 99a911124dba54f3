// Token ids read as a JSON array on stdin (`dynamo hash`, `dynamo tokenize --decode`): a bad input is a
// UsageError that says where it went wrong (`stdin[3]: ...`).
import { z } from 'zod';
import { UsageError } from './options.js';

const TOKEN_IDS = z.array(z.number().int().min(0).max(0xffffffff));

export function parseTokenIds(input: string): number[] {
  let ids: unknown;
  try {
    ids = JSON.parse(input);
  } catch (err) {
    throw new UsageError(
      `stdin: expected a JSON array of token ids: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const parsed = TOKEN_IDS.safeParse(ids);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(
      `stdin${issue?.path.map((p) => `[${String(p)}]`).join('') ?? ''}: ${issue?.message ?? 'expected a JSON array of token ids'}`,
    );
  }
  return parsed.data;
}
