// SSE keep-alive while a stream waits for its first token (queued behind busy workers, or a long
// prefill): proxies with idle timeouts would cut a silent stream. One shared interval over the set of
// waiting streams, running only while some stream waits; each tick sends a comment line (`: keep-alive`,
// which SSE clients ignore) to the streams that waited at least half an interval, so a stream's first
// comment comes 0.5–1.5 intervals after it started waiting and then one per interval.
//
//   stream starts waiting ─► add(send) ─► every intervalMs: send() to those waiting ≥ intervalMs/2
//   first frame / error   ─► the function add returned

export const KEEP_ALIVE_COMMENT = ': keep-alive\n\n';

interface Waiting {
  since: number;
  send: () => void;
}

export class SseKeepAlive {
  private readonly waiting = new Set<Waiting>();
  private timer: NodeJS.Timeout | undefined;

  /** 0 turns keep-alive comments off. */
  constructor(private readonly intervalMs: number) {}

  /** A stream starts waiting; `send` writes one comment (opening the response first if need be). */
  add(send: () => void): () => void {
    if (this.intervalMs <= 0) return () => undefined;
    const entry: Waiting = { since: performance.now(), send };
    this.waiting.add(entry);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
    return () => {
      this.waiting.delete(entry);
      if (this.waiting.size === 0) this.stop();
    };
  }

  get size(): number {
    return this.waiting.size;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const due = performance.now() - this.intervalMs / 2;
    for (const entry of this.waiting) if (entry.since <= due) entry.send();
  }
}
