import { text } from 'node:stream/consumers';
import { z } from 'zod';
import { Tokenizer, TokenizerLoadError } from '../../wasm/index.js';
import { defineCommand } from '../command.js';
import { UsageError } from '../options.js';
import { parseTokenIds } from '../token-ids.js';

export const command = defineCommand({
  name: 'tokenize',
  summary: 'encode text read on stdin to a JSON array of token ids (or --decode them back)',
  usage: '--tokenizer <tokenizer.json> [--add-special-tokens | --decode [--skip-special-tokens]] < input',
  details:
    'Examples:\n  echo -n "Hello world" | dynamo tokenize --tokenizer tokenizer.json\n  [9707,1879]\n  echo [9707,1879] | dynamo tokenize --tokenizer tokenizer.json --decode\n  Hello world',
  options: {
    tokenizer: {
      flag: 'tokenizer',
      env: 'DYN_TOKENIZER',
      schema: z.string({ error: 'required: the path of a tokenizer.json' }).min(1),
      description: 'HuggingFace tokenizer.json (BPE byte-level or SentencePiece-style, Unigram, WordPiece)',
      placeholder: '<file>',
    },
    addSpecialTokens: {
      flag: 'add-special-tokens',
      kind: 'boolean',
      schema: z.boolean().default(false),
      description: "add the post-processor's special tokens (e.g. BOS)",
    },
    decode: {
      flag: 'decode',
      kind: 'boolean',
      schema: z.boolean().default(false),
      description: 'read a JSON array of ids and print their text',
    },
    skipSpecialTokens: {
      flag: 'skip-special-tokens',
      kind: 'boolean',
      schema: z.boolean().default(false),
      description: 'with --decode, leave special tokens out',
    },
  },
  async run(values) {
    let tokenizer: Tokenizer;
    try {
      tokenizer = Tokenizer.fromFile(values.tokenizer);
    } catch (err) {
      if (err instanceof TokenizerLoadError || (err instanceof Error && 'code' in err)) {
        throw new UsageError(`--tokenizer ${values.tokenizer}: ${err.message}`);
      }
      throw err;
    }
    const input = await text(process.stdin);
    if (!values.decode) {
      process.stdout.write(
        `${JSON.stringify(Array.from(tokenizer.encode(input, { addSpecialTokens: values.addSpecialTokens })))}\n`,
      );
      return 0;
    }
    const ids = parseTokenIds(input);
    process.stdout.write(tokenizer.decode(ids, { skipSpecialTokens: values.skipSpecialTokens }));
    return 0;
  },
});
