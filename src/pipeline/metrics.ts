// Metrics of the query path. Labels are bounded: protocol, family, a qtype bucket, rcode name,
// answer kind. No client-controlled value (name, address, raw type number) becomes a label.

import { Counter, Histogram, type Registry } from '../metrics/prom-client.ts';
import { rcodeName, RRType, typeName } from '../wire/constants.ts';
import type { AnswerKind, AddressFamily, Transport } from './types.ts';

const TYPE_BUCKETS = new Set<number>([RRType.A, RRType.AAAA, RRType.SRV, RRType.TXT, RRType.PTR, RRType.CNAME, RRType.NS, RRType.SOA, RRType.ANY, RRType.HTTPS, RRType.SVCB, RRType.MX]);

export function typeBucket(qtype: number): string {
  return TYPE_BUCKETS.has(qtype) ? typeName(qtype) : 'other';
}

export interface QueryMetrics {
  request(transport: Transport, family: AddressFamily, qtype: number): void;
  response(rcode: number, kind: AnswerKind, transport: Transport, seconds: number): void;
  dropped(reason: string): void;
}

export function createQueryMetrics(register: Registry): QueryMetrics {
  const requests = new Counter({
    name: 'meshdns_dns_requests_total',
    help: 'DNS requests received, by transport, address family and query type bucket.',
    labelNames: ['proto', 'family', 'type'] as const,
    registers: [register],
  });
  const responses = new Counter({
    name: 'meshdns_dns_responses_total',
    help: 'DNS responses sent, by rcode and by what produced the answer.',
    labelNames: ['rcode', 'kind'] as const,
    registers: [register],
  });
  const duration = new Histogram({
    name: 'meshdns_dns_request_duration_seconds',
    help: 'Time from a request being read to its response being handed to the socket.',
    labelNames: ['proto'] as const,
    // 25 µs … 6.5 s: authoritative answers take tens of microseconds, forwarded ones milliseconds.
    buckets: [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 6.5],
    registers: [register],
  });
  const drops = new Counter({
    name: 'meshdns_dns_dropped_total',
    help: 'Requests dropped without an answer, by reason.',
    labelNames: ['reason'] as const,
    registers: [register],
  });

  // prom-client hashes label values on every inc(); resolving children once keeps that off the
  // hot path. The key spaces are small and fixed, so the maps stay bounded.
  const requestChildren = new Map<string, { inc(): void }>();
  const responseChildren = new Map<string, { inc(): void }>();
  const durationChildren = { udp: duration.labels('udp'), tcp: duration.labels('tcp') };
  return {
    request(transport, family, qtype) {
      const bucket = typeBucket(qtype);
      const key = `${transport}|${family}|${bucket}`;
      let child = requestChildren.get(key);
      if (!child) requestChildren.set(key, (child = requests.labels(transport, family, bucket)));
      child.inc();
    },
    response(rcode, kind, transport, seconds) {
      const key = `${rcode}|${kind}`;
      let child = responseChildren.get(key);
      if (!child) responseChildren.set(key, (child = responses.labels(rcodeName(rcode), kind)));
      child.inc();
      durationChildren[transport].observe(seconds);
    },
    dropped(reason) {
      drops.labels(reason).inc();
    },
  };
}
