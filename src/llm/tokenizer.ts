// The tokenizer the frontend encodes prompts and decodes outputs with, behind a small synchronous
// interface so the implementation can change (pure-JS HuggingFace tokenizers now, the project's WASM
// tokenizer when it lands) without touching the preprocessor or the detokenizer.
import { Tokenizer } from '@huggingface/tokenizers';

export interface TextTokenizer {
  encode(text: string, addSpecialTokens: boolean): number[];
  decode(ids: readonly number[], skipSpecialTokens: boolean): string;
}

/** Builds a tokenizer from the text of tokenizer.json (and tokenizer_config.json when the model has one). */
export function loadTokenizer(tokenizerJson: string, tokenizerConfigJson: string | null): TextTokenizer {
  const tokenizer = new Tokenizer(
    JSON.parse(tokenizerJson) as object,
    tokenizerConfigJson === null ? {} : (JSON.parse(tokenizerConfigJson) as object),
  );
  return {
    encode: (text, addSpecialTokens) => tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids,
    decode: (ids, skipSpecialTokens) =>
      ids.length === 0 ? '' : tokenizer.decode(ids as number[], { skip_special_tokens: skipSpecialTokens }),
  };
}
