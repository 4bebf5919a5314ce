// The answer cache's key → slot index and its recency order, in typed arrays: no JS object or
// string is kept per entry (only a bounded Map of recently found keys, below).
//
// Why not lru-cache (which `failures`, the small servfail memory, still uses): per entry it keeps
// the key string (~37 characters, ~56 B with its header, often a rope plus its flat copy), a Map
// entry, and a slot in each of its plain keyList/valList/next/prev/sizes arrays. A heap snapshot of
// the server with 10,000 agents and 100,000 cached names held 18.4 MiB of `array` and 12.2 MiB of
// `string`, most of it this index, all of it traced and moved by the GC (issue 9 item 4). With
// this index an entry costs 159-163 B of heap and buffers instead of 216-224 B at 100,000-200,000
// entries (test/bench/cache-memory.ts; ENTRY_OVERHEAD_BYTES in answer-cache.ts has the figures).
//
// - Keys: a hash over the key's UTF-16 code units (hashKey, seeded per process so that names a
//   client chooses cannot be aimed at one probe run without the seed) picks a bucket in an
//   open-addressing table (linear probing, power-of-two capacity, doubled above LOAD_FACTOR,
//   deletion by backward shift: no tombstones to rebuild). A bucket holds slot + 1 (0: empty).
// - The key's characters are kept in a chunk of the index's own RecordSlabs (one byte per
//   character, or two when a character is above U+00FF, which keys made from wire names never
//   have: name.ts escapes every byte outside printable ASCII as \DDD). Apart from the records'
//   slabs, so that key lengths (which change with the names asked) do not mix into the records'
//   size classes; the cache counts these slabs' unused bytes against maxBytes too. A lookup
//   compares the stored hash, the length, then every character: a key never matches a different
//   key, whatever the hash does.
// - Recent keys: up to RECENT_KEYS keys found lately, in a Map to their slots, so a recurring name
//   is found by V8's cached string hash without hashing and comparing its characters in JS (what
//   keeps a cache hit as cheap as with lru-cache; see `recent`).
// - Recency: a doubly linked list through `newer`/`older` per slot, newest first; `touch` moves a
//   slot to the front (a cache hit), `oldest` is the one to evict. Exactly lru-cache's order: a
//   get refreshes, a peek (find) does not, an insert is the newest.
//
// Slots are the caller's (EntryTable's): the index keeps per-slot arrays that grow by doubling as
// higher slots are inserted, never above `maxSlots`. Nothing is allocated before the first insert.
//
// Pure data structure: no clock, no I/O (the hash seeds are drawn once, at load).

import { random } from '../runtime/random.ts';
import { offsetOf, RecordSlabs, slabNumberOf } from './record-slabs.ts';
import { resizedArray } from './typed-array-growth.ts';

/** A 32-bit hash of a key's characters. */
export type KeyHash = (key: string) => number;

/** What find() and oldest give when there is no such slot. */
export const NO_SLOT = -1;

/** Bytes of typed arrays per slot (hashes, newer, older, keyLocation, keyLength, inRecent), buckets aside. */
export const KEY_INDEX_BYTES_PER_SLOT = 4 + 4 + 4 + 4 + 2 + 1;

/** Keys the recent-key Map holds at the most (then it starts again empty). */
const RECENT_KEYS = 1024;

/** Longest key, in UTF-16 code units (the length shares 16 bits with the WIDE bit). Wire names give keys of ~1,040 at most. */
export const MAX_KEY_LENGTH = 0x7fff;

/** Buckets per entry kept below this: linear probing stays short (~1.5 probes per hit at 0.7, Knuth). */
const LOAD_FACTOR = 0.7;
const INITIAL_BUCKETS = 64;
const INITIAL_SLOTS = 64;
/** In keyLength: the key is stored as 16-bit code units (a character above U+00FF). */
const WIDE = 0x8000;

const EVEN_SEED = random.uint32();
const ODD_SEED = random.uint32();

