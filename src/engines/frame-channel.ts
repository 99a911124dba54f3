// The stream of one request from an engine loop to its consumer. The loop pushes tokens without
// waiting; the consumer takes everything pending as one frame, so a slow consumer gets fewer, larger
// frames instead of a queue of one-token objects.
import type { FinishReason, GenerateResponse, TokenLogprob } from '../api/index.js';

/** What a last frame may carry besides its finish reason. */
export type LastFrameExtras = Pick<GenerateResponse, 'transfer' | 'transferError'>;

export class FrameChannel {
  #tokens: number[] = [];
  /** Parallel to #tokens when the request asked for logprobs. */
  #logprobs: TokenLogprob[] = [];
  #cachedTokens: number | undefined;
  #finish: FinishReason | undefined;
  #last: LastFrameExtras | undefined;
  #finished = false;
  #wake: (() => void) | undefined;

  /** True once the finish reason is pushed (the consumer may still be reading). */
  get finished(): boolean {
    return this.#finished;
  }

  push(tokenId: number, cachedTokens?: number, logprob?: TokenLogprob): void {
    if (this.#finished) return;
    this.#tokens.push(tokenId);
    if (logprob !== undefined) this.#logprobs.push(logprob);
    if (cachedTokens !== undefined) this.#cachedTokens = cachedTokens;
    this.#notify();
  }

  /** Reports prompt tokens served from the cache without a token (it goes on the next frame). */
  cached(cachedTokens: number): void {
    if (this.#finished) return;
    this.#cachedTokens = cachedTokens;
    this.#notify();
  }

  /** Ends the stream; the first reason wins. `extras` go on the last frame (disaggregated serving). */
  finish(reason: FinishReason, extras?: LastFrameExtras): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#finish = reason;
    this.#last = extras;
    this.#notify();
  }

  /** Waits for tokens or the end; the frame with finishReason is the last. */
  async next(): Promise<GenerateResponse> {
    while (this.#tokens.length === 0 && this.#finish === undefined && this.#cachedTokens === undefined) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    const frame: GenerateResponse = { tokenIds: this.#tokens };
    this.#tokens = [];
    if (this.#logprobs.length > 0) {
      frame.logprobs = this.#logprobs;
      this.#logprobs = [];
    }
    if (this.#cachedTokens !== undefined) frame.cachedTokens = this.#cachedTokens;
    this.#cachedTokens = undefined;
    if (this.#finish !== undefined) {
      frame.finishReason = this.#finish;
      if (this.#last?.transfer !== undefined) frame.transfer = this.#last.transfer;
      if (this.#last?.transferError !== undefined) frame.transferError = this.#last.transferError;
    }
    return frame;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
