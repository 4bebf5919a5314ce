// The answer cache for forwarded names: upstream response bytes (stripped of the upstream's OPT)
// plus the offsets of their TTL fields. A hit copies the bytes behind the client's question,
// patches ID and TTLs, and never decodes a record (reference §6.13).
//
// Policy follows CoreDNS's cache plugin (reference §1.2) where the issue does not say otherwise:
// positive answers are fresh for min(lowest TTL, 3600 s) (RFC 1035 §3.2.1, RFC 2181 §8: the TTL
// is how long a record may be cached); NXDOMAIN/NODATA — a CNAME chain ending in NODATA included
// (RFC 2308 §2.2) — for the SOA's negative TTL (RFC 2308 §5) capped at 1800 s, and are not cached
// without a SOA; SERVFAIL is remembered 5 s apart from the answers; TC answers and RD=0 answers are
// never cached; popular entries ask for one prefetch near expiry.
//
// An answer is never served fresh past its own TTL. `minTtl` (0 by default, as unbound and
// dnsmasq) only keeps an entry longer: past its TTL it is served as stale (TTL 30, EDE 3) without
// asking upstream, until minTtl is over. Serve-stale follows RFC 8767, with its failure recheck
// timer (§5): after a failed refresh, at most one new attempt per `failureRecheck` per entry.
//
// Time is passed in (milliseconds) on every call: the cache reads no clock and starts no timer.

import { LRUCache } from 'lru-cache';
import { EdeCode, Flag, Rcode, RRClass, RRType } from '../wire/constants.ts';
import type { DnsRequest } from '../wire/request.ts';
import { assembleResponse, type ExtendedError, type RecordSections, type ResponseSettings } from '../wire/response.ts';
import type { IndexedMessage } from '../wire/upstream-message.ts';
import type { ForwardedAnswer } from '../forward/types.ts';
import { patchTtls } from '../wire/ttl.ts';
import type { CacheEntryKind, CacheMetrics, CacheReadings } from './metrics.ts';
import { EntryFlag, EntryTable } from './entry-table.ts';
import { KeyIndex, MAX_KEY_LENGTH, NO_SLOT } from './key-index.ts';
import { chunkBytesOf, offsetOf, RecordSlabs, slabNumberOf } from './record-slabs.ts';

export interface AnswerCacheOptions {
  /** Entry bound (dnsmasq `cache-size`, CoreDNS `cache CAPACITY`). Costs nothing until used: no preallocation. */
  maxEntries: number;
  /** Memory bound, bytes (record bytes + key + ENTRY_OVERHEAD_BYTES per entry, measured). */
  maxBytes: number;
  /**
   * Shortest time an entry is kept, seconds. Past its TTL it is answered stale (TTL staleTtl,
   * EDE 3) without asking upstream: never fresh with TTL 0. 0 (default): kept as long as its TTL.
   */
  minTtl: number;
  /** Longest lifetime of a positive answer, seconds. */
  maxTtl: number;
  /** Longest lifetime of an NXDOMAIN/NODATA answer, seconds (RFC 2308 §5 recommends 1–3 hours at most). */
  negativeMaxTtl: number;
  /** How long an upstream failure is remembered, seconds (CoreDNS `servfail`; RFC 2308 §7.1 caps it at 5 min). 0 disables. */
  servfailTtl: number;
  /** Bound on remembered failures. */
  maxServfailEntries: number;
  /**
   * RFC 8767 §5 failure recheck timer, seconds: after a failed refresh of an expired entry, it is
   * answered stale without asking upstream for this long (RFC 8767 suggests 30 s). 0: ask every time.
   */
  failureRecheck: number;
  /** RFC 8767: keep expired entries to answer when the upstreams fail. */
  serveStale: boolean;
  /** RFC 8767 §5 maximum stale timer, seconds past expiry (suggested 1–3 days). */
  staleMaxAge: number;
  /** TTL of every record in a stale answer, seconds (RFC 8767 §4 recommends 30). */
  staleTtl: number;
  /** Ask for a background refresh of popular entries before they expire (CoreDNS `prefetch`). */
  prefetch: boolean;
  /** Hits that make an entry popular (kept across refreshes, as CoreDNS keeps its counter). */
  prefetchMinHits: number;
  /** Fraction of the lifetime left under which a popular entry is refreshed (or 1 s, whichever is larger). */
  prefetchThreshold: number;
}

