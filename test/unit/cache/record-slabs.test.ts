// The cache's slab layer (issue 9 item 4): RecordSlabs alone (size classes, chunk reuse, large
// records), then through AnswerCache: bounds pushed past, churn without accounting drift, every
// size class up to a 65,535-byte TCP answer, replacement, deletion freeing space.

import { describe, expect, it } from 'vitest';
import { AnswerCache, cacheKey, ENTRY_OVERHEAD_BYTES, type AnswerCacheOptions } from '../../../src/cache/answer-cache.ts';
import { chunkBytesOf, CLASS_SIZES, LARGE_CLASS, LARGEST_CLASS_BYTES, locationOf, MAX_SLABS, offsetOf, RecordSlabs, sizeClassOf, SLAB_BYTES, slabNumberOf } from '../../../src/cache/record-slabs.ts';
import { RRType } from '../../../src/wire/constants.ts';
import { messageLayout, encodeRecord } from '../../support/dns-messages.ts';
import { aRecord, QNAME, request, settingsFor, T0, ttlsOf, upstream } from './fixtures.ts';

describe('RecordSlabs', () => {
  // Locations live in the cache's Uint32Arrays: every slab number and 16-byte offset must come back
  // out of one, past 2³¹ too (where a Uint32Array element reads back as a double, not a small int).
  it('encodes a slab number and an offset in 32 bits that a Uint32Array gives back, up to the last slab', () => {
    const stored = new Uint32Array(1);
    for (const slab of [0, 1, 1023, 2 ** 21 - 1, 2 ** 21, 2 ** 21 + 5, MAX_SLABS - 1]) {
      for (const offset of [0, 16, 4096, SLAB_BYTES - 16]) {
        stored[0] = locationOf(slab, offset);
        expect(stored[0]).toBe(locationOf(slab, offset));
        expect(slabNumberOf(stored[0]!)).toBe(slab);
        expect(offsetOf(stored[0]!)).toBe(offset);
      }
    }
    expect(locationOf(MAX_SLABS - 1, SLAB_BYTES - 16)).toBeLessThan(2 ** 32);
  });

  it('refuses a slab past its slab numbers without changing its accounting, and reuses a released number', () => {
    const slabs = new RecordSlabs(3);
    const large = [slabs.allocate(LARGEST_CLASS_BYTES + 1), slabs.allocate(LARGEST_CLASS_BYTES + 1)];
    const small = slabs.allocate(16); // the third slab: a class's first
    const [total, unused] = [slabs.totalBytes, slabs.unusedBytes];
    expect(() => slabs.allocate(LARGEST_CLASS_BYTES + 1)).toThrow(/all 3 slab numbers in use/);
    expect(() => slabs.allocate(100)).toThrow(/all 3 slab numbers in use/); // another class: a new slab too
    expect([slabs.totalBytes, slabs.unusedBytes]).toEqual([total, unused]);
    expect(slabs.allocate(16)).not.toBe(small); // the class's slab has room: no new number needed
    slabs.release(large[0]!, LARGEST_CLASS_BYTES + 1);
    const again = slabs.allocate(100);
    expect(slabNumberOf(again)).toBe(slabNumberOf(large[0]!));
    expect(slabs.totalBytes - slabs.unusedBytes).toBe(LARGEST_CLASS_BYTES + 1 + 16 + 16 + chunkBytesOf(100));
  });

  it('gives every size up to LARGEST_CLASS_BYTES the smallest class that holds it, and chunks never overlap', () => {
    const slabs = new RecordSlabs();
    const held: { location: number; bytes: number; mark: number }[] = [];
    let charged = 0;
    for (let bytes = 1; bytes <= LARGEST_CLASS_BYTES; bytes += 7) {
      const sizeClass = sizeClassOf(bytes);
      expect(CLASS_SIZES[sizeClass]).toBeGreaterThanOrEqual(bytes);
      if (sizeClass > 0) expect(CLASS_SIZES[sizeClass - 1]).toBeLessThan(bytes);
      const location = slabs.allocate(bytes);
      const mark = held.length & 0xff;
      slabs.bufferOf(location).fill(mark, slabs.offsetIn(location), slabs.offsetIn(location) + bytes);
      held.push({ location, bytes, mark });
      charged += chunkBytesOf(bytes);
    }
    for (const { location, bytes, mark } of held) {
      const start = slabs.offsetIn(location);
      expect(slabs.bufferOf(location).subarray(start, start + bytes).every((byte) => byte === mark)).toBe(true);
    }
    expect(slabs.totalBytes - slabs.unusedBytes).toBe(charged);
  });

  it('hands a released chunk out again before carving a new one, in its class only', () => {
    const slabs = new RecordSlabs();
    const small = [slabs.allocate(20), slabs.allocate(20), slabs.allocate(20)];
    const other = slabs.allocate(200);
    const total = slabs.totalBytes;
    slabs.release(small[1]!, 20);
    expect(slabs.allocate(300)).not.toBe(small[1]); // another class
    expect(slabs.allocate(17)).toBe(small[1]); // 17 and 20 share the 32-byte class
    slabs.release(other, 200);
    expect(slabs.allocate(200)).toBe(other);
    expect(slabs.totalBytes).toBeGreaterThan(total); // only the 300-byte class grew
  });

  it("starts a class with a 4-chunk slab and doubles it up to SLAB_BYTES: a class in little use costs little", () => {
    const slabs = new RecordSlabs();
    slabs.allocate(32);
    expect(slabs.totalBytes).toBe(4 * 32);
    for (let index = 1; index < 4; index++) slabs.allocate(32);
    expect(slabs.growthFor(32)).toBe(8 * 32 - 32);
    for (let index = 0; index < 2000; index++) slabs.allocate(32);
    expect(slabs.growthFor(32)).toBeLessThanOrEqual(SLAB_BYTES);
  });

  it('releases a slab whose chunks are all free again (not the one its class is carving), and never hands its chunks out', () => {
    const slabs = new RecordSlabs();
    const first = [0, 1, 2, 3].map(() => slabs.allocate(32)); // the class's first slab: 4 chunks
    const fifth = slabs.allocate(32); // a second slab, of 8
    expect(slabs.totalBytes).toBe(4 * 32 + 8 * 32);
    for (const location of first.slice(0, 3)) slabs.release(location, 32);
    expect(slabs.totalBytes).toBe(12 * 32);
    slabs.release(first[3]!, 32);
    expect(slabs.totalBytes).toBe(8 * 32);
    expect(slabs.unusedBytes).toBe(7 * 32);
    // Only the second slab's chunks are handed out now.
    const next = Array.from({ length: 7 }, () => slabs.allocate(32));
    expect(next.every((location) => slabs.bufferOf(location) === slabs.bufferOf(fifth))).toBe(true);
    slabs.release(fifth, 32);
    expect(slabs.totalBytes).toBe(8 * 32); // the carving slab stays
  });

  it('gives a record over LARGEST_CLASS_BYTES (up to a 65,535-byte answer and its offsets) a buffer of its own, freed on release', () => {
    const slabs = new RecordSlabs();
    const bytes = 65_536 + 2 * 5_000;
    expect(sizeClassOf(bytes)).toBe(LARGE_CLASS);
    const location = slabs.allocate(bytes);
    expect(slabs.bufferOf(location).length).toBe(bytes);
    expect(slabs.totalBytes).toBe(bytes);
    expect(slabs.unusedBytes).toBe(0);
    slabs.release(location, bytes);
    expect(slabs.totalBytes).toBe(0);
    // Its number is reused: large records do not grow the slab table without bound.
    expect(slabs.allocate(LARGEST_CLASS_BYTES + 1)).toBe(location);
  });
});

