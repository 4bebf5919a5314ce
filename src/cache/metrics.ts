// Prometheus metrics of the answer cache (names after CoreDNS's cache plugin, reference §1.4).
// Labels come from fixed sets (entry kind), never from a name or a client. Counters are resolved to
// their children once, so a cache hit costs an increment, not a label hash; the gauges are read
// from the cache when Prometheus scrapes, so the query path never touches them.

import { Counter, Gauge, type Registry } from '../metrics/prom-client.ts';

/** What a stored entry holds: an answer (RFC 2308 calls it success) or a denial (NXDOMAIN/NODATA). */
export type CacheEntryKind = 'success' | 'denial';
/** What a hit was served from: an entry, or a recently recorded upstream failure. */
export type CacheHitKind = CacheEntryKind | 'servfail';

export interface CacheSizes {
  success: number;
  denial: number;
  servfail: number;
  bytes: number;
}

export interface CacheMetrics {
  hit(kind: CacheHitKind): void;
  miss(): void;
  evicted(): void;
  prefetched(): void;
  servedStale(): void;
  /** Where the gauges read the cache's current sizes at scrape time. */
  readSizesFrom(read: () => CacheSizes): void;
}

export function createCacheMetrics(register: Registry): CacheMetrics {
  const registers = [register];
  let readSizes: () => CacheSizes = () => ({ success: 0, denial: 0, servfail: 0, bytes: 0 });

  new Gauge({
    name: 'meshdns_cache_entries',
    help: 'Entries in the answer cache, by kind (success: answers; denial: NXDOMAIN and NODATA).',
    labelNames: ['type'] as const,
    registers,
    collect() {
      const sizes = readSizes();
      this.set({ type: 'success' }, sizes.success);
      this.set({ type: 'denial' }, sizes.denial);
    },
  });
  new Gauge({
    name: 'meshdns_cache_servfail_entries',
    help: 'Names with a recent upstream failure remembered (answered SERVFAIL, or stale, without asking again).',
    registers,
    collect() {
      this.set(readSizes().servfail);
    },
  });
  new Gauge({
    name: 'meshdns_cache_bytes',
    help: 'Estimated memory held by cache entries (record bytes plus a fixed per-entry overhead).',
    registers,
    collect() {
      this.set(readSizes().bytes);
    },
  });
  const hits = new Counter({
    name: 'meshdns_cache_hits_total',
    help: 'Lookups answered from the cache: a fresh entry (success, denial) or a remembered failure (servfail).',
    labelNames: ['type'] as const,
    registers,
  });
  const misses = new Counter({
    name: 'meshdns_cache_misses_total',
    help: 'Lookups with neither a fresh entry nor a remembered failure (expired entries in the stale window included).',
    registers,
  });
  const evictions = new Counter({
    name: 'meshdns_cache_evictions_total',
    help: 'Entries evicted to stay within the entry or byte bound.',
    registers,
  });
  const prefetches = new Counter({
    name: 'meshdns_cache_prefetches_total',
    help: 'Background refreshes requested for popular entries close to expiry.',
    registers,
  });
  const servedStale = new Counter({
    name: 'meshdns_cache_served_stale_total',
    help: 'Responses built from expired entries (RFC 8767 serve-stale).',
    registers,
  });

  const hitChildren = { success: hits.labels('success'), denial: hits.labels('denial'), servfail: hits.labels('servfail') };
  // Pre-create every series so dashboards see zeros rather than absent series.
  for (const child of Object.values(hitChildren)) child.inc(0);
  return {
    hit(kind) {
      hitChildren[kind].inc();
    },
    miss() {
      misses.inc();
    },
    evicted() {
      evictions.inc();
    },
    prefetched() {
      prefetches.inc();
    },
    servedStale() {
      servedStale.inc();
    },
    readSizesFrom(read) {
      readSizes = read;
    },
  };
}
