// A memory-reducing full garbage collection once mesh-dns has grown and then gone quiet.
//
// After a burst (thousands of agents loaded, 100,000 names forwarded) V8 keeps the heap pages it
// grew into, and the freed buffers' malloc memory, resident: 10,000 agents + 100,000 names held
// 141-145 MiB and still did 40 s later (npm run bench:memory). V8 has a memory reducer for exactly
// this, but it never ran: --trace-memory-reducer printed "high alloc, foreground" every 8 s, the
// registry's polls (a 10,000-agent body every 2 s) allocating too fast for it to call the isolate
// idle. One "last resort" collection (V8's gc extension, which compacts every page and releases
// the pooled ones) took that process to 106-113 MiB, and it stayed there 30 s later. Smaller
// processes hold less slack: 5,000 agents + 50,000 names gave back 3.3 MiB (91.4 -> 88.1).
//
// That collection stops the event loop: 53-88 ms at 10,000 agents + 100,000 names (63 ms for the
// agents alone, 73 ms for 20,000), 43 ms at half that, beyond issue 9's 20 ms for a stall.
// So it runs only when no DNS request has come for TRIM_QUIET_MS (a query arriving during it waits
// for it; a server with steady traffic never trims), only after RSS grew TRIM_GROWTH_BYTES since
// start or the last trim (a sidecar polling a small registry never does), and at most once per
// TRIM_MIN_INTERVAL_MS whatever happens. That interval is short because the first trim often comes
// while a registry's agents are still arriving, before any query; one 5 minutes long kept the trim
// after the burst of names that followed from running (bench:memory). Each trim is logged with
// the pause it cost and counted on /metrics (runtime/metrics.ts).

import { setFlagsFromString } from 'node:v8';

/** How long without a DNS request before the server counts as quiet. */
export const TRIM_QUIET_MS = 10_000;
/** RSS growth since start, or since the last trim, that makes a trim worth its pause. */
export const TRIM_GROWTH_BYTES = 16 * 1024 * 1024;
/** Trims are at least this far apart. */
export const TRIM_MIN_INTERVAL_MS = 60_000;
/** How often requests and RSS are read. */
export const TRIM_CHECK_INTERVAL_MS = 1_000;

export interface TrimState {
  /** RSS right after the last trim, or at start. */
  baselineRss: number;
  /** When the last trim ran (-Infinity: none yet). */
  lastTrimAt: number;
  /** The request count at the last reading, and since when it has not changed. */
  requests: number;
  quietSince: number;
}

export interface TrimReading {
  at: number;
  rss: number;
  requests: number;
}

/** Folds a reading into `state` and says whether to trim now. Pure but for `state`. */
export function trimDue(state: TrimState, reading: TrimReading): boolean {
  if (reading.requests !== state.requests) {
    state.requests = reading.requests;
    state.quietSince = reading.at;
  }
  // A process that shrank on its own (V8 did return pages) measures growth from there.
  if (reading.rss < state.baselineRss) state.baselineRss = reading.rss;
  return reading.at - state.quietSince >= TRIM_QUIET_MS
    && reading.rss - state.baselineRss >= TRIM_GROWTH_BYTES
    && reading.at - state.lastTrimAt >= TRIM_MIN_INTERVAL_MS;
}

export interface HeapTrimDeps {
  /** DNS requests received so far (any transport). */
  requests(): number;
  /** Resident set size, bytes. */
  rss(): number;
  /** Monotonic milliseconds. */
  now(): number;
  /** The memory-reducing collection (memoryReducingCollection()); false when there is none. */
  collect(): boolean;
  /** Told once when collect() had none to give; the watch then stops. */
  onUnavailable?(): void;
  /** Told after each trim: RSS before and after, and how long the collection held the loop. */
  onTrimmed?(trim: { rssBefore: number; rssAfter: number; pauseMs: number }): void;
  intervalMs?: number;
}

export interface HeapTrim {
  /** Trims so far. */
  readonly trims: number;
  stop(): void;
}

/** Reads requests and RSS every interval and trims when trimDue says so. The timer is unref'd. */
export function trimHeapWhenQuiet(deps: HeapTrimDeps): HeapTrim {
  const start = deps.now();
  const state: TrimState = { baselineRss: deps.rss(), lastTrimAt: -Infinity, requests: deps.requests(), quietSince: start };
  let trims = 0;
  const timer = setInterval(() => {
    if (!trimDue(state, { at: deps.now(), rss: deps.rss(), requests: deps.requests() })) return;
    const rssBefore = deps.rss();
    const began = deps.now();
    if (!deps.collect()) {
      clearInterval(timer);
      deps.onUnavailable?.();
      return;
    }
    const ended = deps.now();
    const rssAfter = deps.rss();
    trims++;
    state.lastTrimAt = ended;
    state.baselineRss = rssAfter;
    deps.onTrimmed?.({ rssBefore, rssAfter, pauseMs: ended - began });
  }, deps.intervalMs ?? TRIM_CHECK_INTERVAL_MS);
  timer.unref();
  return {
    get trims() {
      return trims;
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * V8's "last resort" collection: every page compacted, pooled pages released. Node has no API for
 * a memory-reducing collection; V8's gc extension has one, exposed by --expose-gc, which, set at
 * run time, installs `gc` in contexts created after it (the main context's globals stay as they
 * were). Both the flag and that context wait for the first trim: a context costs memory, and an
 * idle sidecar that never trims should not pay for one (bench:memory, idle: 60.4 MiB with them at
 * start, 59.9-60.1 without). Returns false when this V8 gives no `gc`.
 */
export function memoryReducingCollection(): () => boolean {
  let gc: ((options: object) => void) | null | undefined;
  return () => {
    if (gc === undefined) {
      setFlagsFromString('--expose-gc');
      const found: unknown = process.getBuiltinModule('node:vm').runInNewContext('typeof gc === "function" ? gc : undefined');
      gc = typeof found === 'function' ? (found as (options: object) => void) : null;
    }
    if (gc === null) return false;
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    return true;
  };
}
