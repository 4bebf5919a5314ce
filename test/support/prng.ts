// A seeded PRNG for the randomized tests (the handler fuzzer, the cache TTL property test): the
// same seed gives the same sequence, so a failure reproduces from the seed it prints.

/** mulberry32: small, fast, good enough to spread mutations; same seed, same packets. */
export function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (below: number) => Math.floor(next() * below),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}


export type Random = ReturnType<typeof prng>;