export const DEFAULT_CACHE_OPTIONS: Readonly<AnswerCacheOptions> = Object.freeze({
  maxEntries: 10_000,
  maxBytes: 64 * 1024 * 1024,
  minTtl: 0,
  maxTtl: 3600,
  negativeMaxTtl: 1800,
  servfailTtl: 5,
  maxServfailEntries: 10_000,
  failureRecheck: 30,
  serveStale: true,
  staleMaxAge: 86_400,
  staleTtl: 30,
  prefetch: true,
  prefetchMinHits: 3,
  prefetchThreshold: 0.1,
});

/**
 * Bytes an entry costs beyond its chunk of record bytes (chunkBytesOf: body + TTL offsets, rounded
 * up to its size class) and its key characters: its slot in the EntryTable's typed arrays
 * (ENTRY_TABLE_BYTES_PER_SLOT) and in the KeyIndex's (KEY_INDEX_BYTES_PER_SLOT: hash, recency
 * links, key location and length, a flag), each up to twice that while the arrays grow by doubling; its
 * share of the index's buckets (4 B each, 1.4–2.9 per entry); its key chunk's rounding up to 16 B;
 * and the free lists.
 *
 * Measured on Node 24.21 with test/bench/cache-memory.ts (`node --expose-gc
 * test/bench/cache-memory.ts N [answers] [maxEntries] [maxBytes]`): N entries stored, GC forced
 * twice, growth of heapUsed + arrayBuffers divided by N. Filling only: 159–209 B real per 1-record
 * entry (200,000–20,000 entries; 212 B with 4 A records at 100,000), of which 32 B chunk and 30 B
 * key: 97–147 B overhead. Under eviction churn (200,000 stores into 2–32 MiB): 201–247 B real per
 * 1-record entry, 212–316 B per 4-record entry, the most where fewest entries share the cache's
 * fixed ~0.3 MB (compiled code, free lists): 185–188 B overhead at 3–4 MiB. Hence 192: real ≤
 * counted in every run from 3 MiB up (at 2 MiB, 4-record answers really take 1.03× maxBytes; with
 * the lru-cache index, 1.16×). test/unit/cache/memory.test.ts re-measures this on every run.
 * In the running server (`npm run bench:memory -- --skip-imports --runs 1 --later 0`, 10,000
 * agents + 100,000 forwarded names, same session): 335 B of RSS per entry, 494 B with the
 * lru-cache index; V8 heap used grew 5.7 MiB for the 100,000 names instead of 23.5 MiB.
 *
 * Before: 320, with lru-cache as the index (a key string, a Map entry and five list slots per
 * entry: 216–276 B real filling, 299–347 B under churn at 8 MiB). Before that, one ArrayBuffer +
 * Buffer + Uint32Array + entry object per entry counted 768 B and really cost 683–731 B; 4,885 B
 * of RSS per entry in the running server.
 */
export const ENTRY_OVERHEAD_BYTES = 192;

/**
 * A stored answer, as lookup() hands it out: a RecordSections over the cache's own slab
 * (bodyOffset/bodyLength/ttlStart/ttlCount), so assembleResponse splices it behind any question
 * for its key without a copy or a view being made.
 *
 * A `fresh` entry is the cache's one view object, pointed at the slot that was hit, over the live
 * slab: read it before the next lookup or store (the query handler assembles the response in the
 * same synchronous run), so a hit allocates nothing. A `stale` entry is an object of its own with
 * a copy of its bytes: the cache stage holds it across the upstream attempt (RFC 8767 §5 client
 * response timer), while other stores may evict and reuse its slot.
 */
