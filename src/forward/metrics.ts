// Metrics of the forwarder. `to` is a configured upstream ("host:port"): operator-controlled and
// bounded. rcode is the 4-bit header rcode's name (16 values at most). No client-controlled value
// becomes a label.

import type { ResponseMismatch } from './message.ts';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { rcodeName } from '../wire/constants.ts';

/** Why a try failed: no answer (timeout, network) or an answer we cannot use (see forwarder.ts). */
export type TryFailureReason = 'timeout' | 'network' | 'malformed' | 'extended_rcode';

export interface ForwardMetrics {
  /** Pre-creates the series of an upstream, so dashboards see zeros rather than absent series. */
  addUpstream(to: string): void;
  response(to: string, rcode: number, seconds: number): void;
  failure(to: string, reason: TryFailureReason): void;
  upstreamUp(to: string, up: boolean): void;
  /** The upstream was taken out of rotation (maxFails consecutive failures). */
  markedDown(to: string): void;
  coalesced(): void;
  rejected(): void;
  outstanding(count: number): void;
  tcpFallback(): void;
  /** A datagram on an upstream query's socket that failed the RFC 5452 checks (a spoofing sign). */
  mismatch(reason: ResponseMismatch): void;
}

const TRY_FAILURE_REASONS: readonly TryFailureReason[] = ['timeout', 'network', 'malformed', 'extended_rcode'];

export function createForwardMetrics(register: Registry): ForwardMetrics {
  const registers = [register];
  const duration = new Histogram({
    name: 'meshdns_forward_request_duration_seconds',
    help: 'Time of one upstream exchange that got a response, by upstream and response rcode.',
    labelNames: ['to', 'rcode'] as const,
    // 250 µs (a resolver on the same host) … 5 s (the default deadline).
    buckets: [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers,
  });
  const mismatches = new Counter({
    name: 'meshdns_forward_mismatched_responses_total',
    help: 'Upstream datagrams ignored for a wrong ID, question or shape (RFC 5452): late answers, or spoofing attempts.',
    labelNames: ['reason'] as const,
    registers,
  });
  const failures = new Counter({
    name: 'meshdns_forward_failures_total',
    help: 'Upstream tries that failed, by upstream and reason: no response (timeout, network) or an unusable one (malformed, extended_rcode such as BADCOOKIE).',
    labelNames: ['to', 'reason'] as const,
    registers,
  });
  const up = new Gauge({
    name: 'meshdns_forward_upstream_up',
    help: '1 while the upstream is considered healthy, 0 while it is down (probed) or out of rotation.',
    labelNames: ['to'] as const,
    registers,
  });
  const markedDown = new Counter({
    name: 'meshdns_forward_upstream_marked_down_total',
    help: 'Times the upstream was taken out of rotation after maxFails consecutive failures (a flapping upstream counts up here; its log lines are rate-limited).',
    labelNames: ['to'] as const,
    registers,
  });
  const coalesced = new Counter({
    name: 'meshdns_forward_coalesced_total',
    help: 'Queries that joined an identical query already in flight upstream instead of sending their own.',
    registers,
  });
  const rejected = new Counter({
    name: 'meshdns_forward_rejected_total',
    help: 'Queries refused because the outstanding upstream queries were at the cap.',
    registers,
  });
  const outstanding = new Gauge({
    name: 'meshdns_forward_outstanding',
    help: 'Upstream queries in flight (coalesced queries count once).',
    registers,
  });
  const tcpFallbacks = new Counter({
    name: 'meshdns_forward_tcp_fallbacks_total',
    help: 'Truncated UDP answers retried over TCP.',
    registers,
  });

  // prom-client hashes label values on each call; keep the children (bounded by upstreams × rcodes).
  const durationChildren = new Map<string, { observe(value: number): void }>();
  return {
    addUpstream(to) {
      for (const reason of TRY_FAILURE_REASONS) failures.inc({ to, reason }, 0);
      up.set({ to }, 1);
      markedDown.inc({ to }, 0);
    },
    response(to, rcode, seconds) {
      const key = `${to}|${rcode}`;
      let child = durationChildren.get(key);
      if (!child) durationChildren.set(key, (child = duration.labels(to, rcodeName(rcode))));
      child.observe(seconds);
    },
    failure(to, reason) {
      failures.inc({ to, reason });
    },
    upstreamUp(to, isUp) {
      up.set({ to }, isUp ? 1 : 0);
    },
    markedDown(to) {
      markedDown.inc({ to });
    },
    coalesced() {
      coalesced.inc();
    },
    rejected() {
      rejected.inc();
    },
    outstanding(count) {
      outstanding.set(count);
    },
    tcpFallback() {
      tcpFallbacks.inc();
    },
    mismatch(reason) {
      mismatches.inc({ reason });
    },
  };
}
