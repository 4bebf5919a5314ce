// A condition that lasts (the registry is down, the snapshot cannot be written, an upstream
// flaps) is logged when it starts, then at most once per `repeatMs` with how often it recurred
// in between, and once when it clears — never once per poll or per query. Measured before this
// existed: a failing snapshot write logged a stack every poll (43,000 lines a day), and an
// upstream losing 0.4% of queries logged 219 "marked down"/"up again" pairs in 170 s.
//
// The same object is what /ready detail and metrics read: `state` says whether the condition
// holds, since when, and its last detail.

import type { Logger } from 'pino';

export interface PersistentConditionOptions {
  logger: Logger;
  /** The line logged when the condition starts (and repeated at most once per repeatMs). */
  message: string;
  /** The line logged when it clears, only if its start was logged. */
  clearedMessage: string;
  level?: 'warn' | 'error';
  /** Default 5 minutes. */
  repeatMs?: number;
  /** Monotonic milliseconds; tests pass their own. */
  now?: () => number;
}

export interface ConditionState {
  /** When the current episode started (the `now` clock). */
  since: number;
  /** The fields of the latest report. */
  detail: Record<string, unknown>;
  /** Reports in this episode, the first included. */
  reports: number;
}

const DEFAULT_REPEAT_MS = 5 * 60_000;

export class PersistentCondition {
  readonly #options: Required<Omit<PersistentConditionOptions, 'logger'>> & { logger: Logger };
  #state: ConditionState | null = null;
  /** When a start line was last written; -Infinity before the first. */
  #lastLoggedAt = Number.NEGATIVE_INFINITY;
  /** Reports not logged since the last line (across episodes: a flapping condition sums up). */
  #unlogged = 0;
  #episodeLogged = false;

  constructor(options: PersistentConditionOptions) {
    this.#options = { level: 'warn', repeatMs: DEFAULT_REPEAT_MS, now: () => performance.now(), ...options };
  }

  get state(): ConditionState | null {
    return this.#state;
  }

  get active(): boolean {
    return this.#state !== null;
  }

  /** The condition holds (again); `fields` go into the log line and the state's detail. */
  report(fields: Record<string, unknown> = {}): void {
    const now = this.#options.now();
    if (this.#state) {
      this.#state.detail = fields;
      this.#state.reports++;
    } else {
      this.#state = { since: now, detail: fields, reports: 1 };
      this.#episodeLogged = false;
    }
    if (now - this.#lastLoggedAt < this.#options.repeatMs) {
      this.#unlogged++;
      return;
    }
    const suppressed = this.#unlogged;
    this.#unlogged = 0;
    this.#lastLoggedAt = now;
    this.#episodeLogged = true;
    const line = suppressed > 0 ? { ...fields, suppressedSinceLastLog: suppressed } : fields;
    this.#options.logger[this.#options.level](line, this.#options.message);
  }

  /** The condition no longer holds. Logged only when this episode's start was. */
  clear(fields: Record<string, unknown> = {}): void {
    if (!this.#state) return;
    const lasted = this.#options.now() - this.#state.since;
    if (this.#episodeLogged) this.#options.logger.info({ ...fields, lastedMs: Math.round(lasted) }, this.#options.clearedMessage);
    this.#state = null;
  }
}
