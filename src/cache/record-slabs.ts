// Storage for the cache's record bytes: many entries per buffer, in size classes (the way
// memcached and malloc keep small objects), instead of one ArrayBuffer per entry.
//
// Why: one ArrayBuffer per entry cost a JSArrayBuffer, a Buffer and a Uint32Array view on the V8
// heap plus a BackingStore and its data from malloc (683 B live per 1-record entry, 4,885 B of
// RSS per entry in the running server, issue 9 item 4). Here an entry is a chunk of a slab,
// addressed by (slab, offset): no object per entry at all.
//
// - Records up to LARGEST_CLASS_BYTES go to a size class (16-byte steps up to 256 B, then
//   about 1.25× steps). A class's slabs grow geometrically from MIN_CHUNKS_PER_SLAB chunks up to
//   SLAB_BYTES, so a class that holds a few entries costs a few chunks, not a whole slab.
// - A freed chunk goes on its class's free list and is the next one that class hands out.
// - Larger records (big TXT, DNSSEC or TCP answers, up to 64 KiB and their TTL offsets) get a
//   buffer of their own, exactly their size, released when they are freed.
// - A slab whose chunks are all free again is released (its chunks leave the free list), so a
//   shift in answer sizes does not strand one class's slabs while another needs room.
//   `unusedBytes` (free chunks and the uncarved part of each class's newest slab) is what the
//   cache adds to its entries' bytes to bound its real footprint.
//
// Pure data structure: no clock, no I/O.

/** The largest slab (bytes): a class's slabs grow up to this, geometrically. */
export const SLAB_BYTES = 16 * 1024;
/** Records above this get a buffer of their own. */
export const LARGEST_CLASS_BYTES = 4096;
/** A class's first slab holds this many chunks (then twice as many per new slab, up to SLAB_BYTES). */
const MIN_CHUNKS_PER_SLAB = 4;
/** The size class of a record with a buffer of its own. */
export const LARGE_CLASS = 255;

// A location is one 32-bit number: the slab's number in the high 22 bits, the offset in the slab in
// 16-byte units in the low 10 (every chunk starts at a multiple of 16: chunk sizes are, and a large
// record starts at 0). The cache keeps one per entry and one per key (EntryTable, KeyIndex): as
// Uint32Array elements they cost 4 B each instead of a Float64Array's 8, 0.76 MiB at 100,000
// entries (issue 9 item 4). 2²² slab numbers are more than any cache can use: every slab and large
// buffer is counted against maxBytes (at most 4 GiB, config/options.ts), a class's full slabs are
// at least 12 KiB, its first smaller ones (4, 8, … chunks) at most ~10 per class, and a large
// record over 4 KiB: ≤ 349,525 + 1,048,320 + 280 numbers at 4 GiB, and freed numbers are reused.
const OFFSET_BITS = 10;
const OFFSET_MASK = (1 << OFFSET_BITS) - 1;
/** Slab numbers available (newSlab refuses more: a wrapped location would read another record's bytes). */
export const MAX_SLABS = 2 ** (32 - OFFSET_BITS);

/** The slab a location is in (`>>>`: a location of 2³¹ or more is read back as a double). */
export function slabNumberOf(location: number): number {
  return location >>> OFFSET_BITS;
}

/** The byte offset of a location in its slab. */
export function offsetOf(location: number): number {
  return (location & OFFSET_MASK) << 4;
}

/** The location of byte `offset` (a multiple of 16, < SLAB_BYTES) in slab `slab`. */
export function locationOf(slab: number, offset: number): number {
  return slab * (1 << OFFSET_BITS) + (offset >> 4);
}

/** Chunk sizes: 16-byte steps to 256 B, then steps of about 1/4 (rounded to 16) up to LARGEST_CLASS_BYTES. */
export const CLASS_SIZES: readonly number[] = (() => {
  const sizes: number[] = [];
  for (let size = 16; size <= 256; size += 16) sizes.push(size);
  for (let size = 256; size < LARGEST_CLASS_BYTES;) {
    size = Math.min(LARGEST_CLASS_BYTES, Math.ceil((size * 1.25) / 16) * 16);
    sizes.push(size);
  }
  return sizes;
})();

