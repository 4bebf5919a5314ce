// How a running mesh-dns stops (issue 7 item 4). A DNS server that closes its sockets the moment
// it is told to stop makes every client that still sends to it wait out a timeout (glibc: 5 s per
// try) before trying its next server. So SIGTERM/SIGINT runs three phases:
//
//   lame duck  (shutdown.lameDuck, default 2 s): every query is still answered, UDP and TCP, new
//              TCP connections included, while /ready says 503 so a load balancer or an
//              orchestrator stops sending new clients here (CoreDNS `health { lameduck }`);
//   draining   (up to shutdown.grace): the listeners stop reading, queries already in flight
//              (a forwarded one waiting for a slow upstream) are answered, then every socket,
//              timer and connection is released;
//   stopped    the event loop is empty and the process exits 0 on its own: nothing calls
//              process.exit, so anything left open would show as a delay after "stopped".
//
// Repeated signals: supervisors deliver one stop request twice (`npm start` forwards SIGTERM to
// a process whose group was already signalled; a terminal's Ctrl-C reaches npm and mesh-dns
// alike), a few milliseconds apart. A repeat within DUPLICATE_SIGNAL_WINDOW_MS is that same
// request and is ignored. A later SIGTERM during the lame duck is an operator (or a script)
// asking for it to be cut short: draining starts at once. During draining a SIGTERM changes
// nothing (the drain is already bounded by shutdown.grace; Docker sends SIGKILL after its own
// stop timeout anyway). A later SIGINT at any phase is someone at a terminal insisting: exit 130.

import type { Logger } from 'pino';

export type ShutdownPhase = 'serving' | 'lame_duck' | 'draining' | 'stopped';

/** A repeat of the stop signal this soon after the first is the same request delivered twice. */
export const DUPLICATE_SIGNAL_WINDOW_MS = 250;

/** What a stop signal did. */
export type StopSignalEffect =
  | 'began' // the first: the lame duck (or, with shutdown.lameDuck 0, draining) starts
  | 'duplicate' // the same request delivered twice: ignored
  | 'lame_duck_ended' // a later SIGTERM during the lame duck: draining starts now
  | 'insisted' // a later SIGINT: the caller exits at once
  | 'ignored'; // a later SIGTERM while draining or stopped

export interface ShutdownSequenceOptions {
  lameDuckMs: number;
  /** Stops reading, drains in-flight queries, releases everything (MeshDnsServer.stop). */
  stop: () => Promise<void>;
  /** Called as each phase begins. */
  onPhase?: (phase: ShutdownPhase) => void;
  /** Milliseconds, monotonic; injected by tests. */
  now?: () => number;
}

export interface ShutdownSequence {
  phase(): ShutdownPhase;
  /** Starts the sequence (idempotent); resolves once everything is released. */
  begin(): Promise<void>;
  /** Applies a stop signal (see the header for the rules); the first one begins the sequence. */
  signal(signal: 'SIGTERM' | 'SIGINT'): StopSignalEffect;
  /** Resolves once the sequence has finished (stopped). */
  readonly finished: Promise<void>;
}

export function createShutdownSequence(options: ShutdownSequenceOptions): ShutdownSequence {
  const now = options.now ?? (() => performance.now());
  let phase: ShutdownPhase = 'serving';
  let firstSignalAt = 0;
  let endLameDuck: (() => void) | null = null;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => (resolveFinished = resolve));
  let running: Promise<void> | null = null;

  const enter = (next: ShutdownPhase) => {
    phase = next;
    options.onPhase?.(next);
  };

  const run = async () => {
    if (options.lameDuckMs > 0) {
      enter('lame_duck');
      await new Promise<void>((resolve) => {
        // A ref'd timer: it is what keeps the answering going for its whole length. Cleared when
        // the lame duck is cut short, so it never holds the process after it.
        const timer = setTimeout(resolve, options.lameDuckMs);
        endLameDuck = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      endLameDuck = null;
    }
    enter('draining');
    try {
      await options.stop();
    } finally {
      enter('stopped');
      resolveFinished();
    }
  };

  const sequence: ShutdownSequence = {
    phase: () => phase,
    begin() {
      running ??= run();
      return running;
    },
    signal(signal) {
      if (phase === 'serving' && running === null) {
        firstSignalAt = now();
        void sequence.begin();
        return 'began';
      }
      if (now() - firstSignalAt < DUPLICATE_SIGNAL_WINDOW_MS) return 'duplicate';
      if (signal === 'SIGINT') return 'insisted';
      if (phase === 'lame_duck' && endLameDuck !== null) {
        endLameDuck();
        return 'lame_duck_ended';
      }
      return 'ignored';
    },
    finished,
  };
  return sequence;
}

/**
 * Routes SIGTERM and SIGINT to the sequence for the rest of the process's life; resolves when it
 * has stopped. The handlers stay installed after that: a late signal must not kill a process that
 * is exiting cleanly.
 */
export function stopOnSignals(sequence: ShutdownSequence, logger: Logger, insistedExitCode: number): Promise<void> {
  const onSignal = (signal: 'SIGTERM' | 'SIGINT') => {
    // Logged before the first signal takes effect, so that the phase lines follow it.
    if (sequence.phase() === 'serving') logger.info({ signal }, 'shutting down');
    const effect = sequence.signal(signal);
    if (effect === 'insisted') {
      logger.warn({ signal }, 'second stop signal: exiting now, queries in flight are lost');
      process.exit(insistedExitCode);
    }
    if (effect === 'lame_duck_ended') logger.info({ signal }, 'repeated stop signal: lame duck cut short');
    else if (effect === 'ignored') logger.info({ signal }, 'repeated stop signal ignored: already draining (bounded by shutdown.grace)');
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return sequence.finished;
}
