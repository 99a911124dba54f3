import { text } from 'node:stream/consumers';
import { z } from 'zod';
import { computeBlockHashes } from '../../wasm/index.js';
import { defineCommand } from '../command.js';
import { parseTokenIds } from '../token-ids.js';

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
    const ids = parseTokenIds(await text(process.stdin));
    process.stdout.write(`${JSON.stringify(computeBlockHashes(ids, values.blockSize))}\n`);
    return 0;
  },
});
