// The timing contract between mesh-dns and the stub resolvers it serves.
//
// The MCP Mesh networking guide tells agents to use `options ndots:0 timeout:1 attempts:2`.
// glibc then sends, waits 1 s, retransmits (same ID, same socket), waits 1 s and gives up at
// about 2 s (res_send.c: each try waits `retrans` seconds with one nameserver). Whatever
// mesh-dns does must end in a definite answer before that: a positive answer, a stale one with
// EDE 3 (RFC 8767), or SERVFAIL with an EDE (RFC 8914). Silence past 2 s is the worst outcome:
// the client reports "temporary failure" after the full wait and learns nothing.
//
// What follows from it (the defaults satisfy each line; the README's "Timing contract" table
// shows what a client sees):
// - the forward deadline (every try included) ends with room for the answer to travel before
//   the client's budget: deadline + ANSWER_MARGIN_MS ≤ budget;
// - the serve-stale client response timer (RFC 8767 §5 suggests 1.8 s for clients that wait
//   longer) is under one client timeout, so a stale answer reaches the client's first attempt;
// - a retransmission joins the upstream query already in flight (forwarder.ts coalesces on
//   name, type, class, DO, CD, RD: the client's ID and port are not in the key), so the
//   client's second attempt costs no second upstream query and is answered when the first is.
//
// Settings that break the contract are a warning at start and in `--check`, not an error:
// clients with longer timeouts (`upstreams.clientBudget`) legitimately want longer deadlines.

import type { UpstreamVerdict } from './setup.ts';

/** The client options the contract is written for: `timeout:1 attempts:2`. */
export const RECOMMENDED_CLIENT = Object.freeze({ timeoutMs: 1_000, attempts: 2 });

/** Time left for our answer to reach the client after the deadline fires (event loop, socket). */
export const ANSWER_MARGIN_MS = 200;

export interface TimingSettings {
  /** The client's total wait, timeout × attempts (`upstreams.clientBudget`). */
  clientBudgetMs: number;
  /** The whole forward (upstreams.deadline). */
  deadlineMs: number;
  tryTimeoutMs: number;
  maxTries: number;
  serveStale: boolean;
  staleAnswerTimeoutMs: number;
}

/** The warnings for settings that break the contract; empty when it holds. Pure. */
export function timingContractVerdicts(settings: TimingSettings): UpstreamVerdict[] {
  const verdicts: UpstreamVerdict[] = [];
  const budget = settings.clientBudgetMs;
  // One client attempt: the budget split evenly over the recommended attempts.
  const attemptMs = budget / RECOMMENDED_CLIENT.attempts;
  if (settings.deadlineMs + ANSWER_MARGIN_MS > budget) {
    verdicts.push({
      level: 'warn',
      message: 'upstreams.deadline does not fit the client budget: a client gives up before mesh-dns answers SERVFAIL, and sees a timeout instead',
      fields: { deadlineMs: settings.deadlineMs, clientBudgetMs: budget, marginMs: ANSWER_MARGIN_MS },
    });
  }
  if (settings.serveStale && settings.staleAnswerTimeoutMs >= attemptMs) {
    verdicts.push({
      level: 'warn',
      message: 'cache.staleAnswerTimeout is not under one client timeout: a stale answer misses the client\'s first attempt',
      fields: { staleAnswerTimeoutMs: settings.staleAnswerTimeoutMs, clientTimeoutMs: attemptMs },
    });
  }
  if (settings.maxTries > 1 && settings.tryTimeoutMs * settings.maxTries > settings.deadlineMs + settings.tryTimeoutMs / 2) {
    verdicts.push({
      level: 'warn',
      message: 'upstreams.maxTries × upstreams.tryTimeout is well over upstreams.deadline: the later tries are cut short or never sent',
      fields: { tryTimeoutMs: settings.tryTimeoutMs, maxTries: settings.maxTries, deadlineMs: settings.deadlineMs },
    });
  }
  return verdicts;
}
