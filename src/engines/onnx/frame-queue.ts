// The stream of one request: the engine loop pushes frames, the caller of generate() pulls them. Pushing
// never waits (the loop must not stall on a slow reader); frames waiting for a reader are merged, so a
// slow reader costs one growing frame, not one object per token.
import type { GenerateResponse } from '../../api/index.js';

export class FrameQueue implements AsyncIterable<GenerateResponse> {
  #frames: GenerateResponse[] = [];
  #wake: (() => void) | null = null;

  push(frame: GenerateResponse): void {
    const last = this.#frames.at(-1);
    if (last !== undefined && last.finishReason === undefined && frame.cachedTokens === undefined) {
      last.tokenIds.push(...frame.tokenIds);
      if (frame.finishReason !== undefined) last.finishReason = frame.finishReason;
    } else {
      this.#frames.push(frame);
    }
    this.#wake?.();
    this.#wake = null;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerateResponse> {
    for (;;) {
      const frame = this.#frames.shift();
      if (frame === undefined) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        continue;
      }
      yield frame;
      if (frame.finishReason !== undefined) return;
    }
  }
}