export interface CacheEntry extends RecordSections {
  readonly kind: CacheEntryKind;
  /** Answers relayed from a cache are never authoritative. */
  readonly authoritative: false;
  readonly rotationUnit: 0;
  readonly bodyOffset: number;
  readonly bodyLength: number;
  /** TTL field offsets (relative to bodyOffset), ttlOffsets[ttlStart, ttlStart + ttlCount); the stored TTLs are already ≤ lifetime. */
  readonly ttlOffsets: Uint16Array;
  readonly ttlStart: number;
  readonly ttlCount: number;
  /** The upstream set AD (RFC 4035 §3.2.3), passed on only to clients that set DO or AD. */
  readonly authenticData: boolean;
  readonly storedAt: number;
  /** Seconds the entry is fresh: its own TTL (the lowest of its records), capped by maxTtl. */
  readonly lifetime: number;
  /** storedAt + lifetime: fresh before, stale from then on. */
  readonly expiresAt: number;
  /** storedAt + max(lifetime, minTtl): until then a stale entry is answered without asking upstream. */
  readonly heldUntil: number;
  /** Size counted against maxBytes. */
  readonly size: number;
  /** Hits so far (kept across refreshes, for prefetch). */
  readonly hits: number;
}

/**
 * Why a stale entry is answered without asking upstream first: `min_ttl`, it is within minTtl;
 * `failure_recheck`, a refresh failed less than failureRecheck ago (RFC 8767 §5). null: ask now
 * (and answer stale if the upstreams fail or are slower than the client response timer).
 */
export type StaleWait = 'min_ttl' | 'failure_recheck' | null;

/**
 * A fresh hit. The cache hands out one such object, rewritten at every fresh hit (as its entry
 * view is): read it before the next lookup.
 */
export interface FreshHit {
  readonly kind: 'fresh';
  entry: CacheEntry;
  ageSeconds: number;
  prefetch: boolean;
}

export type CacheLookup =
  | FreshHit
  /** Past its TTL: within minTtl, or within the stale window (RFC 8767). */
  | { kind: 'stale'; entry: CacheEntry; staleSeconds: number; wait: StaleWait }
  | { kind: 'servfail' }
  | { kind: 'miss' };

/** What store() did with a response, for logs and tests. */
export type StoreOutcome =
  | CacheEntryKind // stored as an answer or a denial
  | 'servfail' // remembered as a failure; any stored answer is kept for serve-stale
  | 'truncated' // TC=1: an incomplete answer (RFC 2181 §9)
  | 'not_recursive' // asked with RD=0: the upstream did no recursion, the answer may be partial
  | 'denial_without_soa' // RFC 2308 §5: no SOA, no negative caching
  | 'uncacheable_rcode' // REFUSED, FORMERR, NOTIMP, …
  | 'zero_lifetime' // TTL 0 with minTtl 0: RFC 1035 §3.2.1 "should not be cached"
  | 'too_large' // larger than the byte bound by itself
  | 'question_mismatch'; // the key was not made from this response's question

/** What the metrics read (bytes: chunk + key + ENTRY_OVERHEAD_BYTES per entry), and the slabs' storage. */
export interface CacheStats extends CacheReadings {
  /** Slab bytes holding no entry (free chunks, uncarved slab space); bytes + this ≤ maxBytes. */
  slabUnusedBytes: number;
  /** Bytes of all slabs and large records' buffers (the record bytes' real storage). */
  slabBytes: number;
  /** Bytes of the index's key slabs (the keys' characters' real storage). */
  keySlabBytes: number;
  /** Key slab bytes holding no key; bytes + slabUnusedBytes + this ≤ maxBytes. */
  keySlabUnusedBytes: number;
}

/**
 * The cache key: lowercased name (as readQuestionName gives it), type, class, DO and CD (RFC 4035
 * §3.2.2: a CD=1 answer may hold data a validating upstream would refuse), as `name type class DOCD`.
 * A space cannot occur in the name (name.ts escapes it as \032), so the fields cannot run into
 * each other, and the commonest question, IN A without DO or CD, is keyed by the name alone: the
 * string the request parser made, hashed once, with no key built per query (building and hashing
 * `name 1 1 00` was ~4% of a forwarded cache hit in-process, test/bench/cache-hit-micro.ts).
 */
export function cacheKey(qname: string, qtype: number, qclass: number, dnssecOk: boolean, checkingDisabled: boolean): string {
  if (qtype === RRType.A && qclass === RRClass.IN && !dnssecOk && !checkingDisabled) return qname;
  const flags = (dnssecOk ? 2 : 0) | (checkingDisabled ? 1 : 0);
  if (qclass !== RRClass.IN || qtype >= KEY_SUFFIX_TYPES) return `${qname} ${qtype} ${qclass} ${flags >> 1}${flags & 1}`;
  const at = (qtype << 2) | flags;
  const suffix = KEY_SUFFIXES[at] ?? (KEY_SUFFIXES[at] = ` ${qtype} ${qclass} ${flags >> 1}${flags & 1}`);
  return qname + suffix;
}

