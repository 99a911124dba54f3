// Server-side lifecycle of one served endpoint, shared by both request-plane backends: accept or
// refuse new requests, track the in-flight ones, resolve `drained()` when none is left.
import type { ServedEndpoint } from './request-plane.js';

export interface InflightStream {
  /** Ends the stream from the server side (shutdown): the caller sees `disconnected`. */
  disconnect(reason: string): void;
}

export class Inflight<S extends InflightStream> {
  accepting = true;
  private readonly active = new Set<S>();
  private waiters: (() => void)[] = [];

  get size(): number {
    return this.active.size;
  }

  add(stream: S): void {
    this.active.add(stream);
  }

  delete(stream: S): void {
    if (!this.active.delete(stream) || this.active.size > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  drained(): Promise<void> {
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  disconnectAll(reason: string): void {
    for (const stream of [...this.active]) stream.disconnect(reason);
  }
}

/** The ServedEndpoint methods both backends share; `stop` removes the endpoint from its transport. */
export function servedEndpoint(
  instance: ServedEndpoint['instance'],
  inflight: Inflight<InflightStream>,
  stop: () => Promise<void>,
): ServedEndpoint {
  return {
    instance,
    stopAccepting: () => {
      inflight.accepting = false;
    },
    drained: () => inflight.drained(),
    close: async () => {
      inflight.accepting = false;
      inflight.disconnectAll('the instance stopped serving before the stream ended');
      await stop();
    },
  };
}
