// Stop strings, matched on text across token boundaries and never emitted. Text that could be the
// start of a stop string is held back until the next delta decides it. Per token this returns a string
// and sets a flag: no result object per token.
export class StopStringMatcher {
  /** A stop string matched: emit what the last push returned and end the stream. */
  stopped = false;
  private pending = '';
  private readonly maxHold: number;

  constructor(private readonly stops: readonly string[]) {
    let longest = 0;
    for (const s of stops) longest = Math.max(longest, s.length);
    this.maxHold = longest - 1;
  }

  /** The text safe to emit now. */
  push(delta: string): string {
    if (this.stops.length === 0) return delta;
    const text = this.pending + delta;
    const cut = this.firstMatch(text);
    // A stop string starting before the match may still complete (and would win): hold from there.
    const hold = this.heldSuffix(text);
    const holdFrom = text.length - hold;
    if (cut !== -1 && (hold === 0 || holdFrom >= cut)) {
      this.pending = '';
      this.stopped = true;
      return text.slice(0, cut);
    }
    this.pending = hold === 0 ? '' : text.slice(holdFrom);
    return hold === 0 ? text : text.slice(0, holdFrom);
  }

  /** What is held back, for the end of a stream; a stop string inside it still cuts (and stops). */
  flush(): string {
    const text = this.pending;
    this.pending = '';
    const cut = this.firstMatch(text);
    if (cut === -1) return text;
    this.stopped = true;
    return text.slice(0, cut);
  }

  /** Where the earliest stop string in `text` starts, or -1. */
  private firstMatch(text: string): number {
    let cut = -1;
    for (const stop of this.stops) {
      const at = text.indexOf(stop);
      if (at !== -1 && (cut === -1 || at < cut)) cut = at;
    }
    return cut;
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop string (no allocation). */
  private heldSuffix(text: string): number {
    const end = text.length;
    for (let len = Math.min(this.maxHold, end); len > 0; len--) {
      const start = end - len;
      for (const stop of this.stops) {
        if (stop.length <= len) continue;
        let i = 0;
        while (i < len && text.charCodeAt(start + i) === stop.charCodeAt(i)) i++;
        if (i === len) return len;
      }
    }
    return 0;
  }
}