/** Key suffixes of IN questions made once: types below this (every common one), four DO/CD combinations each. */
const KEY_SUFFIX_TYPES = 256;
const KEY_SUFFIXES: (string | undefined)[] = new Array<string | undefined>(KEY_SUFFIX_TYPES * 4).fill(undefined);

export function cacheKeyForRequest(request: DnsRequest): string {
  return cacheKey(request.qname, request.qtype, request.qclass, request.edns?.dnssecOk ?? false, (request.flags & Flag.CD) !== 0);
}

/** Whether `key` was made by cacheKey from this question (with any DO and CD). */
function keyAsks(key: string, qname: string, qtype: number, qclass: number): boolean {
  return key === cacheKey(qname, qtype, qclass, false, false) || key.startsWith(`${qname} ${qtype} ${qclass} `);
}

const MISS: CacheLookup = Object.freeze({ kind: 'miss' });
const SERVFAIL: CacheLookup = Object.freeze({ kind: 'servfail' });
const STALE_EDE: ExtendedError = Object.freeze({ code: EdeCode.STALE_ANSWER, text: 'stale answer' });
const MAX_TTL = 0x7fffffff; // RFC 2181 §8

/**
 * RFC 2308 §2.2 NODATA: NOERROR without a record of the asked type in ANSWER. A CNAME chain may
 * precede it ("CNAME→NODATA"); it is then a denial, cached from the SOA, not a positive answer.
 * Asking for CNAME itself, for ANY, or a type the chain ends in, is an answer.
 */
function answersQuestion(indexed: IndexedMessage): boolean {
  if (indexed.answerCount === 0) return false;
  if (indexed.qtype === RRType.ANY || indexed.qtype === RRType.CNAME) return true;
  return indexed.answerHasQuestionType;
}

export class AnswerCache {
  readonly options: Readonly<AnswerCacheOptions>;
  /**
   * Recency and the key → slot index, in typed arrays, with the keys' characters in slabs of its
   * own (key-index.ts says why not lru-cache). The entry lives in `table` and `slabs`. Grows with
   * use: nothing is preallocated for maxEntries. Both bounds are enforced in store().
   */
  private readonly index: KeyIndex;
  private readonly table: EntryTable;
  private readonly slabs = new RecordSlabs();
  /** What fresh lookups hand out, re-pointed at each hit's slot (CacheEntry: read it at once). */
  private readonly freshView: SlabEntry;
  /** The fresh lookup result, rewritten at each hit: a hit allocates nothing (see CacheLookup). */
  private readonly freshHit: FreshHit;
  /** key → time (ms) of the last upstream failure for it. */
  private readonly failures: LRUCache<string, number>;
  private readonly servfailMs: number;
  private readonly failureRecheckMs: number;
  /** A failure is forgotten once neither window needs it. */
  private readonly failureMemoryMs: number;
  private readonly counts = { success: 0, denial: 0, bytes: 0 };
  private readonly counters = { hits: { success: 0, denial: 0, servfail: 0 }, misses: 0, evictions: 0, prefetches: 0, servedStale: 0 };

  constructor(options: Partial<AnswerCacheOptions> = {}, metrics?: CacheMetrics) {
    this.options = Object.freeze({ ...DEFAULT_CACHE_OPTIONS, ...options });
    this.servfailMs = Math.max(0, this.options.servfailTtl) * 1000;
    this.failureRecheckMs = this.options.serveStale || this.options.minTtl > 0 ? Math.max(0, this.options.failureRecheck) * 1000 : 0;
    this.failureMemoryMs = Math.max(this.servfailMs, this.failureRecheckMs);
    this.table = new EntryTable(Math.max(1, this.options.maxEntries));
    this.freshView = new SlabEntry(this.options.minTtl);
    this.freshHit = { kind: 'fresh', entry: this.freshView, ageSeconds: 0, prefetch: false };
    this.index = new KeyIndex(Math.max(1, this.options.maxEntries) + 1);
    this.failures = new LRUCache<string, number>({ max: this.options.maxServfailEntries });
    metrics?.readFrom(() => this.stats());
  }

