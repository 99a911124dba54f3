// The tokenizer the frontend encodes prompts and decodes outputs with, behind a small synchronous
// interface. Byte-level BPE (GPT-2, Llama 3, Qwen, ...), SentencePiece-style BPE (Llama 2, Gemma),
// Unigram and WordPiece files run on the project's WASM tokenizer (ids identical to HF `tokenizers`,
// streaming decode); a file it refuses at load (its error names the JSON path) falls back to
// HuggingFace's pure-JS tokenizers, decoded by windows (see detokenizer.ts).
import { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';
import { TokenizerLoadError, Tokenizer as WasmTokenizer } from '../wasm/index.js';

/** Streams ids to text: `push` returns only complete characters. */
export interface StreamDecoder {
  push(id: number): string;
  /** The end of the stream: a dangling partial character becomes U+FFFD. */
  flush(): string;
}

export interface TextTokenizer {
  encode(text: string, addSpecialTokens: boolean): number[];
  decode(ids: readonly number[], skipSpecialTokens: boolean): string;
  /** A streaming decoder (skipping special tokens unless told), when the tokens are plain byte strings. */
  createDecoder?(skipSpecialTokens?: boolean): StreamDecoder;
}

/** Builds a tokenizer from the text of tokenizer.json (and tokenizer_config.json when the model has one). */
export function loadTokenizer(tokenizerJson: string, tokenizerConfigJson: string | null): TextTokenizer {
  let wasm: WasmTokenizer;
  try {
    wasm = WasmTokenizer.fromJSON(tokenizerJson);
  } catch (err) {
    // The WASM tokenizer refuses what it cannot reproduce exactly.
    if (!(err instanceof TokenizerLoadError)) throw err;
    return jsTokenizer(tokenizerJson, tokenizerConfigJson);
  }
  return {
    encode: (text, addSpecialTokens) => Array.from(wasm.encode(text, { addSpecialTokens })),
    decode: (ids, skipSpecialTokens) => wasm.decode(ids, { skipSpecialTokens }),
    createDecoder: (skipSpecialTokens = true) => wasm.createDecoder({ skipSpecialTokens }),
  };
}

function jsTokenizer(tokenizerJson: string, tokenizerConfigJson: string | null): TextTokenizer {
  const tokenizer = new JsTokenizer(
    JSON.parse(tokenizerJson) as object,
    tokenizerConfigJson === null ? {} : (JSON.parse(tokenizerConfigJson) as object),
  );
  return {
    encode: (text, addSpecialTokens) => tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids,
    // Model output is text as the tokens spell it: no clean-up of spaces before punctuation.
    decode: (ids, skipSpecialTokens) =>
      ids.length === 0
        ? ''
        : tokenizer.decode(ids as number[], {
            skip_special_tokens: skipSpecialTokens,
            clean_up_tokenization_spaces: false,
          }),
  };
}
