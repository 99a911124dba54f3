// Incremental detokenization: turns a stream of token ids into a stream of text deltas. Byte-level
// tokenizers stream each token's bytes through a UTF-8 decoder (O(1) per token). Otherwise decoding one
// token alone is wrong in general (a character can span several byte-level tokens; SentencePiece drops
// a leading space), so each step decodes a small window twice, as vLLM and TGI do:
//
//   ids: … [prefixOffset ……… readOffset) [new tokens]
//          └ already emitted ┘
//   delta = decode(prefix..end) minus decode(prefix..read), held back while it ends in U+FFFD
//   (an incomplete UTF-8 sequence that the next token completes).
import type { StreamDecoder, TextTokenizer } from './tokenizer.js';

const REPLACEMENT = '\uFFFD';

export class IncrementalDetokenizer {
  private readonly stream: StreamDecoder | undefined;
  private readonly ids: number[];
  private prefixOffset = 0;
  private readOffset: number;

  /**
   * @param context the last few prompt tokens, so the first output token decodes as it does in context
   *   (a leading space, a continued character). Byte-level tokenizers need none.
   */
  constructor(
    private readonly tokenizer: TextTokenizer,
    context: readonly number[] = [],
    /** false keeps special tokens in the text (vLLM's skip_special_tokens). */
    private readonly skipSpecialTokens = true,
  ) {
    this.stream = tokenizer.createDecoder?.(skipSpecialTokens);
    this.ids = this.stream === undefined ? context.slice(-4) : [];
    this.readOffset = this.ids.length;
  }

  /** Appends tokens; returns the text they complete (possibly empty). */
  push(tokenIds: readonly number[]): string {
    if (this.stream !== undefined) {
      if (tokenIds.length === 1) return this.stream.push(tokenIds[0] as number);
      let out = '';
      for (const id of tokenIds) out += this.stream.push(id);
      return out;
    }
    for (const id of tokenIds) this.ids.push(id);
    if (this.ids.length === this.readOffset) return '';
    const prefix =
      this.readOffset > this.prefixOffset
        ? this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset), this.skipSpecialTokens)
        : '';
    const full = this.tokenizer.decode(this.ids.slice(this.prefixOffset), this.skipSpecialTokens);
    if (full.length <= prefix.length || full.endsWith(REPLACEMENT)) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    // Drop what is emitted: only the window matters, and a long generation should not grow the array.
    if (this.prefixOffset > 64) {
      this.ids.splice(0, this.prefixOffset);
      this.readOffset -= this.prefixOffset;
      this.prefixOffset = 0;
    }
    return full.slice(prefix.length);
  }

  /** Text still held back at the end of the stream (an incomplete character), replacement chars included. */
  flush(): string {
    if (this.stream !== undefined) return this.stream.flush();
    if (this.ids.length === this.readOffset) return '';
    const prefix = this.tokenizer.decode(
      this.ids.slice(this.prefixOffset, this.readOffset),
      this.skipSpecialTokens,
    );
    const full = this.tokenizer.decode(this.ids.slice(this.prefixOffset), this.skipSpecialTokens);
    this.prefixOffset = this.readOffset = this.ids.length;
    return full.length > prefix.length ? full.slice(prefix.length) : '';
  }
}