  /**
   * Stores a forwarded answer under `key` (made by cacheKey from the client's question), unless the
   * query that got it makes it unfit for other clients.
   */
  storeForwarded(key: string, forwarded: ForwardedAnswer, now: number): StoreOutcome {
    // RFC 1035 §4.1.1: with RD=0 the upstream answered from what it had (a CNAME without its
    // target, a referral); such an answer must not be served to clients that asked for recursion.
    if (!forwarded.query.recursionDesired) return 'not_recursive';
    return this.store(key, forwarded.message, now);
  }

  /**
   * Stores an upstream response under `key` (made by cacheKey from the response's own question).
   * `indexed.body` is copied: the upstream message may be reused or relayed after this.
   * storeForwarded is the way in from the pipeline.
   */
  store(key: string, indexed: IndexedMessage, now: number): StoreOutcome {
    if (indexed.truncated) return 'truncated';
    if (!keyAsks(key, indexed.qname, indexed.qtype, indexed.qclass)) return 'question_mismatch';
    const { rcode } = indexed;
    if (rcode === Rcode.SERVFAIL) {
      this.recordFailure(key, now);
      return 'servfail';
    }
    let kind: CacheEntryKind;
    let lifetime: number;
    if (rcode === Rcode.NOERROR && answersQuestion(indexed)) {
      kind = 'success';
      lifetime = Math.min(indexed.minTtl ?? 0, this.options.maxTtl);
    } else if (rcode === Rcode.NXDOMAIN || rcode === Rcode.NOERROR) {
      // RFC 2308 §5: NXDOMAIN and NODATA (CNAME→NODATA included) are cached for min(SOA TTL,
      // SOA MINIMUM), and not at all without a SOA. Records that come with the denial (a CNAME
      // chain, §2.1) must not outlive their own TTL either, hence the min with the lowest TTL.
      if (indexed.negativeTtl === null) return 'denial_without_soa';
      kind = 'denial';
      lifetime = Math.min(indexed.negativeTtl, indexed.minTtl ?? indexed.negativeTtl, this.options.negativeMaxTtl);
    } else {
      return 'uncacheable_rcode';
    }
    // An answer means the upstream works again.
    this.failures.delete(key);
    const kept = Math.max(lifetime, this.options.minTtl);
    // A newer answer supersedes the stored one, even when it cannot be cached itself. A refresh
    // keeps the popularity it was earned by (as CoreDNS keeps its hit counter), so a popular name
    // is prefetched again in its next lifetime without first re-earning the hits.
    const previous = this.index.find(key);
    const hits = previous === NO_SLOT ? 0 : this.table.hits[previous]!;
    if (previous !== NO_SLOT) this.discard(previous, false);
    if (kept <= 0) return 'zero_lifetime';
    // Not from a wire name (≤ 255 bytes, ~1,040 characters escaped): the index keeps 15 bits of length.
    if (key.length > MAX_KEY_LENGTH) return 'too_large';

    const bodyLength = indexed.body.length;
    const ttlCount = indexed.ttlOffsets.length;
    // [record bytes][pad to 2][TTL offsets, 16 bits each]: a message is < 64 KiB, so are its offsets.
    const ttlAt = (bodyLength + 1) & ~1;
    const recordBytes = ttlAt + 2 * ttlCount;
    const size = chunkBytesOf(recordBytes) + key.length + ENTRY_OVERHEAD_BYTES;
    if (size > this.options.maxBytes) return 'too_large';
    // The bounds, before allocating, so what an evicted entry frees is reused at once. The byte
    // bound counts the slabs' unused bytes (free chunks, uncarved slab space) too, the records'
    // and the keys': it bounds what the cache really occupies, not only what its entries are
    // charged.
    while (this.index.size > 0 && this.index.size >= this.options.maxEntries) this.discard(this.index.oldest, true);
    while (this.index.size > 0 && this.counts.bytes + size + this.unusedBytes() + this.slabs.growthFor(recordBytes) + this.index.growthFor(key) > this.options.maxBytes) {
      this.discard(this.index.oldest, true);
    }

    const location = this.slabs.allocate(recordBytes);
    const slab = this.slabs.bufferOf(location);
    const start = this.slabs.offsetIn(location);
    indexed.body.copy(slab, start);
    const words = this.slabs.wordsOf(location);
    const ttlStart = (start + ttlAt) >> 1;
    words.set(indexed.ttlOffsets, ttlStart);
    // Stored TTLs are min(TTL, lifetime): a client never sees a TTL outlasting the entry, and at a
    // hit the TTL it sees is stored − age (RFC 1035 §3.2.1: TTLs count down while cached).
    patchTtls(slab, start, words, bodyLength, (ttl) => Math.min(ttl > MAX_TTL ? 0 : ttl, lifetime), ttlStart, ttlCount);

    const slot = this.table.allocate();
    const table = this.table;
    table.location[slot] = location;
    table.storedAt[slot] = now;
    table.lifetime[slot] = lifetime;
    table.hits[slot] = hits;
    table.bodyLength[slot] = bodyLength;
    table.ttlCount[slot] = ttlCount;
    table.withoutAdditionalLength[slot] = indexed.withoutAdditionalLength;
    table.answerCount[slot] = indexed.answerCount;
    table.authorityCount[slot] = indexed.authorityCount;
    table.additionalCount[slot] = indexed.additionalCount;
    table.rcode[slot] = rcode;
    table.flags[slot] = (kind === 'denial' ? EntryFlag.DENIAL : 0) | ((indexed.flags & Flag.AD) !== 0 ? EntryFlag.AUTHENTIC_DATA : 0);
    this.index.insert(key, slot);
    this.counts[kind]++;
    this.counts.bytes += size;
    return kind;
  }