// ─── Through AnswerCache ──────────────────────────────────────────────────────

const keyFor = (label: string, type: number = RRType.A) => cacheKey(`${label}.example.com`, type, 1, false, false);

/** A TXT answer for `<label>.example.com` whose record bytes (the body) are exactly `bodyLength` long. */
function txtAnswer(label: string, bodyLength: number, ttl = 300) {
  const records: Buffer[] = [];
  // Records of at most 60,000 bytes of RDATA; each costs 12 bytes of owner pointer + fixed part.
  for (let left = bodyLength; left > 0;) {
    const rdataLength = Math.min(60_000, left - 12);
    if (rdataLength < 1) throw new Error(`cannot make a body of ${bodyLength} bytes`);
    const rdata = Buffer.alloc(rdataLength, 0x41 + (records.length % 26));
    for (let at = 0; at < rdataLength; at += 256) rdata[at] = Math.min(255, rdataLength - at - 1); // TXT <character-string>s
    records.push(encodeRecord({ nameBytes: QNAME, type: 'TXT', ttl, rdata }));
    left -= 12 + rdataLength;
  }
  return upstream({ name: `${label}.example.com`, type: 'TXT', answers: records, edns: null });
}

function cacheWith(options: Partial<AnswerCacheOptions> = {}): AnswerCache {
  return new AnswerCache({ prefetch: false, ...options });
}

