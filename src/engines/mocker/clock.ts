// Time as the mocker sees it: injected, so tests run on a virtual clock and never wait or measure
// wall time.
export interface Clock {
  /** Resolves after `ms` of this clock's time; always yields to the event loop, even for 0. */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  sleep: (ms) =>
    new Promise((resolve) => {
      if (ms > 0) setTimeout(resolve, ms);
      else setImmediate(resolve);
    }),
};