  /**
   * Remembers that the upstreams failed for `key` (a SERVFAIL, no usable answer in time, or an
   * error answer to a refresh): answered SERVFAIL for servfailTtl when nothing is stored, and a
   * stored entry is answered stale without a new attempt for failureRecheck (RFC 8767 §5).
   */
  recordFailure(key: string, now: number): void {
    if (this.failureMemoryMs <= 0) return;
    this.failures.set(key, now);
  }

  lookup(key: string, now: number): CacheLookup {
    const slot = this.index.find(key);
    if (slot !== NO_SLOT) {
      // Any hit, fresh or stale, makes the entry the most recently used (as lru-cache's get did).
      this.index.touch(slot);
      const table = this.table;
      const storedAt = table.storedAt[slot]!;
      const expiresAt = storedAt + table.lifetime[slot]! * 1000;
      if (now < expiresAt) {
        table.hits[slot]!++;
        this.counters.hits[(table.flags[slot]! & EntryFlag.DENIAL) !== 0 ? 'denial' : 'success']++;
        // One result object for every fresh hit, like the entry view it carries (read it at once).
        const hit = this.freshHit;
        hit.entry = this.entryAt(slot, key, false);
        hit.ageSeconds = now > storedAt ? Math.floor((now - storedAt) / 1000) : 0;
        hit.prefetch = this.shouldPrefetch(slot, now);
        return hit;
      }
      const staleMs = now - expiresAt;
      if (now < storedAt + Math.max(table.lifetime[slot]!, this.options.minTtl) * 1000) {
        this.countMiss();
        return { kind: 'stale', entry: this.entryAt(slot, key, true), staleSeconds: Math.floor(staleMs / 1000), wait: 'min_ttl' };
      }
      if (this.options.serveStale && staleMs <= this.options.staleMaxAge * 1000) {
        this.countMiss();
        const wait = this.failedWithin(key, now, this.failureRecheckMs) ? 'failure_recheck' : null;
        return { kind: 'stale', entry: this.entryAt(slot, key, true), staleSeconds: Math.floor(staleMs / 1000), wait };
      }
      // Past the maximum stale timer (RFC 8767 §5), or expired without serve-stale: gone.
      this.discard(slot, false);
    }
    if (this.failedWithin(key, now, this.servfailMs)) {
      this.counters.hits.servfail++;
      return SERVFAIL;
    }
    this.countMiss();
    return MISS;
  }

  /**
   * The client's response from an entry: header, the client's own question bytes (case kept), the
   * stored records, our OPT when the client sent one. RA comes from `settings`, AA is clear.
   * `timing` is the fresh lookup result itself (it has `ageSeconds`), or `{ staleTtl }` for a stale
   * answer, which gets EDE 3 (RFC 8914 §4.4) unless `settings` carries another EDE.
   */
  responseFromEntry(request: DnsRequest, entry: CacheEntry, timing: { ageSeconds: number } | { staleTtl: number }, settings: ResponseSettings): Buffer {
    const served = this.serve(entry, timing);
    return assembleResponse(request, entry, { ...settings, ede: settings.ede ?? served.ede, ttlAdjust: served.ttlAdjust });
  }

