// The coarse clock reads the real clock once per resolution period while it is read, not once
// per query.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCoarseClock } from '../../../src/ratelimit/coarse-clock.ts';

describe('coarse clock', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads the time once per period, however often it is asked, and again after the period', () => {
    let reads = 0;
    let time = 1_000;
    const clock = createCoarseClock(10, () => {
      reads++;
      return time;
    });
    for (let index = 0; index < 10_000; index++) expect(clock.now()).toBe(1_000);
    expect(reads).toBe(1);
    time = 1_010;
    vi.advanceTimersByTime(10);
    expect(clock.now()).toBe(1_010);
    expect(reads).toBe(2);
    // Idle: no timer left armed once the period passed unread.
    vi.advanceTimersByTime(1_000);
    expect(vi.getTimerCount()).toBe(0);
    time = 2_000;
    expect(clock.now()).toBe(2_000);
    expect(reads).toBe(3);
  });

  it('keeps one timer while it is read in every period (no new timer per period), then lets it go', () => {
    let time = 0;
    const clock = createCoarseClock(10, () => time);
    const timers = new Set<unknown>();
    const realSetInterval = globalThis.setInterval;
    const spy = vi.spyOn(globalThis, 'setInterval').mockImplementation(((...args: Parameters<typeof setInterval>) => {
      const timer = realSetInterval(...args);
      timers.add(timer);
      return timer;
    }) as typeof setInterval);
    const spyTimeout = vi.spyOn(globalThis, 'setTimeout');
    for (let period = 0; period < 100; period++) {
      time = period * 10;
      expect(clock.now()).toBe(period * 10);
      expect(clock.now()).toBe(period * 10);
      vi.advanceTimersByTime(10);
    }
    expect(timers.size).toBe(1);
    expect(spyTimeout).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(20);
    expect(vi.getTimerCount()).toBe(0);
    spy.mockRestore();
    spyTimeout.mockRestore();
  });
});
