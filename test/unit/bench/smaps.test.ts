// The classifier behind `npm run bench:memory -- --smaps` (test/bench/smaps.ts): which anonymous
// memory is malloc's main arena, its other arenas, thread stacks, or V8's pages and large chunks.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { anonymousByMapping } from '../../bench/smaps.ts';

/** One smaps entry: header line plus the fields the classifier reads (and one it must ignore). */
function entry(start: number, sizeBytes: number, perms: string, name: string, anonymousKiB: number): string {
  const hex = (value: number) => value.toString(16).padStart(12, '0');
  return [`${hex(start)}-${hex(start + sizeBytes)} ${perms} 00000000 00:00 0${name ? `          ${name}` : ''}`,
    `Size:           ${sizeBytes / 1024} kB`, `Rss:            ${anonymousKiB} kB`, `Anonymous:      ${anonymousKiB} kB`, 'VmFlags: rd wr mr mw me ac'].join('\n');
}

const MiB = 1048576;

describe('anonymousByMapping', () => {
  it('tells the arenas, stacks and V8 pages apart by name, size and neighbours', () => {
    const smaps = [
      entry(0x1000000, 132 * 1024, 'rw-p', '[heap]', 120),
      // glibc's second arena: 3 MiB used, the rest of its 64 MiB reservation inaccessible.
      entry(0x7f0000000000, 3 * MiB, 'rw-p', '', 2048),
      entry(0x7f0000000000 + 3 * MiB, 61 * MiB, '---p', '', 0),
      // A thread stack: guard page, then 8 MiB.
      entry(0x7f1000000000, 4096, '---p', '', 0),
      entry(0x7f1000001000, 8 * MiB, 'rw-p', '', 16),
      // V8 pages: 256 KiB regions, two of them merged into one mapping, next to an inaccessible
      // reservation that does not add up to 64 MiB (so not an arena).
      entry(0x7f2000000000, 512 * 1024, 'rw-p', '', 512),
      entry(0x7f2000000000 + 512 * 1024, 10 * MiB, '---p', '', 0),
      entry(0x7f3000000000, 8 * MiB, 'rw-p', '', 100), // 8 MiB but no guard page before it
      entry(0x7ffe00000000, 132 * 1024, 'rw-p', '[stack]', 40),
      // File-backed (the node binary's data) and empty mappings: not counted.
      entry(0x400000, 4 * MiB, 'rw-p', '/usr/bin/node', 300),
      entry(0x7f4000000000, MiB, 'rw-p', '', 0),
    ].join('\n');
    expect(Object.fromEntries(anonymousByMapping(smaps))).toEqual({
      'main malloc arena': 120,
      'other malloc arenas': 2048,
      'thread stacks': 16,
      'V8 pages, large chunks': 612,
      'main thread stack': 40,
    });
  });

  it('accounts for all of a live process\'s anonymous memory outside file mappings', () => {
    const smaps = readFileSync('/proc/self/smaps', 'utf8');
    const byKind = anonymousByMapping(smaps);
    // This process has V8 pages, a main arena and a main stack whatever else it runs.
    expect(byKind.get('V8 pages, large chunks') ?? 0).toBeGreaterThan(1024);
    expect(byKind.get('main thread stack') ?? 0).toBeGreaterThan(0);
    // Every anonymous KiB of an unnamed or [heap]/[stack] mapping lands in exactly one kind.
    let expected = 0;
    let counted = true;
    for (const line of smaps.split('\n')) {
      const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (header) counted = header[1] === '' || header[1] === '[heap]' || header[1]!.startsWith('[stack');
      const anonymous = /^Anonymous:\s+(\d+) kB/.exec(line);
      if (anonymous && counted) expected += Number(anonymous[1]);
    }
    expect([...byKind.values()].reduce((sum, kib) => sum + kib, 0)).toBe(expected);
  });
});