  /**
   * How an entry is answered: its records, with TTLs counted down by the time spent here, or
   * all set to `staleTtl` with EDE 3 for a stale answer (counted as served stale).
   */
  serve(entry: CacheEntry, timing: { ageSeconds: number } | { staleTtl: number }): { ttlAdjust: { subtract: number } | { set: number }; ede: ExtendedError | undefined } {
    if (!('staleTtl' in timing)) return { ttlAdjust: { subtract: timing.ageSeconds }, ede: undefined };
    this.counters.servedStale++;
    return { ttlAdjust: { set: timing.staleTtl }, ede: STALE_EDE };
  }

  flush(): void {
    this.index.clear();
    this.failures.clear();
    this.table.clear();
    this.slabs.clear();
    this.counts.success = 0;
    this.counts.denial = 0;
    this.counts.bytes = 0;
  }

  stats(): CacheStats {
    const { hits, misses, evictions, prefetches, servedStale } = this.counters;
    return {
      entries: { success: this.counts.success, denial: this.counts.denial },
      servfailEntries: this.failures.size,
      bytes: this.counts.bytes,
      slabUnusedBytes: this.slabs.unusedBytes,
      slabBytes: this.slabs.totalBytes,
      keySlabBytes: this.index.keySlabBytes,
      keySlabUnusedBytes: this.index.unusedBytes,
      hits: { ...hits },
      misses,
      evictions,
      prefetches,
      servedStale,
    };
  }

  /** Slab bytes holding nothing, the records' and the keys'. */
  private unusedBytes(): number {
    return this.slabs.unusedBytes + this.index.unusedBytes;
  }

  /**
   * Takes the entry at `slot` out (replaced, expired, or `evicted` for a bound): frees its slot,
   * its chunks and its key, and keeps the per-kind counts and bytes exact without scanning.
   */
  private discard(slot: number, evicted: boolean): void {
    const table = this.table;
    this.counts[(table.flags[slot]! & EntryFlag.DENIAL) !== 0 ? 'denial' : 'success']--;
    this.counts.bytes -= this.entrySize(slot, this.index.keyLengthOf(slot));
    this.slabs.release(table.location[slot]!, this.recordBytes(slot));
    this.index.remove(slot);
    table.release(slot);
    if (evicted) this.counters.evictions++;
  }

  /** Bytes of the record at `slot` in its slab: record bytes, padding, TTL offsets. */
  private recordBytes(slot: number): number {
    return ((this.table.bodyLength[slot]! + 1) & ~1) + 2 * this.table.ttlCount[slot]!;
  }

  private entrySize(slot: number, keyLength: number): number {
    return chunkBytesOf(this.recordBytes(slot)) + keyLength + ENTRY_OVERHEAD_BYTES;
  }

