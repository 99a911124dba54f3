import { text } from 'node:stream/consumers';
import { z } from 'zod';
import { computeBlockHashes } from '../../wasm/index.js';
import { defineCommand } from '../command.js';
import { UsageError } from '../options.js';

const TOKEN_IDS = z.array(z.number().int().min(0).max(0xffffffff));

export const command = defineCommand({
  name: 'hash',
  summary: 'print the KV block hashes (local and sequence) of a JSON array of token ids read on stdin',
  usage: '--block-size <n> < ids.json',
  details:
    'Example:\n  echo [1,2,3,4] | dynamo hash --block-size 4\n  {"local":["cb38e4d7fb2dca5c"],"sequence":["cb38e4d7fb2dca5c"]}',
  options: {
    blockSize: {
      flag: 'block-size',
      env: 'DYN_KV_BLOCK_SIZE',
      schema: z.coerce.number().int().min(1).max(65536).default(64),
      description: 'tokens per KV block; a trailing partial block is not hashed',
      placeholder: '<n>',
    },
  },
  async run(values) {
    let ids: unknown;
    try {
      ids = JSON.parse(await text(process.stdin));
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
    process.stdout.write(`${JSON.stringify(computeBlockHashes(parsed.data, values.blockSize))}\n`);
    return 0;
  },
});
