// Time as the mocker sees it: injected, so tests run on a virtual clock and never wait or measure
// wall time.
export interface Clock {
  /** Milliseconds on this clock (any origin). */
  now(): number;
  /** Resolves after `ms` of this clock's time; always yields to the event loop, even for 0 or less. */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) =>
    new Promise((resolve) => {
      if (ms >= 1) setTimeout(resolve, ms);
      else setImmediate(resolve);
    }),
};
