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
// The threshold is 5% of a core over one second. Idle, mesh-dns uses 0.5-1% (prom-client's event
// loop delay monitor wakes it every 10 ms; a registry of 10 agents polled every 2 s adds little) and
// the second after start 2-3% (the first sync, the snapshot); a few thousand queries per second,
// or polls of thousands of agents, use more. Once on, it stays on: V8 cannot page its code out
// again, and optimised code is what a loaded server wants.

/** CPU (user + system, every thread) used over an interval, as a share of one core, that turns it on. */
export const BUSY_CPU_SHARE = 0.05;
/** How often the CPU used is read: the longest a busy process runs without optimised code, about. */
export const BUSY_CHECK_INTERVAL_MS = 1_000;

/** True when `cpuMicros` of CPU over `elapsedMs` of wall time is busy enough for TurboFan. */
export function isBusy(cpuMicros: number, elapsedMs: number): boolean {
  return elapsedMs > 0 && cpuMicros >= elapsedMs * 1_000 * BUSY_CPU_SHARE;
}

export interface CompilerWhenBusyDeps {
  /** Process CPU so far, microseconds (process.cpuUsage's user + system). */
  cpuMicros(): number;
  /** Monotonic milliseconds. */
  now(): number;
  /** Turns TurboFan on (v8.setFlagsFromString('--turbofan')). */
  turnOn(): void;
  /** Told once, with what was measured over the interval that decided it. */
  onTurnedOn?(cpuMicros: number, elapsedMs: number): void;
  intervalMs?: number;
}

export interface CompilerWhenBusy {
  readonly on: boolean;
  /** Stops watching (shutdown); TurboFan stays as it is. */
  stop(): void;
}

/**
 * Reads the CPU used every interval and turns TurboFan on the first time an interval was busy.
 * The timer is unref'd: it never keeps the process alive.
 */
export function turnOnCompilerWhenBusy(deps: CompilerWhenBusyDeps): CompilerWhenBusy {
  let on = false;
  let lastCpu = deps.cpuMicros();
  let lastAt = deps.now();
  const timer = setInterval(() => {
    const cpu = deps.cpuMicros();
    const at = deps.now();
    const usedMicros = cpu - lastCpu;
    const elapsedMs = at - lastAt;
    lastCpu = cpu;
    lastAt = at;
    if (!isBusy(usedMicros, elapsedMs)) return;
    clearInterval(timer);
    on = true;
    deps.turnOn();
    deps.onTurnedOn?.(usedMicros, elapsedMs);
  }, deps.intervalMs ?? BUSY_CHECK_INTERVAL_MS);
  timer.unref();
  return {
    get on() {
      return on;
    },
    stop: () => clearInterval(timer),
  };
}