/** stats().bytes recomputed from every entry the cache holds (each looked up once). */
function recount(cache: AnswerCache, keys: Iterable<string>, now: number): { entries: number; bytes: number } {
  let entries = 0;
  let bytes = 0;
  for (const key of keys) {
    const found = cache.lookup(key, now);
    if (found.kind !== 'fresh') continue;
    entries++;
    bytes += found.entry.size;
  }
  return { entries, bytes };
}

describe('AnswerCache on slabs', () => {
  it('stores answers of every size class, up to a 65,535-byte TCP answer, and serves them byte for byte', () => {
    const cache = cacheWith({ maxBytes: 256 * 1024 * 1024 });
    // Record bytes = body + 2 (one TTL offset): each class's largest, then large records.
    const LARGEST = -1;
    const sizes = [...CLASS_SIZES.map((size) => size - 2), LARGEST_CLASS_BYTES + 100, 20_000];
    expect(new Set(sizes.map((bytes) => sizeClassOf(bytes + 2))).size).toBe(CLASS_SIZES.length + 1); // + LARGE_CLASS
    sizes.push(LARGEST);
    for (const [index, size] of sizes.entries()) {
      const label = `txt${index}`;
      const req = request(`${label}.example.com`, { type: 'TXT' });
      // The largest: the body that makes the whole response 65,535 bytes, the most TCP carries.
      const bodyLength = size === LARGEST ? 0xffff - req.questionEnd : size;
      const message = txtAnswer(label, bodyLength);
      expect(message.body.length).toBe(bodyLength);
      expect(cache.store(keyFor(label, RRType.TXT), message, T0)).toBe('success');
      const serve = (now: number) => {
        const found = cache.lookup(keyFor(label, RRType.TXT), now);
        if (found.kind !== 'fresh') throw new Error(`${label}: ${found.kind}`);
        return cache.responseFromEntry(req, found.entry, found, settingsFor(req, { sizeLimit: 0xffff }));
      };
      const response = serve(T0);
      expect(response.subarray(req.questionEnd).equals(message.body), `${bodyLength} bytes: the bytes`).toBe(true);
      if (size === LARGEST) expect(response.length).toBe(65_535);
      expect(typeof messageLayout(response)).not.toBe('string');
      // 5 s later every record's TTL has counted down by 5.
      const later = ttlsOf(serve(T0 + 5_000));
      expect(later.length).toBe(message.answerCount);
      expect(later.every((ttl) => ttl === 295), `${bodyLength} bytes`).toBe(true);
    }
  });

  it('holds maxEntries when filled 10× past it, reusing evicted slots and chunks (the slabs stop growing)', () => {
    const cache = cacheWith({ maxEntries: 500 });
    const storeName = (index: number) => cache.store(keyFor(`n${index}`), upstream({ name: `n${index}.example.com`, answers: [aRecord(300, index & 0xff)] }), T0);
    for (let index = 0; index < 500; index++) storeName(index);
    const slabBytes = cache.stats().slabBytes;
    for (let index = 500; index < 5_000; index++) storeName(index);
    const stats = cache.stats();
    expect(stats.entries.success).toBe(500);
    expect(stats.evictions).toBe(4_500);
    expect(stats.slabBytes).toBe(slabBytes);
    // The newest 500 are the ones kept, with their own bytes.
    const req = request('n4999.example.com');
    const found = cache.lookup(keyFor('n4999'), T0);
    if (found.kind !== 'fresh') throw new Error(found.kind);
    expect(cache.responseFromEntry(req, found.entry, found, settingsFor(req)).at(-1)).toBe(4999 & 0xff);
    expect(cache.lookup(keyFor('n4499'), T0).kind).toBe('miss');
  });

  it('holds maxBytes (entries + unused slab bytes) through 200,000 stores of mixed sizes, without accounting drift', () => {
    const maxBytes = 1024 * 1024;
    const cache = cacheWith({ maxBytes, maxEntries: 1_000_000 });
    const bodySizes = [16, 40, 100, 300, 700, 1_500, 3_000, 5_000];
    const live = new Set<string>();
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let index = 0; index < 200_000; index++) {
      const label = `c${Math.floor(random() * 50_000)}`;
      const size = bodySizes[Math.floor(random() * bodySizes.length)]!;
      const outcome = cache.store(keyFor(label, RRType.TXT), txtAnswer(label, size), T0);
      expect(outcome).toBe('success');
      live.add(keyFor(label, RRType.TXT));
      if (index % 20_000 === 0) {
        const stats = cache.stats();
        expect(stats.bytes + stats.slabUnusedBytes).toBeLessThanOrEqual(maxBytes);
      }
    }
    const stats = cache.stats();
    expect(stats.bytes + stats.slabUnusedBytes).toBeLessThanOrEqual(maxBytes);
    expect(stats.slabBytes - stats.slabUnusedBytes).toBeLessThanOrEqual(stats.bytes);
    // The bound is not met by keeping the cache nearly empty.
    expect(stats.bytes).toBeGreaterThan(maxBytes * 0.5);
    // No drift: the counts equal what the entries held add up to.
    const counted = recount(cache, live, T0);
    expect(counted).toEqual({ entries: stats.entries.success, bytes: stats.bytes });
    // Everything deleted: nothing counted, every slab byte unused.
    cache.flush();
    expect(cache.stats()).toMatchObject({ bytes: 0, slabBytes: 0, slabUnusedBytes: 0, entries: { success: 0, denial: 0 } });
  });

  it('releases the slabs a size class no longer uses: after a shift to larger answers the cache fills with them, not with free chunks', () => {
    const maxBytes = 512 * 1024;
    const cache = cacheWith({ maxBytes, maxEntries: 1_000_000 });
    const fill = (prefix: string, bodyLength: number) => {
      for (let index = 0; index < 5_000; index++) expect(cache.store(keyFor(`${prefix}${index}`, RRType.TXT), txtAnswer(`${prefix}${index}`, bodyLength), T0)).toBe('success');
    };
    fill('small', 100);
    const small = cache.stats();
    expect(small.bytes).toBeGreaterThan(maxBytes * 0.8);
    fill('large', 700);
    const stats = cache.stats();
    expect(stats.bytes + stats.slabUnusedBytes).toBeLessThanOrEqual(maxBytes);
    // The small entries' slabs went with them: the room holds large entries (~1,100 B each).
    expect(stats.slabUnusedBytes).toBeLessThan(maxBytes * 0.1);
    expect(stats.entries.success).toBeGreaterThan((maxBytes * 0.8) / (chunkBytesOf(702) + 40 + ENTRY_OVERHEAD_BYTES));
    expect(cache.lookup(keyFor('large4999', RRType.TXT), T0).kind).toBe('fresh');
  });

  it('replaces an existing key in place: counted once, its old chunk reused, the slabs do not grow', () => {
    const cache = cacheWith();
    cache.store(keyFor('a'), upstream({ name: 'a.example.com', answers: [aRecord(300, 1)] }), T0);
    const first = cache.stats();
    for (let round = 0; round < 1_000; round++) {
      cache.store(keyFor('a'), upstream({ name: 'a.example.com', answers: [aRecord(300, round & 0xff)] }), T0 + round);
    }
    const stats = cache.stats();
    expect(stats).toMatchObject({ entries: { success: 1, denial: 0 }, evictions: 0, bytes: first.bytes, slabBytes: first.slabBytes });
    const req = request('a.example.com');
    const found = cache.lookup(keyFor('a'), T0 + 999);
    if (found.kind !== 'fresh') throw new Error(found.kind);
    expect(cache.responseFromEntry(req, found.entry, found, settingsFor(req)).at(-1)).toBe(999 & 0xff);
    // A replacement of another size class frees the old chunk for its class.
    const answers = Array.from({ length: 100 }, (_, index) => aRecord(300, index));
    expect(cache.store(keyFor('a'), upstream({ name: 'a.example.com', answers }), T0)).toBe('success');
    expect(cache.stats()).toMatchObject({ entries: { success: 1, denial: 0 }, bytes: chunkBytesOf(100 * 16 + 100 * 2) + keyFor('a').length + ENTRY_OVERHEAD_BYTES });
  });

  it('frees the space of an entry deleted past its stale window, or expired without serve-stale', () => {
    for (const options of [{ serveStale: true, staleMaxAge: 60 }, { serveStale: false }]) {
      const cache = cacheWith(options);
      cache.store(keyFor('a'), upstream({ name: 'a.example.com', answers: [aRecord(30)] }), T0);
      const stored = cache.stats();
      expect(stored.bytes).toBeGreaterThan(0);
      // Past the TTL (+ the stale window when there is one): the lookup deletes it.
      expect(cache.lookup(keyFor('a'), T0 + 30_000 + 61_000).kind).toBe('miss');
      expect(cache.stats()).toMatchObject({ bytes: 0, entries: { success: 0, denial: 0 }, slabBytes: stored.slabBytes, slabUnusedBytes: stored.slabBytes });
      // The freed chunk is the next one handed out.
      cache.store(keyFor('b'), upstream({ name: 'b.example.com', answers: [aRecord(30)] }), T0);
      expect(cache.stats()).toMatchObject({ slabBytes: stored.slabBytes, slabUnusedBytes: stored.slabUnusedBytes });
    }
  });

  it('counts the key slabs\' unused bytes against maxBytes too: keys of every length, churned, never take the cache past it', () => {
    const maxBytes = 256 * 1024;
    const cache = cacheWith({ maxBytes, maxEntries: 1_000_000 });
    let seed = 11;
    const random = (below: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % below;
    let most = 0;
    for (let index = 0; index < 20_000; index++) {
      // 1 to 4 labels of up to 60 characters: keys from ~14 to ~250 characters, every key size class.
      const label = Array.from({ length: 1 + random(4) }, (_, part) => `${part}${index}`.padEnd(1 + random(60), 'k')).join('.');
      expect(cache.store(keyFor(label), upstream({ name: `${label}.example.com`, answers: [aRecord(300)] }), T0)).toBe('success');
      const stats = cache.stats();
      most = Math.max(most, stats.bytes + stats.slabUnusedBytes + stats.keySlabUnusedBytes);
    }
    expect(most).toBeLessThanOrEqual(maxBytes);
    expect(cache.stats().keySlabBytes).toBeGreaterThan(0);
  });

  it('hands out stale entries with bytes of their own: an eviction while the upstream is asked cannot change them', () => {
    const cache = cacheWith({ maxEntries: 2 });
    cache.store(keyFor('a'), upstream({ name: 'a.example.com', answers: [aRecord(30, 1)] }), T0);
    const found = cache.lookup(keyFor('a'), T0 + 40_000);
    if (found.kind !== 'stale') throw new Error(found.kind);
    // Evicted, and its chunk handed to another entry, while the stale answer is pending.
    for (const label of ['b', 'c', 'd']) cache.store(keyFor(label), upstream({ name: `${label}.example.com`, answers: [aRecord(30, 9)] }), T0 + 40_000);
    expect(cache.lookup(keyFor('a'), T0 + 40_000).kind).toBe('miss');
    const req = request('a.example.com');
    const response = cache.responseFromEntry(req, found.entry, { staleTtl: 30 }, settingsFor(req));
    expect(response.at(-1)).toBe(1);
    expect(ttlsOf(response)).toEqual([30]);
  });
});