/** Size class index for every 16-byte step up to LARGEST_CLASS_BYTES (no search per store). */
const CLASS_BY_STEP: Uint8Array = (() => {
  const table = new Uint8Array(LARGEST_CLASS_BYTES / 16 + 1);
  let index = 0;
  for (let step = 0; step < table.length; step++) {
    while (CLASS_SIZES[index]! < step * 16) index++;
    table[step] = index;
  }
  return table;
})();

/** The class a record of `bytes` goes to, or LARGE_CLASS. */
export function sizeClassOf(bytes: number): number {
  return bytes > LARGEST_CLASS_BYTES ? LARGE_CLASS : CLASS_BY_STEP[(bytes + 15) >> 4]!;
}

/** Bytes a record of `bytes` takes: its chunk, or its own buffer. */
export function chunkBytesOf(bytes: number): number {
  const sizeClass = sizeClassOf(bytes);
  return sizeClass === LARGE_CLASS ? bytes : CLASS_SIZES[sizeClass]!;
}

interface SizeClass {
  readonly chunkBytes: number;
  /** Free chunks, as locations (numbers below 2³²: a double array when past 2³¹, no boxing). */
  readonly free: number[];
  /** Chunks of this class's newest slab not handed out yet: the slab and the next offset. */
  carveSlab: number;
  carveOffset: number;
  carveEnd: number;
  /** Chunks per slab for the next slab (doubles up to SLAB_BYTES). */
  nextChunks: number;
}

export class RecordSlabs {
  /** Slabs and large records' own buffers, by slab number (holes are numbers free for reuse). */
  private readonly slabs: (Buffer | undefined)[] = [];
  /** The same slabs as 16-bit words, for the TTL offsets stored after each record's bytes. */
  private readonly words: (Uint16Array | undefined)[] = [];
  private readonly freeSlabNumbers: number[] = [];
  /** Chunks handed out per slab (class slabs only): at 0 the slab is released. */
  private readonly liveChunks: number[] = [];
  private readonly classes: SizeClass[] = CLASS_SIZES.map((chunkBytes) => ({
    chunkBytes, free: [], carveSlab: -1, carveOffset: 0, carveEnd: 0, nextChunks: MIN_CHUNKS_PER_SLAB,
  }));
  /** Slab numbers this instance may use (MAX_SLABS; lower in tests, to reach the bound). */
  private readonly maxSlabs: number;
  /** Bytes of every slab and large buffer. */
  private allocatedBytes = 0;
  /** Bytes of chunks and large buffers handed out and not freed. */
  private usedBytes = 0;

  constructor(maxSlabs: number = MAX_SLABS) {
    this.maxSlabs = Math.min(maxSlabs, MAX_SLABS);
  }

  /** Bytes allocated but holding no record: free chunks and the uncarved rest of slabs. */
  get unusedBytes(): number {
    return this.allocatedBytes - this.usedBytes;
  }

  /** Bytes of every slab and large buffer (what the records' storage really occupies). */
  get totalBytes(): number {
    return this.allocatedBytes;
  }

  /** How much unusedBytes would grow if a record of `bytes` were allocated now (a new slab, less the chunk). */
  growthFor(bytes: number): number {
    const sizeClass = sizeClassOf(bytes);
    if (sizeClass === LARGE_CLASS) return 0;
    const klass = this.classes[sizeClass]!;
    if (klass.free.length > 0 || klass.carveOffset < klass.carveEnd) return -klass.chunkBytes;
    return this.nextSlabBytes(klass) - klass.chunkBytes;
  }

  /** A location for a record of `bytes` (1 … 65,535 + its TTL offsets); its size class in `sizeClassOf(bytes)`. */
  allocate(bytes: number): number {
    const sizeClass = sizeClassOf(bytes);
    if (sizeClass === LARGE_CLASS) {
      const slab = this.newSlab(bytes);
      this.usedBytes += bytes;
      return locationOf(slab, 0);
    }
    const klass = this.classes[sizeClass]!;
    const reused = klass.free.pop();
    if (reused !== undefined) {
      this.liveChunks[slabNumberOf(reused)]!++;
      this.usedBytes += klass.chunkBytes;
      return reused;
    }
    if (klass.carveOffset >= klass.carveEnd) {
      const slabBytes = this.nextSlabBytes(klass);
      klass.carveSlab = this.newSlab(slabBytes);
      klass.carveOffset = 0;
      klass.carveEnd = slabBytes;
      klass.nextChunks *= 2;
    }
    const location = locationOf(klass.carveSlab, klass.carveOffset);
    klass.carveOffset += klass.chunkBytes;
    this.liveChunks[klass.carveSlab]!++;
    this.usedBytes += klass.chunkBytes;
    return location;
  }

