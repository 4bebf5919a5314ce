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
  });
});
