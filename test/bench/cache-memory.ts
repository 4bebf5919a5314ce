// Measures what a cache entry really costs: fills an AnswerCache with N entries built from real
// upstream-shaped messages, forces GC, and compares the growth of V8 heap + ArrayBuffer memory
// (Buffers' backing stores live outside the heap) with the bytes the cache counts.
//
//   npx node --expose-gc test/bench/cache-memory.ts [entries] [answersPerEntry] [maxEntries]
//
// Prints one JSON line; test/unit/cache/memory.test.ts runs it and checks the bound is honest.

import { AnswerCache, cacheKey } from '../../src/cache/answer-cache.ts';
import { indexUpstreamMessage, type IndexedMessage } from '../../src/wire/upstream-message.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const entries = Number(process.argv[2] ?? 50_000);
const answersPerEntry = Number(process.argv[3] ?? 1);
const maxEntries = Number(process.argv[4] ?? 10_000_000);
const maxBytes = Number(process.argv[5] ?? 4 * 1024 * 1024 * 1024);

function encodeName(name: string): Buffer {
  return Buffer.concat([...name.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'latin1')])), Buffer.from([0])]);
}

/** A NOERROR response for `name` A with `count` A records (owner compressed to the question). */
function response(name: string, count: number): IndexedMessage {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(0x1234, 0);
  header.writeUInt16BE(0x8180, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(count, 6);
  const question = Buffer.concat([encodeName(name), Buffer.from([0, 1, 0, 1])]);
  const records = Array.from({ length: count }, (_, index) => Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, index]));
  const indexed = indexUpstreamMessage(Buffer.concat([header, question, ...records]));
  if ('error' in indexed) throw new Error(indexed.error);
  return indexed;
}

function used(): { heap: number; arrayBuffers: number } {
  gc!();
  gc!();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed, arrayBuffers: usage.arrayBuffers };
}

const now = 1_700_000_000_000;
// Each upstream message is built and dropped in the loop (GC takes it before `after`), so only
// what the cache keeps is measured.
const before = used();
const cache = new AnswerCache({ maxEntries, maxBytes });
const created = used();
for (let index = 0; index < entries; index++) {
  const name = `host-${index}.service.example.com`;
  cache.store(cacheKey(name, 1, 1, false, false), response(name, answersPerEntry), now);
}
const after = used();
const stats = cache.stats();
const stored = stats.entries.success;
const real = after.heap + after.arrayBuffers - (created.heap + created.arrayBuffers);
console.log(JSON.stringify({
  entries: stored,
  answersPerEntry,
  idleBytes: created.heap + created.arrayBuffers - (before.heap + before.arrayBuffers),
  realBytes: real,
  countedBytes: stats.bytes,
  realPerEntry: Math.round(real / stored),
  countedPerEntry: Math.round(stats.bytes / stored),
  maxBytes,
}));
