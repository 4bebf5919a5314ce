// TurboFan, V8's optimising compiler, turned on once mesh-dns has work worth optimising.
//
// bin/mesh-dns starts node with --no-turbofan (and --no-maglev), so code runs in V8's interpreter
// and its baseline compiler until this module turns TurboFan on. Why: the first function TurboFan
// optimises pages ~5.4 MiB of TurboFan's own machine code in the node binary in (v8::internal::
// compiler, seen through /proc/<pid>/pagemap), whatever that function is. Loading ~90 modules made
// the ES module loader's functions hot during start; later, polling a registry of 0 agents every
// 2 s made one function "hot and stable" within 10 s (--trace-opt: one compilation), and idle RSS
// went from 59.9 to 66.6 MiB for a poll that costs the interpreter a few milliseconds. So TurboFan
// comes on when the process is busy, judged by the CPU it used: queries at a rate where CPU per
// query matters, a registry of thousands of agents, a burst of forwards. An idle sidecar, or one
// polling a small registry, never pays for the compiler it does not need.
//
// The threshold is 5% of a core averaged over the last 3 seconds, read every 100 ms. Idle, mesh-dns
// uses 0.5-1% (prom-client's event loop delay monitor wakes it every 10 ms; a registry of 10 agents
// polled every 2 s adds little) and the second after start 2-3% on a quiet host (the first sync,
// the snapshot, first calls compiling their bytecode). On a loaded host that second cost more: a
// CI run with the test suite's other files beside it read 51 ms in it, over the 50 ms one-second
// window this module had first, and TurboFan came on while idle. Averaged over 3 s such a one-off
// needs about three times that to count, while work that keeps going still turns TurboFan on soon:
// a burst of 2,000 forwards uses 540 ms within a second (at once), a steady 1,000 queries per
// second 7% of a core (after ~2 s), a registry of 1,000 agents 220 ms per poll. A restart from a
// large snapshot does not wait for any reading: start-up parses the snapshot in one synchronous
// step, 500 ms in the interpreter against 173 ms optimised at 10,000 agents, so main.ts turns
// TurboFan on before it when the file is LARGE_SNAPSHOT_BYTES or more (/ready 0.3-0.5 s sooner).
// The readings cost ~2 ms of CPU per second while not busy (idle 11 against 9 ms/s without them).
// Once on, it stays on: V8 cannot page its code out again, and a loaded server wants optimised code.

/** CPU (user + system, every thread) used within one window that turns TurboFan on: 5% of a core. */
export const BUSY_CPU_MICROS = 150_000;
export const BUSY_WINDOW_MS = 3_000;
/** How often the CPU used is read. */
export const BUSY_CHECK_INTERVAL_MS = 100;
/** A registry snapshot this large (~3,000 agents) turns TurboFan on before start-up loads it. */
export const LARGE_SNAPSHOT_BYTES = 1024 * 1024;

export interface CpuReading {
  /** Monotonic milliseconds. */
  at: number;
  /** Process CPU so far, microseconds. */
  cpuMicros: number;
}

/**
 * Adds `current` to `readings` (oldest first) and drops those the window no longer needs: all but
 * the newest one at or before its start. Returns the CPU used since that one, so over about a
 * window (a whole window plus up to one interval; less only during the first window).
 */
export function cpuOverWindow(readings: CpuReading[], current: CpuReading, windowMs = BUSY_WINDOW_MS): number {
  readings.push(current);
  while (readings.length > 1 && readings[1]!.at <= current.at - windowMs) readings.shift();
  return current.cpuMicros - readings[0]!.cpuMicros;
}

export interface CompilerWhenBusyDeps {
  /** Process CPU so far, microseconds (process.cpuUsage's user + system). */
  cpuMicros(): number;
  /** Monotonic milliseconds. */
  now(): number;
  /** Turns TurboFan on (v8.setFlagsFromString('--turbofan')). */
  turnOn(): void;
  /** Told once, with the CPU used over the window that decided it. */
  onTurnedOn?(cpuMicros: number): void;
  intervalMs?: number;
}

export interface CompilerWhenBusy {
  readonly on: boolean;
  /** Stops watching (shutdown); TurboFan stays as it is. */
  stop(): void;
}

/**
 * Reads the CPU used every interval and turns TurboFan on the first time the last window used
 * BUSY_CPU_MICROS or more. The timer is unref'd: it never keeps the process alive.
 */
export function turnOnCompilerWhenBusy(deps: CompilerWhenBusyDeps): CompilerWhenBusy {
  let on = false;
  const readings: CpuReading[] = [{ at: deps.now(), cpuMicros: deps.cpuMicros() }];
  const timer = setInterval(() => {
    const used = cpuOverWindow(readings, { at: deps.now(), cpuMicros: deps.cpuMicros() });
    if (used < BUSY_CPU_MICROS) return;
    clearInterval(timer);
    on = true;
    deps.turnOn();
    deps.onTurnedOn?.(used);
  }, deps.intervalMs ?? BUSY_CHECK_INTERVAL_MS);
  timer.unref();
  return {
    get on() {
      return on;
    },
    stop: () => clearInterval(timer),
  };
}
