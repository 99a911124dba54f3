// The streaming tool-call parser: generated text in (any split into deltas), content out, complete
// calls collected. Like Dynamo's "jail", a call region is held back from the moment its opening marker
// appears until it is complete, then parsed once: a region that does not parse (invalid JSON, not a
// call), one inside a markdown code fence, or one still open at the end of the stream is released as
// the content it was. Every character is looked at a bounded number of times (a held marker prefix,
// an end marker straddling two deltas), so the cost per delta is proportional to the delta.
//
//   content ──start marker / bare bracket where a call may stand──▶ region
//      ▲                                                              │ end marker / balanced close
//      └──────────── parsed: calls (else the region's text as content) ◀┘
import type { ParsedCall, RegionStart, ToolCallFormat } from './types.js';

const FENCE = '```';
const NAME_CHAR = /[A-Za-z0-9_.-]/;

export class ToolCallParser {
  readonly calls: ParsedCall[] = [];
  /** Content that may be the beginning of a marker. */
  private held = '';
  /** Whitespace (and separators) where a call may stand: dropped if a call follows, else content. */
  private pendingWs = '';
  private atCallPosition = true;
  private afterCall = false;
  private inFence = false;
  private out = '';
  // The open region, if any.
  private inRegion = false;
  private start: RegionStart | undefined;
  /** The text that opened the region (whitespace before it, its marker): content if it fails. */
  private opening = '';
  private body = '';
  private endScanFrom = 0;
  // Balanced-bracket scan of a region without an end marker.
  private depth = 0;
  private quote = '';
  private escaped = false;
  /** RegionStart.namedArgs: characters of the function name seen, and of the token matched. */
  private nameLength = 0;
  private namedArgsAt = 0;
  private readonly longestMarker: number;

  constructor(
    private readonly format: ToolCallFormat,
    /** parallel_tool_calls: false keeps only the first call. */
    private readonly maxCalls = Number.POSITIVE_INFINITY,
  ) {
    this.longestMarker = Math.max(FENCE.length, ...format.starts.map((s) => s.marker.length));
  }

  /** Appends generated text; returns the content it releases. */
  push(text: string): string {
    this.out = '';
    let s = this.held === '' ? text : this.held + text;
    this.held = '';
    while (s !== '') s = this.inRegion ? this.feedRegion(s) : this.feedContent(s);
    return this.out;
  }

  /** The end of the stream: whatever is held or still open is content. */
  finish(): string {
    this.out = '';
    if (this.inRegion) {
      this.inRegion = false;
      this.emit(this.opening + this.body);
    }
    if (this.held !== '') this.emit(this.held);
    this.held = '';
    // Whitespace after the last call is not content; a reply that is only whitespace is.
    if (this.calls.length === 0) this.out += this.pendingWs;
    this.pendingWs = '';
    return this.out;
  }

  private emit(text: string): void {
    if (text === '') return;
    this.out += this.pendingWs + text;
    this.pendingWs = '';
  }

  private feedContent(s: string): string {
    let i = 0;
    if (this.atCallPosition) {
      const seps = this.afterCall ? (this.format.separators ?? '') : '';
      while (i < s.length) {
        const c = s[i] as string;
        if (c === ' ' || c === '\n' || c === '\t' || c === '\r' || (seps !== '' && seps.includes(c))) i++;
        else break;
      }
      if (i > 0) this.pendingWs += s.slice(0, i);
      if (i === s.length) return '';
      if (s[i] === this.format.bareStart) {
        this.openRegion(undefined, '');
        return s.slice(i);
      }
      this.atCallPosition = false;
    }
    let best = -1;
    let found: RegionStart | undefined;
    if (!this.inFence) {
      for (const start of this.format.starts) {
        const j = s.indexOf(start.marker, i);
        if (j >= 0 && (best < 0 || j < best)) {
          best = j;
          found = start;
        }
      }
    }
    const fence = s.indexOf(FENCE, i);
    if (fence >= 0 && (best < 0 || fence < best)) {
      this.emit(s.slice(i, fence + FENCE.length));
      this.inFence = !this.inFence;
      return s.slice(fence + FENCE.length);
    }
    if (found !== undefined) {
      this.emit(s.slice(i, best));
      this.openRegion(found, found.marker);
      return s.slice(best + found.marker.length);
    }
    const hold = this.partialMarkerLength(s, i);
    this.emit(s.slice(i, s.length - hold));
    if (hold > 0) this.held = s.slice(s.length - hold);
    return '';
  }

