// A clock for per-query rate accounting that costs one Date.now() per `resolutionMs` while
// queries arrive, and nothing while idle: the first read in a period takes the time, and a
// ticker invalidates it at the end of each period. Reads in between return the cached value (a
// field read). With the default 10 ms resolution and 1,000 tokens/s, the error is at most 10
// tokens: well under the burst.
//
// The ticker is one interval, kept while the clock is read and cleared after the first period in
// which nobody read it. It was a new setTimeout per period: at 20k qps a new Timeout (and often
// its timer list) every 10 ms, alive at every scavenge of the 1 MiB young generation, so copied
// and promoted: ~0.5 KiB per scavenge (issue 9 item 3).

export interface CoarseClock {
  now(): number;
}

export function createCoarseClock(resolutionMs = 10, read: () => number = Date.now): CoarseClock {
  let cached = -1;
  let ticker: NodeJS.Timeout | null = null;
  const tick = (): void => {
    if (cached < 0 && ticker !== null) {
      // Not read during the last period: idle, so no timer until the next read.
      clearInterval(ticker);
      ticker = null;
    }
    cached = -1;
  };
  return {
    now() {
      if (cached < 0) {
        cached = read();
        ticker ??= setInterval(tick, resolutionMs).unref();
      }
      return cached;
    },
  };
}
