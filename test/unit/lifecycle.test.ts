// The shutdown sequence without a process: phases in order, the lame duck's length, and what a
// repeated stop signal does (src/lifecycle.ts header). The clock is injected; timers are faked.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createShutdownSequence, DUPLICATE_SIGNAL_WINDOW_MS, type ShutdownPhase } from '../../src/lifecycle.ts';

let clock = 0;

beforeEach(() => {
  vi.useFakeTimers();
  clock = 0;
});
afterEach(() => {
  vi.useRealTimers();
});

function sequenceUnderTest(lameDuckMs: number) {
  const phases: ShutdownPhase[] = [];
  let stops = 0;
  let releaseStop!: () => void;
  const sequence = createShutdownSequence({
    lameDuckMs,
    stop: () => {
      stops++;
      return new Promise<void>((resolve) => (releaseStop = resolve));
    },
    onPhase: (phase) => phases.push(phase),
    now: () => clock,
  });
  return { sequence, phases, stops: () => stops, releaseStop: () => releaseStop() };
}

/** Advances the injected clock and the faked timers together. */
async function advance(ms: number): Promise<void> {
  clock += ms;
  await vi.advanceTimersByTimeAsync(ms);
}

describe('shutdown sequence', () => {
  it('serving → lame duck for exactly lameDuck → draining (stop called once) → stopped', async () => {
    const { sequence, phases, stops, releaseStop } = sequenceUnderTest(2000);
    expect(sequence.phase()).toBe('serving');
    expect(sequence.signal('SIGTERM')).toBe('began');
    expect(sequence.phase()).toBe('lame_duck');
    await advance(1999);
    expect(sequence.phase()).toBe('lame_duck');
    expect(stops()).toBe(0);
    await advance(1);
    expect(sequence.phase()).toBe('draining');
    expect(stops()).toBe(1);
    let finished = false;
    void sequence.finished.then(() => (finished = true));
    await advance(0);
    expect(finished).toBe(false);
    releaseStop();
    await advance(0);
    expect(finished).toBe(true);
    expect(phases).toEqual(['lame_duck', 'draining', 'stopped']);
  });

  it('lameDuck 0: straight to draining', async () => {
    const { sequence, phases, stops } = sequenceUnderTest(0);
    expect(sequence.signal('SIGINT')).toBe('began');
    expect(phases).toEqual(['draining']);
    expect(stops()).toBe(1);
  });

  it('a repeat within the duplicate window is the same request: the lame duck goes on', async () => {
    const { sequence, stops } = sequenceUnderTest(2000);
    sequence.signal('SIGTERM');
    await advance(DUPLICATE_SIGNAL_WINDOW_MS - 1);
    expect(sequence.signal('SIGTERM')).toBe('duplicate');
    expect(sequence.signal('SIGINT')).toBe('duplicate');
    expect(sequence.phase()).toBe('lame_duck');
    expect(stops()).toBe(0);
  });

  it('a later SIGTERM during the lame duck ends it at once; during draining it is ignored', async () => {
    const { sequence, phases, stops } = sequenceUnderTest(10_000);
    sequence.signal('SIGTERM');
    await advance(DUPLICATE_SIGNAL_WINDOW_MS);
    expect(sequence.signal('SIGTERM')).toBe('lame_duck_ended');
    await advance(0);
    expect(sequence.phase()).toBe('draining');
    expect(stops()).toBe(1);
    expect(sequence.signal('SIGTERM')).toBe('ignored');
    expect(stops()).toBe(1);
    // The lame duck's timer was cleared: nothing fires later.
    expect(vi.getTimerCount()).toBe(0);
    expect(phases).toEqual(['lame_duck', 'draining']);
  });

  it('a later SIGINT is someone insisting, in any phase', async () => {
    const { sequence } = sequenceUnderTest(10_000);
    sequence.signal('SIGINT');
    await advance(DUPLICATE_SIGNAL_WINDOW_MS);
    expect(sequence.signal('SIGINT')).toBe('insisted');
  });

  it('begin() without a signal runs the same sequence, once', async () => {
    const { sequence, stops } = sequenceUnderTest(100);
    const first = sequence.begin();
    expect(sequence.begin()).toBe(first);
    await advance(100);
    expect(stops()).toBe(1);
  });
});
