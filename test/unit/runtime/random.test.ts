import { describe, expect, it } from 'vitest';
import { kernelRandomFill, random, RandomPool, RANDOM_POOL_BYTES } from '../../../src/runtime/random.ts';

/** A source that writes 0, 1, 2, … across refills and counts them. */
function countingSource() {
  const source = { refills: 0, next: 0, fill: (target: Uint8Array) => {} };
  source.fill = (target: Uint8Array) => {
    source.refills++;
    for (let index = 0; index < target.length; index++) target[index] = source.next++ & 0xff;
  };
  return source;
}

describe('RandomPool', () => {
  it('reads nothing until the first draw, then refills only when the pool is used up', () => {
    const source = countingSource();
    const pool = new RandomPool(source.fill, 8);
    expect(source.refills).toBe(0);
    // Bytes 0..7 big-endian in pairs, then a refill gives 8..15.
    expect([pool.uint16(), pool.uint16(), pool.uint16(), pool.uint16()]).toEqual([0x0001, 0x0203, 0x0405, 0x0607]);
    expect(source.refills).toBe(1);
    expect(pool.uint16()).toBe(0x0809);
    expect(source.refills).toBe(2);
  });

  it('never splits a number across refills: a uint32 that does not fit starts a fresh pool', () => {
    const source = countingSource();
    const pool = new RandomPool(source.fill, 6);
    expect(pool.uint16()).toBe(0x0001);
    expect(pool.uint32()).toBe(0x02030405);
    expect(pool.uint32()).toBe(0x06070809); // bytes 6..9: the second pool's first four
    expect(source.refills).toBe(2);
  });

  it('gives uint32 values above 2^31 as positive numbers and hex as two lowercase digits per byte', () => {
    const pool = new RandomPool((target) => target.set([0xff, 0xfe, 0x0a, 0x01, 0x00, 0xab, 0x10, 0x00]), 8);
    expect(pool.uint32()).toBe(0xfffe0a01);
    expect(pool.hex(3)).toBe('00ab10');
  });

  it('below(limit) rejects the draws past the last whole multiple of limit instead of folding them (no modulo bias)', () => {
    // limit 3 × 1,431,655,765 = 4,294,967,295: the one uint32 at or above it, 0xffffffff, is drawn again.
    const pool = new RandomPool((target) => target.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]), 8);
    expect(pool.below(3)).toBe(0xfffffffe % 3);
    expect(() => pool.below(0)).toThrow(RangeError);
    expect(() => pool.below(2 ** 32 + 1)).toThrow(RangeError);
    const counts = [0, 0, 0];
    for (let index = 0; index < 30_000; index++) counts[random.below(3)]!++;
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(600); // ~6 standard deviations
  });

  it('draws uniform message IDs from the kernel: every high byte about equally often, no repeats in a row', () => {
    const draws = RANDOM_POOL_BYTES * 64; // 128 refills of the process's pool
    const counts = new Array<number>(256).fill(0);
    let repeats = 0;
    let last = -1;
    for (let index = 0; index < draws; index++) {
      const id = random.uint16();
      expect(id).toBeGreaterThanOrEqual(0);
      expect(id).toBeLessThan(0x10000);
      counts[id >> 8]!++;
      if (id === last) repeats++;
      last = id;
    }
    // Chi-square with 255 degrees of freedom: 400 is exceeded by chance with p < 1e-8; a stuck,
    // zeroed or byte-biased source lands far above it.
    const expected = draws / 256;
    const chiSquare = counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
    expect(chiSquare).toBeLessThan(400);
    // 262,144 draws from 65,536 values: ~4 equal neighbours expected; a source that repeats itself gives thousands.
    expect(repeats).toBeLessThan(40);
  });

  it('falls back to node:crypto where the random device cannot be opened', () => {
    const fill = kernelRandomFill('/nonexistent/urandom');
    const first = new Uint8Array(64);
    const second = new Uint8Array(64);
    fill(first);
    fill(second);
    expect(first.some((byte) => byte !== 0)).toBe(true);
    expect(Buffer.from(first).equals(Buffer.from(second))).toBe(false);
  });

  it('gives two pools different bytes (a pool is not seeded from something shared or fixed)', () => {
    const a = new RandomPool();
    const b = new RandomPool();
    expect(a.hex(16)).not.toBe(b.hex(16));
  });
});
