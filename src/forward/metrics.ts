// Metrics of the forwarder. `to` is a configured upstream ("host:port"): operator-controlled and
// bounded. rcode is the 4-bit header rcode's name (16 values at most). No client-controlled value
// becomes a label.

import type { ResponseMismatch } from './message.ts';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { rcodeName } from '../wire/constants.ts';

export type TryFailureReason = 'timeout' | 'network';

export interface ForwardMetrics {
  /** Pre-creates the series of an upstream, so dashboards see zeros rather than absent series. */
  addUpstream(to: string): void;
  response(to: string, rcode: number, seconds: number): void;
  failure(to: string, reason: TryFailureReason): void;
  upstreamUp(to: string, up: boolean): void;
  coalesced(): void;
  rejected(): void;
  outstanding(count: number): void;
  tcpFallback(): void;
  /** A datagram on an upstream query's socket that failed the RFC 5452 checks (a spoofing sign). */
  mismatch(reason: ResponseMismatch): void;
}

const TRY_FAILURE_REASONS: readonly TryFailureReason[] = ['timeout', 'network'];

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
    help: 'Upstream tries that got no response, by upstream and reason (timeout, network).',
    labelNames: ['to', 'reason'] as const,
    registers,
  });
  const up = new Gauge({
    name: 'meshdns_forward_upstream_up',
    help: '1 while the upstream is considered healthy, 0 while it is down (probed) or out of rotation.',
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
