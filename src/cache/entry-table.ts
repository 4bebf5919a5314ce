// The cache's per-entry metadata as a struct of arrays: one typed-array element per field,
// indexed by a slot number. An entry is ENTRY_TABLE_BYTES_PER_SLOT bytes here, no object: the
// object per entry (CacheEntry with three boxed doubles, 168 B measured) was a quarter of what an
// entry cost, and a million small objects scattered over the old generation keep its pages from
// being compacted (issue 9 item 4).
//
// Capacity doubles as slots are needed (64 first, never above the cache's maxEntries + 1), so
// nothing is allocated for entries not yet stored; freed slots are reused first.

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
export const ENTRY_TABLE_BYTES_PER_SLOT = 8 + 8 + 4 + 4 + 2 * 6 + 1 + 1;

export class EntryTable {
  /** Where the record bytes are (RecordSlabs location). */
  location = new Float64Array(0);
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
    // Grown rarely (doubling), so one generic copy serves every element type.
    const resized = <T extends Float64Array | Uint32Array | Uint16Array | Uint8Array>(from: T): T => {
      const to = new (from.constructor as new (length: number) => T)(slots);
      to.set(from.subarray(0, keep));
      return to;
    };
    this.location = resized(this.location);
    this.storedAt = resized(this.storedAt);
    this.lifetime = resized(this.lifetime);
    this.hits = resized(this.hits);
    this.bodyLength = resized(this.bodyLength);
    this.ttlCount = resized(this.ttlCount);
    this.withoutAdditionalLength = resized(this.withoutAdditionalLength);
    this.answerCount = resized(this.answerCount);
    this.authorityCount = resized(this.authorityCount);
    this.additionalCount = resized(this.additionalCount);
    this.rcode = resized(this.rcode);
    this.flags = resized(this.flags);
  }
}
