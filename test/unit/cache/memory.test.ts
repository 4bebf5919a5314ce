// The cache's memory bounds, measured rather than assumed (issue 6 item 12): a child Node with
// --expose-gc runs test/bench/cache-memory.ts, which stores real upstream-shaped answers, forces
// GC and reports the growth of V8 heap + ArrayBuffer memory next to what the cache counted.
//
// - maxBytes is a bound on real memory: filled far past it, the cache holds no more than it.
// - An entry costs under 200 bytes: record bytes and keys in shared slabs, metadata and the key
//   index in typed arrays (no JS object or string per entry).
// - maxEntries costs nothing until used: 10,000,000 allocated ~234 MB at construction before
//   (lru-cache preallocates four arrays of `max` slots; idle RSS went from 81 MB to 315 MB).

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { NODE_BINARY, REPO_ROOT } from '../../support/mesh-dns.ts';

const run = promisify(execFile);

interface Measurement {
  entries: number;
  idleBytes: number;
  realBytes: number;
  countedBytes: number;
  realPerEntry: number;
  countedPerEntry: number;
  maxBytes: number;
}

async function measure(entries: number, answersPerEntry: number, maxEntries: number, maxBytes: number): Promise<Measurement> {
  const { stdout } = await run(NODE_BINARY, ['--expose-gc', 'test/bench/cache-memory.ts', String(entries), String(answersPerEntry), String(maxEntries), String(maxBytes)], { cwd: REPO_ROOT, timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Measurement;
}

describe('answer cache memory (measured in a child process with --expose-gc)', () => {
  it.each([1, 4])('filled 20× past an 8 MiB maxBytes with %i-record answers, really holds at most 8 MiB', async (answers) => {
    const maxBytes = 8 * 1024 * 1024;
    const result = await measure(200_000, answers, 10_000_000, maxBytes);
    console.log(`[cache memory] ${answers} A/entry, 200,000 stores into 8 MiB: ${result.entries} kept, real ${result.realBytes} B (${result.realPerEntry} B/entry), counted ${result.countedBytes} B (${result.countedPerEntry} B/entry)`);
    expect(result.countedBytes).toBeLessThanOrEqual(maxBytes);
    expect(result.realBytes).toBeLessThanOrEqual(maxBytes);
    // …and the bound is not met by keeping the cache nearly empty.
    expect(result.countedBytes).toBeGreaterThan(maxBytes * 0.95);
  });

  it('counts at least what an entry really costs when filling without eviction', async () => {
    const result = await measure(50_000, 1, 10_000_000, 4 * 1024 * 1024 * 1024);
    console.log(`[cache memory] 50,000 entries: real ${result.realPerEntry} B/entry, counted ${result.countedPerEntry} B/entry`);
    expect(result.entries).toBe(50_000);
    expect(result.countedBytes).toBeGreaterThanOrEqual(result.realBytes);
  });

  it('keeps an entry in under 200 B of heap and buffers (slabs + typed arrays, the key index included: 162 B measured; with lru-cache as the index 216 B, with an ArrayBuffer, views and an object per entry 683 B)', async () => {
    const result = await measure(100_000, 1, 10_000_000, 4 * 1024 * 1024 * 1024);
    console.log(`[cache memory] 100,000 entries: real ${result.realPerEntry} B/entry`);
    expect(result.entries).toBe(100_000);
    expect(result.realPerEntry).toBeLessThan(200);
  });

  it('allocates nothing up front for maxEntries: an idle cache of 10,000,000 entries costs under 1 MB', async () => {
    const big = await measure(0, 1, 10_000_000, 64 * 1024 * 1024);
    const small = await measure(0, 1, 1_000, 64 * 1024 * 1024);
    console.log(`[cache memory] idle cache: maxEntries 10,000,000 → ${big.idleBytes} B; maxEntries 1,000 → ${small.idleBytes} B`);
    expect(big.idleBytes).toBeLessThan(1024 * 1024);
    // Two processes differ by GC noise (57 KiB seen under load); preallocating 10,000,000 slots costs ~234 MB.
    expect(Math.abs(big.idleBytes - small.idleBytes)).toBeLessThan(512 * 1024);
  });

  it('still enforces maxEntries without lru-cache preallocating it', async () => {
    const result = await measure(5_000, 1, 1_000, 64 * 1024 * 1024);
    expect(result.entries).toBe(1_000);
  });
});
