// The cache's per-entry metadata as a struct of arrays: one typed-array element per field,
// indexed by a slot number. An entry is ENTRY_TABLE_BYTES_PER_SLOT bytes here, no object: the
// object per entry (CacheEntry with three boxed doubles, 168 B measured) was a quarter of what an
// entry cost, and a million small objects scattered over the old generation keep its pages from
// being compacted (issue 9 item 4).
//
// Capacity doubles as slots are needed (64 first, never above the cache's maxEntries + 1), so
// nothing is allocated for entries not yet stored; freed slots are reused first.

import { resizedArray } from './typed-array-growth.ts';

const INITIAL_SLOTS = 64;

/** Flag bits in `flags`. */
export const EntryFlag = Object.freeze({
  /** NXDOMAIN/NODATA (RFC 2308), else a positive answer. */
  DENIAL: 1,
  /** The upstream set AD (RFC 4035 §3.2.3). */
  AUTHENTIC_DATA: 2,
  /** A prefetch was requested in this lifetime (one per lifetime). */
  PREFETCH_REQUESTED: 4,
});

/** Bytes of typed arrays per slot (the sum of the element sizes below). */
export const ENTRY_TABLE_BYTES_PER_SLOT = 4 + 8 + 4 + 4 + 2 * 6 + 1 + 1;

export class EntryTable {
  /** Where the record bytes are (a RecordSlabs location: 32 bits). */
  location = new Uint32Array(0);
  /** When stored (ms, the caller's clock). */
  storedAt = new Float64Array(0);
  /** Seconds fresh: the lowest TTL, capped. */
  lifetime = new Uint32Array(0);
  /** Hits, kept across refreshes (prefetch popularity). */
  hits = new Uint32Array(0);
  bodyLength = new Uint16Array(0);
  ttlCount = new Uint16Array(0);
  withoutAdditionalLength = new Uint16Array(0);
  answerCount = new Uint16Array(0);
  authorityCount = new Uint16Array(0);
  additionalCount = new Uint16Array(0);
  rcode = new Uint8Array(0);
  flags = new Uint8Array(0);

  private readonly freeSlots: number[] = [];
  private used = 0;

  /** `maxSlots`: the cache's maxEntries (+1: a replacement is stored before the old slot is freed). */
  private readonly maxSlots: number;

  constructor(maxSlots: number) {
    this.maxSlots = maxSlots;
  }

  /** Slots allocated in the arrays (for the memory figures). */
  get capacity(): number {
    return this.location.length;
  }

  allocate(): number {
    const reused = this.freeSlots.pop();
    if (reused !== undefined) return reused;
    if (this.used === this.location.length) this.grow(Math.max(this.used + 1, Math.min(Math.max(this.used * 2, INITIAL_SLOTS), this.maxSlots)));
    return this.used++;
  }

  release(slot: number): void {
    this.freeSlots.push(slot);
  }

  clear(): void {
    this.freeSlots.length = 0;
    this.used = 0;
    this.grow(0);
  }

  private grow(slots: number): void {
    const keep = Math.min(this.used, slots);
    this.location = resizedArray(this.location, slots, keep);
    this.storedAt = resizedArray(this.storedAt, slots, keep);
    this.lifetime = resizedArray(this.lifetime, slots, keep);
    this.hits = resizedArray(this.hits, slots, keep);
    this.bodyLength = resizedArray(this.bodyLength, slots, keep);
    this.ttlCount = resizedArray(this.ttlCount, slots, keep);
    this.withoutAdditionalLength = resizedArray(this.withoutAdditionalLength, slots, keep);
    this.answerCount = resizedArray(this.answerCount, slots, keep);
    this.authorityCount = resizedArray(this.authorityCount, slots, keep);
    this.additionalCount = resizedArray(this.additionalCount, slots, keep);
    this.rcode = resizedArray(this.rcode, slots, keep);
    this.flags = resizedArray(this.flags, slots, keep);
  }
}