  /** The longest tail of s[from..] that is a proper prefix of a marker looked for now. */
  private partialMarkerLength(s: string, from: number): number {
    const n = s.length;
    for (let k = Math.min(n - from, this.longestMarker - 1); k > 0; k--) {
      if (this.isMarkerPrefix(s, n - k, k)) return k;
    }
    return 0;
  }

  private isMarkerPrefix(s: string, at: number, k: number): boolean {
    if (prefixAt(FENCE, s, at, k)) return true;
    if (this.inFence) return false;
    for (const start of this.format.starts) if (prefixAt(start.marker, s, at, k)) return true;
    return false;
  }

  private openRegion(start: RegionStart | undefined, marker: string): void {
    this.inRegion = true;
    this.atCallPosition = false;
    this.start = start;
    this.opening = this.pendingWs + marker;
    this.pendingWs = '';
    this.body = '';
    this.endScanFrom = 0;
    this.depth = 0;
    this.quote = '';
    this.escaped = false;
    this.nameLength = 0;
    this.namedArgsAt = 0;
  }

  private feedRegion(s: string): string {
    const end = this.start?.end;
    if (end !== undefined) {
      this.body += s;
      const j = this.body.indexOf(end, this.endScanFrom);
      if (j < 0) {
        this.endScanFrom = Math.max(0, this.body.length - end.length + 1);
        return '';
      }
      const rest = this.body.slice(j + end.length);
      this.closeRegion(this.body.slice(0, j), end);
      return rest;
    }
    // Balanced brackets: strings (either quote, for pythonic) may hold any bracket.
    for (let k = 0; k < s.length; k++) {
      const c = s[k] as string;
      if (this.quote !== '') {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === this.quote) this.quote = '';
        continue;
      }
      const named = this.start?.namedArgs;
      if (named !== undefined && this.depth === 0 && this.namedArgsAt < named.length) {
        // `name[ARGS]` before the group, matched one character at a time (deltas may split it).
        if (this.namedArgsAt > 0) {
          if (c !== named[this.namedArgsAt]) return this.failRegion(s, k);
          this.namedArgsAt++;
          continue;
        }
        if (NAME_CHAR.test(c)) {
          this.nameLength++;
          continue;
        }
        if (c === named[0] && this.nameLength > 0) {
          this.namedArgsAt = 1;
          continue;
        }
      }
      if (c === '"' || c === "'") {
        if (this.depth === 0) return this.failRegion(s, k);
        this.quote = c;
      } else if (c === '{' || c === '[' || c === '(') this.depth++;
      else if (c === '}' || c === ']' || c === ')') {
        if (this.depth === 0) return this.failRegion(s, k);
        if (--this.depth === 0) {
          this.body += s.slice(0, k + 1);
          this.closeRegion(this.body, '');
          return s.slice(k + 1);
        }
      } else if (this.depth === 0 && c !== ' ' && c !== '\n' && c !== '\t' && c !== '\r') {
        return this.failRegion(s, k);
      }
    }
    this.body += s;
    return '';
  }

  /** Text before the region's bracket that is not whitespace: not a call; the rest is content again. */
  private failRegion(s: string, k: number): string {
    this.inRegion = false;
    this.emit(this.opening + this.body + s.slice(0, k));
    return s.slice(k);
  }

  private closeRegion(region: string, end: string): void {
    this.inRegion = false;
    const calls = this.format.parse(region);
    if (calls === undefined) {
      this.emit(this.opening + region + end);
      return;
    }
    for (const call of calls) if (this.calls.length < this.maxCalls) this.calls.push(call);
    this.atCallPosition = true;
    this.afterCall = true;
  }
}

/** Whether s[at..at+k) equals the first k characters of `marker`. */
function prefixAt(marker: string, s: string, at: number, k: number): boolean {
  if (k >= marker.length) return false;
  for (let t = 0; t < k; t++) if (s.charCodeAt(at + t) !== marker.charCodeAt(t)) return false;
  return true;
}
