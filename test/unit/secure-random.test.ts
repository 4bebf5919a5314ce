import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SecureRandom } from '../../src/secure-random.ts';

const scratch = mkdtempSync(join(tmpdir(), 'secure-random-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Chi-square statistic of `counts` against a uniform distribution. */
function chiSquare(counts: number[], total: number): number {
  const expected = total / counts.length;
  return counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
}

describe('SecureRandom', () => {
  it('gives 16-bit IDs spread evenly over both bytes, across many 4 KiB batches', () => {
    const random = new SecureRandom();
    const draws = 256 * 400; // 50 batches
    const high = new Array<number>(256).fill(0);
    const low = new Array<number>(256).fill(0);
    const seen = new Set<number>();
    let outOfRange = 0;
    for (let i = 0; i < draws; i++) {
      const id = random.uint16();
      if (!Number.isInteger(id) || id < 0 || id > 0xffff) outOfRange++;
      high[id >> 8]!++;
      low[id & 0xff]!++;
      seen.add(id);
    }
    expect(outOfRange).toBe(0);
    // 255 degrees of freedom: the 99.99th percentile is ≈ 360 (a fair source fails 1 in 10,000 runs).
    expect(chiSquare(high, draws)).toBeLessThan(360);
    expect(chiSquare(low, draws)).toBeLessThan(360);
    // 102,400 draws from 65,536 values: ≈ 51,000 distinct expected; a repeated batch would give ≤ 2,048.
    expect(seen.size).toBeGreaterThan(45_000);
  });

  it('hands out each byte once: hex strings of a batch and the next do not repeat', () => {
    const random = new SecureRandom();
    const labels = Array.from({ length: 2000 }, () => random.hex(8)); // 16,000 bytes: four refills
    for (const label of labels) expect(label).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(labels).size).toBe(labels.length);
  });

  it('reads the device it is given (its bytes, in order)', () => {
    const device = join(scratch, 'bytes');
    const bytes = Buffer.alloc(8192);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i & 0xff;
    writeFileSync(device, bytes);
    const random = new SecureRandom(device);
    expect(random.uint16()).toBe(0x0001);
    expect(random.hex(3)).toBe('020304');
  });

  it('falls back to node:crypto where the device cannot be read (missing, or shorter than a batch)', () => {
    const short = join(scratch, 'short');
    writeFileSync(short, Buffer.alloc(10));
    for (const device of [join(scratch, 'missing'), short]) {
      const random = new SecureRandom(device);
      const ids = Array.from({ length: 3000 }, () => random.uint16());
      // Zeros from the short file would show as 0; node:crypto's bytes are spread.
      expect(new Set(ids).size).toBeGreaterThan(2500);
    }
  });

  it('refuses more bytes at once than a batch holds', () => {
    expect(() => new SecureRandom().hex(4097)).toThrow(RangeError);
  });
});
