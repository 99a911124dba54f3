// The tokenizer the frontend encodes prompts and decodes outputs with, behind a small synchronous
// interface so the implementation can change (pure-JS HuggingFace tokenizers now, the project's WASM
// tokenizer when it lands) without touching the preprocessor or the detokenizer.
import { Tokenizer } from '@huggingface/tokenizers';
import { z } from 'zod';

/** Streams ids to text: `push` returns only complete characters. */
export interface StreamDecoder {
  push(id: number): string;
  /** The end of the stream: a dangling partial character becomes U+FFFD. */
  flush(): string;
}

export interface TextTokenizer {
  encode(text: string, addSpecialTokens: boolean): number[];
  decode(ids: readonly number[], skipSpecialTokens: boolean): string;
  /**
   * A streaming decoder that skips special tokens, for tokenizers whose tokens are plain byte strings
   * (byte-level BPE): O(1) per token instead of decoding a window twice.
   */
  createDecoder?(): StreamDecoder;
}

const tokenizerJsonSchema = z.looseObject({
  decoder: z.looseObject({ type: z.string() }).nullish(),
  added_tokens: z
    .array(z.looseObject({ id: z.number(), content: z.string(), special: z.boolean() }))
    .default([]),
});

/** GPT-2's bytes_to_unicode inverted: the byte each character of a byte-level token stands for. */
const CHAR_TO_BYTE = (() => {
  const table = new Int16Array(256 + 68).fill(-1);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[printable ? b : next++] = b;
  }
  return table;
})();
const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();

/** Builds a tokenizer from the text of tokenizer.json (and tokenizer_config.json when the model has one). */
export function loadTokenizer(tokenizerJson: string, tokenizerConfigJson: string | null): TextTokenizer {
  const json = JSON.parse(tokenizerJson) as object;
  const tokenizer = new Tokenizer(
    json,
    tokenizerConfigJson === null ? {} : (JSON.parse(tokenizerConfigJson) as object),
  );
  const facts = tokenizerJsonSchema.parse(json);
  // Model output is text as the tokens spell it: no clean-up of spaces before punctuation.
  const decodeOptions = (skip: boolean) => ({
    skip_special_tokens: skip,
    clean_up_tokenization_spaces: false,
  });
  const adapter: TextTokenizer = {
    encode: (text, addSpecialTokens) => tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids,
    decode: (ids, skipSpecialTokens) =>
      ids.length === 0 ? '' : tokenizer.decode(ids as number[], decodeOptions(skipSpecialTokens)),
  };
  if (facts.decoder?.type !== 'ByteLevel') return adapter;

  const added = new Map(facts.added_tokens.map((t) => [t.id, t] as const));
  const bytesCache = new Map<number, Uint8Array>();
  const bytesOf = (id: number): Uint8Array => {
    let bytes = bytesCache.get(id);
    if (bytes !== undefined) return bytes;
    const addedToken = added.get(id);
    const token = addedToken?.content ?? tokenizer.id_to_token(id);
    if (token === undefined || addedToken?.special === true) bytes = EMPTY;
    else if (addedToken !== undefined) bytes = utf8.encode(token);
    else {
      bytes = new Uint8Array(token.length);
      for (let i = 0; i < token.length; i++) {
        const b = CHAR_TO_BYTE[token.charCodeAt(i)] ?? -1;
        if (b < 0) {
          bytes = utf8.encode(token); // outside the byte alphabet: HF's ByteLevel decoder keeps it as is
          break;
        }
        bytes[i] = b;
      }
    }
    bytesCache.set(id, bytes);
    return bytes;
  };
  adapter.createDecoder = () => {
    const decoder = new TextDecoder('utf-8');
    return {
      push: (id) => decoder.decode(bytesOf(id), { stream: true }),
      flush: () => decoder.decode(),
    };
  };
  return adapter;
}