/**
 * FNV-1a over the key's UTF-16 code units from per-process seeds, in two lanes (even and odd
 * positions: the multiplications of one lane do not wait for the other's, which halves the
 * dependency chain that bounds a one-lane loop at ~1.5 ns per character), then MurmurHash3's
 * finalizer: FNV's low bits, which pick the bucket, depend mostly on the last characters, and the
 * names of one zone differ mostly in their first ones.
 */
export function hashKey(key: string): number {
  const length = key.length;
  let even = EVEN_SEED ^ length;
  let odd = ODD_SEED;
  let index = 0;
  for (; index + 1 < length; index += 2) {
    even = Math.imul(even ^ key.charCodeAt(index), 0x01000193);
    odd = Math.imul(odd ^ key.charCodeAt(index + 1), 0x01000193);
  }
  if (index < length) even = Math.imul(even ^ key.charCodeAt(index), 0x01000193);
  let hash = even ^ ((odd << 16) | (odd >>> 16));
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  return hash ^ (hash >>> 16);
}

/** Whether a key needs two bytes per character (a code unit above 0xFF). Store only: one pass over the key. */
function isWide(key: string): boolean {
  for (let index = 0; index < key.length; index++) if (key.charCodeAt(index) > 0xff) return true;
  return false;
}

/** Bytes `key` takes in the key slabs (before its chunk's rounding). */
function keyBytesOf(key: string): number {
  return isWide(key) ? 2 * key.length : key.length;
}

export class KeyIndex {
  /** slot + 1 per bucket, 0 for an empty one. */
  private buckets = new Int32Array(0);
  /** Per slot: the key's hash (its bucket is where probing from hash & mask finds it). */
  private hashes = new Int32Array(0);
  /** Per slot: the next more recent slot, and the next less recent one (NO_SLOT at the ends). */
  private newer = new Int32Array(0);
  private older = new Int32Array(0);
  /** Per slot: the key's chunk (RecordSlabs location) and its length in code units, | WIDE. */
  private keyLocation = new Uint32Array(0);
  private keyLength = new Uint16Array(0);
  /** Per slot: 1 while its key is in `recent` (remove() then takes it out). */
  private inRecent = new Uint8Array(0);
  /**
   * Keys found recently → their slots. A name asked again skips hashKey and the character
   * compare (~1.3 ns per character each, ~55 ns for a 21-character name): a Map looks a string up
   * by V8's own hash, computed once per string and kept in it, and the request parser hands out
   * the same string for a recurring name (name.ts, recentName), so the lookup costs what
   * lru-cache's did. At most RECENT_KEYS strings, whatever the cache holds (then it starts again
   * empty); an entry leaves when its slot is removed, so it always names the slot's current key.
   */
  private readonly recent = new Map<string, number>();
  private newestSlot = NO_SLOT;
  private oldestSlot = NO_SLOT;
  private count = 0;
  /** The keys' characters. */
  private readonly slabs = new RecordSlabs();
  private readonly maxSlots: number;
  private readonly hash: KeyHash;