  /** Gives back the record at `location`, allocated for `bytes`. */
  release(location: number, bytes: number): void {
    const sizeClass = sizeClassOf(bytes);
    if (sizeClass === LARGE_CLASS) {
      const slab = slabNumberOf(location);
      this.slabs[slab] = undefined;
      this.words[slab] = undefined;
      this.freeSlabNumbers.push(slab);
      this.allocatedBytes -= bytes;
      this.usedBytes -= bytes;
      return;
    }
    const klass = this.classes[sizeClass]!;
    klass.free.push(location);
    this.usedBytes -= klass.chunkBytes;
    const slab = slabNumberOf(location);
    if (--this.liveChunks[slab]! === 0 && slab !== klass.carveSlab) this.releaseSlab(klass, slab);
  }

  /** Drops an empty slab: its chunks leave the class's free list (one pass over it; rare). */
  private releaseSlab(klass: SizeClass, slab: number): void {
    const { free } = klass;
    let kept = 0;
    for (let index = 0; index < free.length; index++) {
      const location = free[index]!;
      if (slabNumberOf(location) !== slab) free[kept++] = location;
    }
    free.length = kept;
    this.allocatedBytes -= this.slabs[slab]!.length;
    this.slabs[slab] = undefined;
    this.words[slab] = undefined;
    this.freeSlabNumbers.push(slab);
  }

  /** The buffer holding `location`; the record starts at offsetIn(location). */
  bufferOf(location: number): Buffer {
    return this.slabs[slabNumberOf(location)]!;
  }

  /** Slab `slabNumber` (slabNumberOf(location)), and the same as 16-bit words: for the hit path, one decode. */
  slab(slabNumber: number): Buffer {
    return this.slabs[slabNumber]!;
  }

  slabWords(slabNumber: number): Uint16Array {
    return this.words[slabNumber]!;
  }

  /** The buffer holding `location` as 16-bit words (chunks start at even offsets). */
  wordsOf(location: number): Uint16Array {
    return this.words[slabNumberOf(location)]!;
  }

  offsetIn(location: number): number {
    return offsetOf(location);
  }

  /** Drops every slab (the cache was flushed). */
  clear(): void {
    this.slabs.length = 0;
    this.words.length = 0;
    this.liveChunks.length = 0;
    this.freeSlabNumbers.length = 0;
    for (const klass of this.classes) {
      klass.free.length = 0;
      klass.carveSlab = -1;
      klass.carveOffset = 0;
      klass.carveEnd = 0;
      klass.nextChunks = MIN_CHUNKS_PER_SLAB;
    }
    this.allocatedBytes = 0;
    this.usedBytes = 0;
  }

  private nextSlabBytes(klass: SizeClass): number {
    return Math.max(klass.chunkBytes, Math.min(klass.nextChunks * klass.chunkBytes, SLAB_BYTES - (SLAB_BYTES % klass.chunkBytes)));
  }

  private newSlab(bytes: number): number {
    // allocUnsafeSlow: a buffer of its own, never a slice of Node's shared pool (which an entry
    // would pin); not zero-filled, every byte handed out is written before it is read.
    // Before any state changes: the caller's allocate() fails whole.
    if (this.freeSlabNumbers.length === 0 && this.slabs.length >= this.maxSlabs) throw new RangeError(`record slabs: all ${this.maxSlabs} slab numbers in use`);
    const buffer = Buffer.allocUnsafeSlow(bytes);
    const words = new Uint16Array(buffer.buffer, buffer.byteOffset, bytes >> 1);
    this.allocatedBytes += bytes;
    const reused = this.freeSlabNumbers.pop();
    if (reused !== undefined) {
      this.slabs[reused] = buffer;
      this.words[reused] = words;
      this.liveChunks[reused] = 0;
      return reused;
    }
    this.slabs.push(buffer);
    this.words.push(words);
    this.liveChunks.push(0);
    return this.slabs.length - 1;
  }
}
