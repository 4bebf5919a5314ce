// Rate limiting per client prefix (token buckets, ratelimit/client-buckets.ts), first in the
// pipeline: a flood is cut before any name is looked at, and always on the socket's source
// address, never on anything inside the packet (an ECS option must not choose the bucket:
// Blocky rate-limits before its ECS stage for this reason).
//
// Over the limit:
// - UDP: dropped, except every `slip`-th over-limit query, answered with an empty TC=1 response
//   (BIND's response rate limiting "slip", default 2). A spoofed flood gets no amplification
//   (the TC answer is no bigger than the query), while a real client behind the flooded address
//   retries over TCP (RFC 7766) and is served there.
// - TCP: REFUSED with an EDE, not dropped. A TCP source is proven by the handshake, so this is a
//   real client going too fast; REFUSED tells it at once (its stub moves on to another server or
//   fails fast) instead of leaving the query pending on an open connection, where it would also
//   hold one of the connection's in-flight slots until the client gives up. No amplification is
//   possible over TCP.
// - Allow-listed networks are never limited.
//
// Cost per query for a known client (IPv4 /32, the default): one coarse clock read (a field),
// one Map lookup, a few arithmetic operations, no allocation. Measured in
// test/unit/pipeline/stages/rate-limit.test.ts.

import { Counter, Gauge, type Registry } from 'prom-client';
import { EdeCode, Rcode } from '../../wire/constants.ts';
import { EMPTY_SECTIONS, rcodeOnly, type RecordSections } from '../../wire/response.ts';
import { ClientBucketTable } from '../../ratelimit/client-buckets.ts';
import { compileNetworks, createClientKey, type PrefixLengths } from '../../ratelimit/client-prefix.ts';
import type { CoarseClock } from '../../ratelimit/coarse-clock.ts';
import type { PipelineStage, QueryContext, StageAnswer, StageResult } from '../types.ts';

export interface RateLimitOptions {
  queriesPerSecond: number;
  burst: number;
  prefixes: PrefixLengths;
  /** Every `slip`-th over-limit UDP query is answered TC=1; 0 never, 1 always. */
  slip: number;
  allowNetworks: readonly string[];
  maxClients: number;
}

/** What the stage did, as plain counters: read by the metrics at scrape time, not per query. */
export interface RateLimitCounts {
  dropped: number;
  slipped: number;
  refused: number;
}

export interface RateLimitStage extends PipelineStage {
  readonly table: ClientBucketTable;
  readonly counts: RateLimitCounts;
}

const RATE_LIMITED = Object.freeze({ code: EdeCode.OTHER, text: 'rate limited' });
const SLIP_SECTIONS: RecordSections = Object.freeze({ ...EMPTY_SECTIONS, truncated: true });
const SLIP: StageAnswer = Object.freeze({ kind: 'rate_limited', sections: SLIP_SECTIONS });
const REFUSED: StageAnswer = Object.freeze({ kind: 'rate_limited', sections: rcodeOnly(Rcode.REFUSED), ede: RATE_LIMITED });
/** The query handler sends nothing for this answer (see query-handler.ts). */
export const DROP: StageAnswer = Object.freeze({ kind: 'dropped', sections: EMPTY_SECTIONS });

export function createRateLimitStage(options: RateLimitOptions, clock: CoarseClock): RateLimitStage {
  const table = new ClientBucketTable({ ratePerSecond: options.queriesPerSecond, burst: options.burst, maxClients: options.maxClients });
  const allowed = compileNetworks(options.allowNetworks);
  const isExempt = (address: string): boolean => allowed.contains(address);
  const clientKey = createClientKey(options.prefixes);
  // With a prefix shorter than the address, one bucket covers many addresses, and an allow-list
  // entry may be narrower than the prefix: exemption is then decided per query, not per bucket.
  // IPv4 /32 (the default) decides it once, when the bucket is created.
  const hasAllowList = options.allowNetworks.length > 0;
  const perQueryV4 = hasAllowList && clientKey.aggregates('ipv4');
  const perQueryV6 = hasAllowList && clientKey.aggregates('ipv6');
  const never = (): boolean => false;
  const counts: RateLimitCounts = { dropped: 0, slipped: 0, refused: 0 };
  const { slip } = options;
  return {
    name: 'rate-limit',
    table,
    counts,
    resolve(context: QueryContext): StageResult {
      const address = context.clientAddress;
      const perQuery = context.family === 'ipv4' ? perQueryV4 : perQueryV6;
      if (perQuery && isExempt(address)) return null;
      const now = clock.now();
      const bucket = table.bucket(clientKey.key(address, context.family), now, perQuery ? never : isExempt, address);
      const tcp = context.transport === 'tcp';
      if (table.take(bucket, tcp, now) === 'allow') return null;
      if (tcp) {
        counts.refused++;
        return REFUSED;
      }
      bucket.denied++;
      if (slip > 0 && bucket.denied % slip === 0) {
        counts.slipped++;
        return SLIP;
      }
      counts.dropped++;
      return DROP;
    },
  };
}

/** Metrics without client labels, read from the stage's counters at scrape time. */
export function registerRateLimitMetrics(register: Registry, stage: RateLimitStage): void {
  const reported = { dropped: 0, slipped: 0, refused: 0, evictions: 0 };
  const counter = (name: string, help: string, read: () => number, field: keyof typeof reported) => new Counter({
    name, help, registers: [register],
    collect() {
      const value = read();
      this.inc(value - reported[field]);
      reported[field] = value;
    },
  });
  counter('meshdns_ratelimit_dropped_total', 'UDP queries over their client\'s rate limit, dropped without an answer.', () => stage.counts.dropped, 'dropped');
  counter('meshdns_ratelimit_slipped_total', 'UDP queries over their client\'s rate limit answered with an empty TC=1 response (every slip-th), so a real client retries over TCP.', () => stage.counts.slipped, 'slipped');
  counter('meshdns_ratelimit_refused_total', 'TCP queries over their client\'s rate limit, answered REFUSED.', () => stage.counts.refused, 'refused');
  counter('meshdns_ratelimit_evictions_total', 'Client buckets evicted (least recently used) because the table was full.', () => stage.table.evictions, 'evictions');
  new Gauge({
    name: 'meshdns_ratelimit_clients',
    help: 'Client prefixes with a bucket in the rate-limit table (bounded by rateLimit.maxClients).',
    registers: [register],
    collect() {
      this.set(stage.table.size);
    },
  });
}
