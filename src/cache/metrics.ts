// Prometheus metrics of the answer cache (names after CoreDNS's cache plugin, reference §1.4).
// Labels come from fixed sets (entry kind), never from a name or a client.
//
// Nothing here runs per query: the cache counts hits, misses, evictions, prefetches and stale
// answers in plain integers of its own (AnswerCache.stats()), and every series is read from them
// when Prometheus scrapes (prom-client's `collect` hook). A prom-client increment per hit (the
// cached child's inc, its setValue and label hash) was ~5% of a forwarded cache hit in-process
// (test/bench/cache-hit-micro.ts profile, issue 9).

import { Counter, Gauge, type Registry } from '../metrics/prom-client.ts';

/** What a stored entry holds: an answer (RFC 2308 calls it success) or a denial (NXDOMAIN/NODATA). */
export type CacheEntryKind = 'success' | 'denial';
/** What a hit was served from: an entry, or a recently recorded upstream failure. */
export type CacheHitKind = CacheEntryKind | 'servfail';

/** What the metrics read from the cache at scrape time: its sizes and its monotonic counters. */
export interface CacheReadings {
  entries: { success: number; denial: number };
  servfailEntries: number;
  /** Bytes counted against maxBytes for the entries. */
  bytes: number;
  hits: Record<CacheHitKind, number>;
  misses: number;
  evictions: number;
  prefetches: number;
  servedStale: number;
}

export interface CacheMetrics {
  /** Where every series reads the cache's current figures at scrape time. */
  readFrom(read: () => CacheReadings): void;
}

const NOTHING_YET: CacheReadings = Object.freeze({
  entries: { success: 0, denial: 0 }, servfailEntries: 0, bytes: 0, hits: { success: 0, denial: 0, servfail: 0 },
  misses: 0, evictions: 0, prefetches: 0, servedStale: 0,
});

const HIT_KINDS: readonly CacheHitKind[] = ['success', 'denial', 'servfail'];

export function createCacheMetrics(register: Registry): CacheMetrics {
  const registers = [register];
  let read: () => CacheReadings = () => NOTHING_YET;

  /** A counter whose value is the cache's own count, set at scrape time (counters have no set()). */
  const counter = (name: string, help: string, value: (readings: CacheReadings) => number) =>
    new Counter({
      name, help, registers,
      collect() {
        this.reset();
        this.inc(value(read()));
      },
    });

  new Gauge({
    name: 'meshdns_cache_entries',
    help: 'Entries in the answer cache, by kind (success: answers; denial: NXDOMAIN and NODATA).',
    labelNames: ['type'] as const,
    registers,
    collect() {
      const { entries } = read();
      this.set({ type: 'success' }, entries.success);
      this.set({ type: 'denial' }, entries.denial);
    },
  });
  new Gauge({
    name: 'meshdns_cache_servfail_entries',
    help: 'Names with a recent upstream failure remembered (answered SERVFAIL, or stale, without asking again).',
    registers,
    collect() {
      this.set(read().servfailEntries);
    },
  });
  new Gauge({
    name: 'meshdns_cache_bytes',
    help: 'Estimated memory held by cache entries (record bytes plus a fixed per-entry overhead).',
    registers,
    collect() {
      this.set(read().bytes);
    },
  });
  new Counter({
    name: 'meshdns_cache_hits_total',
    help: 'Lookups answered from the cache: a fresh entry (success, denial) or a remembered failure (servfail).',
    labelNames: ['type'] as const,
    registers,
    collect() {
      const { hits } = read();
      this.reset();
      // Every series, zeros included: dashboards see zeros rather than absent series.
      for (const kind of HIT_KINDS) this.inc({ type: kind }, hits[kind]);
    },
  });
  counter('meshdns_cache_misses_total', 'Lookups with neither a fresh entry nor a remembered failure (expired entries in the stale window included).', (readings) => readings.misses);
  counter('meshdns_cache_evictions_total', 'Entries evicted to stay within the entry or byte bound.', (readings) => readings.evictions);
  counter('meshdns_cache_prefetches_total', 'Background refreshes requested for popular entries close to expiry.', (readings) => readings.prefetches);
  counter('meshdns_cache_served_stale_total', 'Responses built from expired entries (RFC 8767 serve-stale).', (readings) => readings.servedStale);

  return {
    readFrom(reader) {
      read = reader;
    },
  };
}