  /** `maxSlots`: the highest slot + 1 that will be inserted. `hash`: hashKey, or a weaker one in tests to force collisions. */
  constructor(maxSlots: number, hash: KeyHash = hashKey) {
    this.maxSlots = maxSlots;
    this.hash = hash;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes of the key slabs (what the keys' characters really occupy). */
  get keySlabBytes(): number {
    return this.slabs.totalBytes;
  }

  /** Key slab bytes holding no key (free chunks, uncarved slab space). */
  get unusedBytes(): number {
    return this.slabs.unusedBytes;
  }

  /** How much unusedBytes would grow if `key` were inserted now (RecordSlabs.growthFor). */
  growthFor(key: string): number {
    return this.slabs.growthFor(keyBytesOf(key));
  }

  /** The least recently used slot (the next to evict), or NO_SLOT when empty. */
  get oldest(): number {
    return this.oldestSlot;
  }

  /** Buckets allocated (for tests and the memory figures). */
  get bucketCount(): number {
    return this.buckets.length;
  }

  /** Characters of the key stored for `slot`. */
  keyLengthOf(slot: number): number {
    return this.keyLength[slot]! & ~WIDE;
  }

  /** The slot stored under `key`, or NO_SLOT. Recency is not changed (lru-cache's peek). */
  find(key: string): number {
    if (this.count === 0) return NO_SLOT;
    const recent = this.recent.get(key);
    if (recent !== undefined) return recent;
    const buckets = this.buckets;
    const hash = this.hash(key) | 0;
    const mask = buckets.length - 1;
    for (let bucket = hash & mask; ; bucket = (bucket + 1) & mask) {
      const held = buckets[bucket]!;
      if (held === 0) return NO_SLOT;
      const slot = held - 1;
      if (this.hashes[slot] === hash && this.keyIs(slot, key)) {
        this.remember(key, slot);
        return slot;
      }
    }
  }

  /** Makes `slot` the most recently used (a cache hit: lru-cache's get). */
  touch(slot: number): void {
    if (slot === this.newestSlot) return;
    this.unlink(slot);
    this.linkNewest(slot);
  }

  /**
   * Stores `key` for `slot` as the most recently used. The caller has removed any slot under an
   * equal key (find first) and does not insert a slot twice. Copies the key's characters.
   */
  insert(key: string, slot: number): void {
    if (key.length > MAX_KEY_LENGTH) throw new RangeError(`cache key of ${key.length} characters (at most ${MAX_KEY_LENGTH})`);
    if (slot >= this.hashes.length) this.growSlots(slot);
    if (this.count + 1 > this.buckets.length * LOAD_FACTOR) this.rehash(Math.max(INITIAL_BUCKETS, this.buckets.length * 2));
    const hash = this.hash(key) | 0;
    this.hashes[slot] = hash;
    this.keyLocation[slot] = this.writeKey(key);
    this.keyLength[slot] = key.length | (isWide(key) ? WIDE : 0);
    this.place(slot, hash);
    this.linkNewest(slot);
    this.count++;
  }

  /** Takes `slot` (inserted, not yet removed) out of the index and frees its key's chunk. */
  remove(slot: number): void {
    const buckets = this.buckets;
    const mask = buckets.length - 1;
    let hole = this.hashes[slot]! & mask;
    while (buckets[hole] !== slot + 1) {
      // Its probe run ended without it: not in the index (a caller's bug; looping on would never end).
      if (buckets[hole] === 0) throw new Error(`slot ${slot} is not in the key index`);
      hole = (hole + 1) & mask;
    }
    // Backward shift (Knuth's Algorithm R): move later members of the probe run into the hole
    // unless their home bucket lies cyclically after the hole, so every key stays reachable from
    // its home without tombstones.
    for (let next = (hole + 1) & mask; buckets[next] !== 0; next = (next + 1) & mask) {
      const home = this.hashes[buckets[next]! - 1]! & mask;
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        buckets[hole] = buckets[next]!;
        hole = next;
      }
    }
    buckets[hole] = 0;
    this.unlink(slot);
    if (this.inRecent[slot] === 1) {
      this.recent.delete(this.keyAt(slot));
      this.inRecent[slot] = 0;
    }
    const units = this.keyLength[slot]!;
    this.slabs.release(this.keyLocation[slot]!, units & WIDE ? 2 * (units & ~WIDE) : units);
    this.count--;
  }

  /** Forgets every key and drops the key slabs. */
  clear(): void {
    this.slabs.clear();
    this.buckets = new Int32Array(0);
    this.hashes = new Int32Array(0);
    this.newer = new Int32Array(0);
    this.older = new Int32Array(0);
    this.keyLocation = new Uint32Array(0);
    this.keyLength = new Uint16Array(0);
    this.inRecent = new Uint8Array(0);
    this.recent.clear();
    this.newestSlot = NO_SLOT;
    this.oldestSlot = NO_SLOT;
    this.count = 0;
  }

  /** Slots from the most recently used to the least (for tests). */
  *byRecency(): Generator<number> {
    for (let slot = this.newestSlot; slot !== NO_SLOT; slot = this.older[slot]!) yield slot;
  }

  private remember(key: string, slot: number): void {
    if (this.recent.size >= RECENT_KEYS) {
      for (const held of this.recent.values()) this.inRecent[held] = 0;
      this.recent.clear();
    }
    this.recent.set(key, slot);
    this.inRecent[slot] = 1;
  }

  /** The key stored for `slot`, as a new string (remove() of a slot in `recent` only). */
  private keyAt(slot: number): string {
    const units = this.keyLength[slot]!;
    const length = units & ~WIDE;
    const location = this.keyLocation[slot]!;
    const slabNumber = slabNumberOf(location);
    const offset = offsetOf(location);
    if ((units & WIDE) === 0) return this.slabs.slab(slabNumber).toString('latin1', offset, offset + length);
    const words = this.slabs.slabWords(slabNumber);
    let key = '';
    for (let index = 0; index < length; index++) key += String.fromCharCode(words[(offset >> 1) + index]!);
    return key;
  }

  /** Whether the key stored for `slot` is exactly `key`, character by character. */
  private keyIs(slot: number, key: string): boolean {
    const units = this.keyLength[slot]!;
    if ((units & ~WIDE) !== key.length) return false;
    const location = this.keyLocation[slot]!;
    const slabNumber = slabNumberOf(location);
    const offset = offsetOf(location);
    if ((units & WIDE) === 0) {
      const bytes = this.slabs.slab(slabNumber);
      for (let index = 0; index < key.length; index++) if (bytes[offset + index] !== key.charCodeAt(index)) return false;
      return true;
    }
    const words = this.slabs.slabWords(slabNumber);
    const start = offset >> 1; // chunks start at even offsets
    for (let index = 0; index < key.length; index++) if (words[start + index] !== key.charCodeAt(index)) return false;
    return true;
  }

  private writeKey(key: string): number {
    const wide = isWide(key);
    const location = this.slabs.allocate(wide ? 2 * key.length : key.length);
    const slabNumber = slabNumberOf(location);
    const offset = offsetOf(location);
    if (!wide) {
      this.slabs.slab(slabNumber).write(key, offset, key.length, 'latin1');
    } else {
      const words = this.slabs.slabWords(slabNumber);
      const start = offset >> 1;
      for (let index = 0; index < key.length; index++) words[start + index] = key.charCodeAt(index);
    }
    return location;
  }

  /** Puts `slot` in the first empty bucket from its home. */
  private place(slot: number, hash: number): void {
    const buckets = this.buckets;
    const mask = buckets.length - 1;
    let bucket = hash & mask;
    while (buckets[bucket] !== 0) bucket = (bucket + 1) & mask;
    buckets[bucket] = slot + 1;
  }

  /** A table of `capacity` buckets holding every slot again, placed from their stored hashes. */
  private rehash(capacity: number): void {
    const old = this.buckets;
    this.buckets = new Int32Array(capacity);
    for (let bucket = 0; bucket < old.length; bucket++) {
      const held = old[bucket]!;
      if (held !== 0) this.place(held - 1, this.hashes[held - 1]!);
    }
  }

  private growSlots(slot: number): void {
    const slots = Math.max(slot + 1, Math.min(Math.max(this.hashes.length * 2, INITIAL_SLOTS), this.maxSlots));
    this.hashes = resizedArray(this.hashes, slots);
    this.newer = resizedArray(this.newer, slots);
    this.older = resizedArray(this.older, slots);
    this.keyLocation = resizedArray(this.keyLocation, slots);
    this.keyLength = resizedArray(this.keyLength, slots);
    this.inRecent = resizedArray(this.inRecent, slots);
  }

  private linkNewest(slot: number): void {
    this.newer[slot] = NO_SLOT;
    this.older[slot] = this.newestSlot;
    if (this.newestSlot !== NO_SLOT) this.newer[this.newestSlot] = slot;
    else this.oldestSlot = slot;
    this.newestSlot = slot;
  }

  private unlink(slot: number): void {
    const newer = this.newer[slot]!;
    const older = this.older[slot]!;
    if (newer !== NO_SLOT) this.older[newer] = older;
    else this.newestSlot = older;
    if (older !== NO_SLOT) this.newer[older] = newer;
    else this.oldestSlot = newer;
  }
}
