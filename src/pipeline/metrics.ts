// Metrics of the query path. Labels are bounded: protocol, family, a qtype bucket, rcode name,
// answer kind. No client-controlled value (name, address, raw type number) becomes a label.
//
// Counted in plain integers and handed to prom-client at scrape time (its `collect` hook): a
// prom-client update per query (label hashing, even through cached children, plus setValue)
// was ~11% of busy time at saturation (issue 9 profile). Per query now: two array increments.
// The duration histogram is fed from a sample of the synchronous answers (see query-handler.ts):
// two clock reads per query cost more than the answer they timed.

import { ArrayHistogram } from '../metrics/array-histogram.ts';
import { Counter, type Registry } from '../metrics/prom-client.ts';
import { rcodeName, RRType, typeName } from '../wire/constants.ts';
import { ANSWER_KINDS, type AnswerKind, type AddressFamily, type Transport } from './types.ts';

const TYPE_BUCKET_TYPES = [RRType.A, RRType.AAAA, RRType.SRV, RRType.TXT, RRType.PTR, RRType.CNAME, RRType.NS, RRType.SOA, RRType.ANY, RRType.HTTPS, RRType.SVCB, RRType.MX];
const TYPE_BUCKETS = new Set<number>(TYPE_BUCKET_TYPES);

export function typeBucket(qtype: number): string {
  return TYPE_BUCKETS.has(qtype) ? typeName(qtype) : 'other';
}

/** Bucket index of each qtype: 0 = other, i + 1 = TYPE_BUCKET_TYPES[i]. 64 KiB, built once. */
const TYPE_BUCKET_INDEX = new Uint8Array(65536);
TYPE_BUCKET_TYPES.forEach((type, index) => (TYPE_BUCKET_INDEX[type] = index + 1));
const BUCKET_COUNT = TYPE_BUCKET_TYPES.length + 1;
const bucketName = (index: number): string => (index === 0 ? 'other' : typeName(TYPE_BUCKET_TYPES[index - 1]!));

const TRANSPORTS: readonly Transport[] = ['udp', 'tcp'];
const transportIndex = (transport: Transport): number => (transport === 'udp' ? 0 : 1);
const FAMILIES: readonly AddressFamily[] = ['ipv4', 'ipv6'];
const KIND_INDEX = new Map<AnswerKind, number>(ANSWER_KINDS.map((kind, index) => [kind, index]));
/** Rcodes 0…31 (all of RFC 1035 / 6891 / 7873 we send) counted in the array; anything else in a map. */
const RCODE_SLOTS = 32;

export interface QueryMetrics {
  request(transport: Transport, family: AddressFamily, qtype: number): void;
  response(rcode: number, kind: AnswerKind, transport: Transport, seconds: number): void;
  /** A response whose duration was not measured (the sampled-out synchronous answers). */
  responseUntimed(rcode: number, kind: AnswerKind): void;
  dropped(reason: string): void;
  /** Requests counted so far, every transport (read about once a second: src/runtime/heap-trim.ts). */
  requestsSoFar(): number;
}

export function createQueryMetrics(register: Registry): QueryMetrics {
  const requestCounts = new Float64Array(TRANSPORTS.length * FAMILIES.length * BUCKET_COUNT);
  const responseCounts = new Float64Array(RCODE_SLOTS * ANSWER_KINDS.length);
  const otherResponses = new Map<string, { rcode: number; kind: AnswerKind; count: number }>();

  new Counter({
    name: 'meshdns_dns_requests_total',
    help: 'DNS requests received, by transport, address family and query type bucket.',
    labelNames: ['proto', 'family', 'type'] as const,
    registers: [register],
    collect() {
      this.reset();
      for (let index = 0; index < requestCounts.length; index++) {
        const count = requestCounts[index]!;
        if (count === 0) continue;
        const bucket = index % BUCKET_COUNT;
        const family = Math.floor(index / BUCKET_COUNT) % FAMILIES.length;
        const transport = Math.floor(index / (BUCKET_COUNT * FAMILIES.length));
        this.inc({ proto: TRANSPORTS[transport]!, family: FAMILIES[family]!, type: bucketName(bucket) }, count);
      }
    },
  });
  new Counter({
    name: 'meshdns_dns_responses_total',
    help: 'DNS responses sent, by rcode and by what produced the answer.',
    labelNames: ['rcode', 'kind'] as const,
    registers: [register],
    collect() {
      this.reset();
      for (let index = 0; index < responseCounts.length; index++) {
        const count = responseCounts[index]!;
        if (count === 0) continue;
        this.inc({ rcode: rcodeName(Math.floor(index / ANSWER_KINDS.length)), kind: ANSWER_KINDS[index % ANSWER_KINDS.length]! }, count);
      }
      for (const { rcode, kind, count } of otherResponses.values()) this.inc({ rcode: rcodeName(rcode), kind }, count);
    },
  });
  // Observed in arrays (array-histogram.ts): prom-client's labelled observe cost more per sample
  // than the sampling saved (issue 9 item 2).
  const duration = new ArrayHistogram({
    name: 'meshdns_dns_request_duration_seconds',
    help: 'Time from a request being read to its response being handed to the socket.',
    labelName: 'proto',
    labelValues: TRANSPORTS,
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

  const countResponse = (rcode: number, kind: AnswerKind): void => {
    const kindIndex = KIND_INDEX.get(kind)!;
    if (rcode >= 0 && rcode < RCODE_SLOTS) {
      responseCounts[rcode * ANSWER_KINDS.length + kindIndex]!++;
      return;
    }
    // Bounded: rcodes are 12 bits and only ever produced by us (upstream rcodes pass our parser).
    const key = `${rcode}|${kind}`;
    const entry = otherResponses.get(key);
    if (entry) entry.count++;
    else otherResponses.set(key, { rcode, kind, count: 1 });
  };
  return {
    request(transport, family, qtype) {
      const index = (transportIndex(transport) * FAMILIES.length + (family === 'ipv4' ? 0 : 1)) * BUCKET_COUNT + TYPE_BUCKET_INDEX[qtype & 0xffff]!;
      requestCounts[index]!++;
    },
    response(rcode, kind, transport, seconds) {
      countResponse(rcode, kind);
      duration.observe(transportIndex(transport), seconds);
    },
    responseUntimed: countResponse,
    dropped(reason) {
      drops.labels(reason).inc();
    },
    requestsSoFar() {
      let total = 0;
      for (const count of requestCounts) total += count;
      return total;
    },
  };
}
