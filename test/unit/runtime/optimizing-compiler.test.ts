import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BUSY_CHECK_INTERVAL_MS, BUSY_CPU_SHARE, isBusy, turnOnCompilerWhenBusy } from '../../../src/runtime/optimizing-compiler.ts';

describe('isBusy', () => {
  it('is the CPU share of one core over the elapsed time, from the threshold up', () => {
    const threshold = 1_000 * 1_000 * BUSY_CPU_SHARE; // µs of CPU in one second
    expect(isBusy(threshold - 1, 1_000)).toBe(false);
    expect(isBusy(threshold, 1_000)).toBe(true);
    // A blocked event loop stretches the interval: the share, not the sum, decides.
    expect(isBusy(threshold, 2_000)).toBe(false);
    expect(isBusy(2 * threshold, 2_000)).toBe(true);
    expect(isBusy(threshold, 0)).toBe(false);
  });
});

describe('turnOnCompilerWhenBusy', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function harness() {
    let cpu = 0;
    const turnedOn: Array<[number, number]> = [];
    const turnOn = vi.fn();
    const watch = turnOnCompilerWhenBusy({
      cpuMicros: () => cpu,
      now: () => Date.now(),
      turnOn,
      onTurnedOn: (used, elapsed) => turnedOn.push([used, elapsed]),
    });
    return { watch, turnOn, turnedOn, use: (micros: number) => (cpu += micros) };
  }

  it('stays off through idle intervals, however many', () => {
    const { watch, turnOn, use } = harness();
    for (let second = 0; second < 60; second++) {
      use(1_000 * 1_000 * BUSY_CPU_SHARE * 0.9);
      vi.advanceTimersByTime(BUSY_CHECK_INTERVAL_MS);
    }
    expect(turnOn).not.toHaveBeenCalled();
    expect(watch.on).toBe(false);
    watch.stop();
  });

  it('turns on once, at the end of the first busy interval, and stops watching', () => {
    const { watch, turnOn, turnedOn, use } = harness();
    vi.advanceTimersByTime(BUSY_CHECK_INTERVAL_MS);
    use(80_000);
    vi.advanceTimersByTime(BUSY_CHECK_INTERVAL_MS);
    expect(turnOn).toHaveBeenCalledTimes(1);
    expect(turnedOn).toEqual([[80_000, BUSY_CHECK_INTERVAL_MS]]);
    expect(watch.on).toBe(true);
    use(900_000);
    vi.advanceTimersByTime(10 * BUSY_CHECK_INTERVAL_MS);
    expect(turnOn).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('counts each interval on its own: idle CPU does not add up to busy', () => {
    const { turnOn, use, watch } = harness();
    // 40 ms per second for ten seconds is 400 ms in all, but never 5% of any second.
    for (let second = 0; second < 10; second++) {
      use(40_000);
      vi.advanceTimersByTime(BUSY_CHECK_INTERVAL_MS);
    }
    expect(turnOn).not.toHaveBeenCalled();
    watch.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
