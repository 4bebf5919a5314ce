// One upstream server and what we know about its health.
//
// Health follows CoreDNS forward: after `maxFails` consecutive failed tries (timeouts and network
// errors) the upstream is down; any response at all, SERVFAIL and REFUSED included, proves it is
// alive ("Any response that is not a network error … is taken as a healthy upstream"). While down
// it gets no client queries (unless every upstream is down, see selection.ts) and is probed in the
// background with `. IN NS` (RD=1) every `healthCheckIntervalMs` until it answers. `maxFails` 0
// means never down.
//
// Latency is an exponentially weighted moving average of answer times, for the `fastest` policy.
// A failure feeds a penalty sample (by default the try timeout, which is what the failure cost the
// client), so the score of a failing upstream rises at once and decays back as real answers come in.

import { RRClass, RRType } from '../wire/constants.ts';
import type { UpstreamView } from './selection.ts';
import { upstreamName, type UpstreamAddress, type UpstreamQuery } from './types.ts';

/** `. IN NS` with RD, CoreDNS's health check query. */
export const HEALTH_PROBE_QUERY: UpstreamQuery = Object.freeze({
  qname: '',
  question: Buffer.from([0, 0, RRType.NS, 0, RRClass.IN]),
  qtype: RRType.NS,
  qclass: RRClass.IN,
  recursionDesired: true,
  dnssecOk: false,
  checkingDisabled: false,
});

/** Weight of the newest sample: 0.3 forgets a penalty to 3 % of its weight within 10 answers. */
const EWMA_WEIGHT = 0.3;

export interface UpstreamHealthOptions {
  /** Consecutive failures before the upstream is down; 0 = never (default 2, as CoreDNS). */
  maxFails: number;
  /** Probe period while down (default 500 ms, as CoreDNS). */
  healthCheckIntervalMs: number;
  /** Latency sample fed in for each failure, ms. */
  failurePenaltyMs: number;
  /**
   * Sends one health probe; resolves true when the upstream answered anything, false otherwise.
   * Must settle on its own (its own timeout); the signal aborts it when the upstream is closed.
   */
  probe: (signal: AbortSignal) => Promise<boolean>;
  onStateChange?: (upstream: Upstream, up: boolean, reason: string) => void;
  /** A health probe went unanswered while the upstream is down (the outage lasts). */
  onProbeFailed?: (upstream: Upstream) => void;
}

export interface UpstreamState {
  to: string;
  up: boolean;
  /** Taken out of rotation by the loop detector. */
  looping: boolean;
  consecutiveFailures: number;
  /** Smoothed latency, ms, rounded to 0.1; null before the first answer. */
  latencyMs: number | null;
  /** Times taken out of rotation since start: a flapping upstream shows here (and in the metric). */
  timesMarkedDown: number;
  /** How long the current outage has lasted, ms; null while up. */
  downForMs: number | null;
  /** The last failed try (timeout, network error, unusable answer); null before any. */
  lastFailure: string | null;
}

export class Upstream {
  readonly address: UpstreamAddress;
  readonly name: string;
  private readonly options: UpstreamHealthOptions;
  private consecutiveFailures = 0;
  private down = false;
  private looping = false;
  private timesMarkedDown = 0;
  private downSince = 0;
  private lastFailure: string | null = null;
  private latencyMs = 0;
  private measured = false;
  private probeTimer: NodeJS.Timeout | null = null;
  private probeInFlight = false;
  private readonly closing = new AbortController();

  constructor(address: UpstreamAddress, options: UpstreamHealthOptions) {
    this.address = address;
    this.name = upstreamName(address);
    this.options = options;
  }

  isUp(): boolean {
    return !this.down;
  }

  isLooping(): boolean {
    return this.looping;
  }

  view(): UpstreamView {
    return { up: !this.down, latencyMs: this.latencyMs };
  }

  /** Any response (whatever its rcode) after `durationMs`: alive, and a latency sample. */
  recordResponse(durationMs: number): void {
    this.sample(durationMs);
    this.consecutiveFailures = 0;
    if (this.down) this.markUp('answered a query');
  }

  /** A timeout or network error. Returns true when this failure took the upstream down. */
  recordFailure(reason: string): boolean {
    this.sample(Math.max(this.options.failurePenaltyMs, this.latencyMs));
    this.consecutiveFailures++;
    this.lastFailure = reason;
    if (this.down || this.options.maxFails === 0 || this.consecutiveFailures < this.options.maxFails) return false;
    this.down = true;
    this.timesMarkedDown++;
    this.downSince = performance.now();
    this.options.onStateChange?.(this, false, reason);
    this.startProbing();
    return true;
  }

  /** Out of rotation for good (a forwarding loop through it); probing stops. */
  markLooping(): void {
    this.looping = true;
    this.stopProbing();
  }

  state(): UpstreamState {
    return {
      to: this.name,
      up: !this.down,
      looping: this.looping,
      consecutiveFailures: this.consecutiveFailures,
      latencyMs: this.measured ? Math.round(this.latencyMs * 10) / 10 : null,
      timesMarkedDown: this.timesMarkedDown,
      downForMs: this.down ? Math.round(performance.now() - this.downSince) : null,
      lastFailure: this.lastFailure,
    };
  }

  close(): void {
    this.stopProbing();
    this.closing.abort();
  }

  private sample(ms: number): void {
    if (!this.measured) {
      this.latencyMs = ms;
      this.measured = true;
    } else {
      this.latencyMs += EWMA_WEIGHT * (ms - this.latencyMs);
    }
  }

  private markUp(reason: string): void {
    this.down = false;
    this.consecutiveFailures = 0;
    this.stopProbing();
    this.options.onStateChange?.(this, true, reason);
  }

  private startProbing(): void {
    if (this.probeTimer || this.looping || this.closing.signal.aborted) return;
    this.probeTimer = setInterval(() => this.probeOnce(), this.options.healthCheckIntervalMs);
    // A probe must never keep the process alive on its own.
    this.probeTimer.unref();
  }

  private stopProbing(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
  }

  private probeOnce(): void {
    if (this.probeInFlight) return; // a slow probe is not stacked with another
    this.probeInFlight = true;
    const started = performance.now();
    this.options.probe(this.closing.signal).then(
      (answered) => {
        this.probeInFlight = false;
        if (!this.down || this.closing.signal.aborted) return;
        if (!answered) {
          this.options.onProbeFailed?.(this);
          return;
        }
        this.sample(performance.now() - started);
        this.markUp('answered the health probe');
      },
      () => {
        this.probeInFlight = false;
      },
    );
  }
}