  /**
   * The entry at `slot` as RecordSections. Fresh hits get `freshView`, pointed at the slot: no
   * allocation per hit (see CacheEntry for how long it is valid). `copy`: a new entry with its
   * own bytes, for stale answers held across an upstream attempt.
   */
  private entryAt(slot: number, key: string, copy: boolean): CacheEntry {
    const table = this.table;
    const location = table.location[slot]!;
    const slabNumber = slabNumberOf(location);
    const bodyLength = table.bodyLength[slot]!;
    const ttlCount = table.ttlCount[slot]!;
    let body = this.slabs.slab(slabNumber);
    let bodyOffset = offsetOf(location);
    let ttlOffsets = this.slabs.slabWords(slabNumber);
    const recordBytes = ((bodyLength + 1) & ~1) + 2 * ttlCount;
    if (copy) {
      // Buffer.from copies into Node's pool at an 8-aligned offset (or a buffer of its own), so
      // the 16-bit view is aligned.
      body = Buffer.from(body.subarray(bodyOffset, bodyOffset + recordBytes));
      ttlOffsets = new Uint16Array(body.buffer, body.byteOffset, body.length >> 1);
      bodyOffset = 0;
    }
    const entry = copy ? new SlabEntry(this.options.minTtl) : this.freshView;
    const flags = table.flags[slot]!;
    entry.kind = (flags & EntryFlag.DENIAL) !== 0 ? 'denial' : 'success';
    entry.rcode = table.rcode[slot]!;
    entry.body = body;
    entry.bodyOffset = bodyOffset;
    entry.bodyLength = bodyLength;
    entry.answerCount = table.answerCount[slot]!;
    entry.authorityCount = table.authorityCount[slot]!;
    entry.additionalCount = table.additionalCount[slot]!;
    entry.withoutAdditionalLength = table.withoutAdditionalLength[slot]!;
    entry.ttlOffsets = ttlOffsets;
    entry.ttlStart = (bodyOffset + ((bodyLength + 1) & ~1)) >> 1;
    entry.ttlCount = ttlCount;
    entry.authenticData = (flags & EntryFlag.AUTHENTIC_DATA) !== 0;
    entry.storedAt = table.storedAt[slot]!;
    entry.lifetime = table.lifetime[slot]!;
    entry.hits = table.hits[slot]!;
    entry.recordBytes = recordBytes;
    entry.keyLength = key.length;
    return entry;
  }

  /**
   * CoreDNS-style prefetch: popular (≥ prefetchMinHits hits) and within the last
   * prefetchThreshold of its lifetime, or its last second. Reported once per entry, so exactly
   * one background refresh starts; the refreshed entry starts its own lifetime.
   */
  private shouldPrefetch(slot: number, now: number): boolean {
    const { prefetch, prefetchMinHits, prefetchThreshold } = this.options;
    const table = this.table;
    if (!prefetch || (table.flags[slot]! & EntryFlag.PREFETCH_REQUESTED) !== 0 || table.hits[slot]! < prefetchMinHits) return false;
    const lifetime = table.lifetime[slot]!;
    const windowMs = Math.max(Math.ceil(lifetime * 1000 * prefetchThreshold), 1000);
    if (table.storedAt[slot]! + lifetime * 1000 - now > windowMs) return false;
    table.flags[slot]! |= EntryFlag.PREFETCH_REQUESTED;
    this.counters.prefetches++;
    return true;
  }

  /** A failure for `key` less than `windowMs` ago; forgets failures no window needs any more. */
  private failedWithin(key: string, now: number, windowMs: number): boolean {
    const failedAt = this.failures.get(key);
    if (failedAt === undefined) return false;
    const ago = now - failedAt;
    if (ago >= this.failureMemoryMs) {
      this.failures.delete(key);
      return false;
    }
    return ago < windowMs;
  }

  private countMiss(): void {
    this.counters.misses++;
  }
}

/** CacheEntry over a slab: the fields assembleResponse reads, and the rest derived when asked. */
class SlabEntry implements CacheEntry {
  kind: CacheEntryKind = 'success';
  rcode = 0;
  readonly authoritative = false;
  readonly rotationUnit = 0;
  body: Buffer = EMPTY_BODY;
  bodyOffset = 0;
  bodyLength = 0;
  answerCount = 0;
  authorityCount = 0;
  additionalCount = 0;
  withoutAdditionalLength = 0;
  ttlOffsets: Uint16Array = EMPTY_OFFSETS;
  ttlStart = 0;
  ttlCount = 0;
  authenticData = false;
  storedAt = 0;
  lifetime = 0;
  hits = 0;
  recordBytes = 0;
  keyLength = 0;
  private readonly minTtl: number;

  constructor(minTtl: number) {
    this.minTtl = minTtl;
  }

  get expiresAt(): number {
    return this.storedAt + this.lifetime * 1000;
  }

  get heldUntil(): number {
    return this.storedAt + Math.max(this.lifetime, this.minTtl) * 1000;
  }

  get size(): number {
    return chunkBytesOf(this.recordBytes) + this.keyLength + ENTRY_OVERHEAD_BYTES;
  }
}

const EMPTY_BODY = Buffer.alloc(0);
const EMPTY_OFFSETS = new Uint16Array(0);

/**
 * How many body bytes assembleResponse put in: all, ANSWER+AUTHORITY when it dropped ADDITIONAL to
 * fit (its ARCOUNT then holds only our OPT), none when it truncated (TC).
 */
