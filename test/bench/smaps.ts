// Where a process's anonymous memory is, by kind of mapping, from the text of /proc/<pid>/smaps
// (npm run bench:memory -- --smaps). Issue 9 item 4: the V8 heap and external memory are what Node
// reports; the rest of the anonymous memory is malloc's, and which arena holds it matters for what
// a setting such as MALLOC_ARENA_MAX can give back.

export type AnonymousKind = 'main malloc arena' | 'other malloc arenas' | 'thread stacks' | 'main thread stack' | 'V8 pages, large chunks';

interface Mapping {
  start: number;
  end: number;
  perms: string;
  name: string;
  anonymousKiB: number;
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/;
const ANONYMOUS = /^Anonymous:\s+(\d+) kB/;
/** glibc's HEAP_MAX_SIZE on 64-bit: each arena but the main one reserves this much, aligned. */
const ARENA_RESERVATION = 64 * 1048576;
const THREAD_STACK = 8 * 1048576;
const GUARD_PAGE = 4096;

function mappingsOf(smaps: string): Mapping[] {
  const mappings: Mapping[] = [];
  for (const line of smaps.split('\n')) {
    const header = HEADER.exec(line);
    if (header) {
      mappings.push({ start: parseInt(header[1]!, 16), end: parseInt(header[2]!, 16), perms: header[3]!, name: header[4]!, anonymousKiB: 0 });
      continue;
    }
    const anonymous = ANONYMOUS.exec(line);
    if (anonymous && mappings.length > 0) mappings.at(-1)!.anonymousKiB = Number(anonymous[1]);
  }
  return mappings;
}

/**
 * Resident anonymous KiB by kind of mapping, told apart by name, size and neighbours, so
 * approximate: glibc's main arena is `[heap]`; each other arena is a 64 MiB reservation whose used
 * start is read-write and the rest inaccessible (`---p`) right after it; a thread stack is 8 MiB
 * after a guard page. Everything else anonymous is V8's heap pages (256 KiB each, merged by the
 * kernel when adjacent), its large objects and malloc's own mmap'd chunks (big Buffers and typed
 * arrays), together. File-backed mappings are not counted.
 */
export function anonymousByMapping(smaps: string): Map<AnonymousKind, number> {
  const mappings = mappingsOf(smaps);
  const sums = new Map<AnonymousKind, number>();
  mappings.forEach((mapping, index) => {
    if (mapping.anonymousKiB === 0) return;
    if (mapping.name !== '' && mapping.name !== '[heap]' && !mapping.name.startsWith('[stack')) return;
    const size = mapping.end - mapping.start;
    const next = mappings[index + 1];
    const previous = mappings[index - 1];
    const inaccessibleAfter = next !== undefined && next.perms === '---p' && next.name === '' && next.start === mapping.end;
    const guardBefore = previous !== undefined && previous.perms === '---p' && previous.name === '' && previous.end === mapping.start && previous.end - previous.start === GUARD_PAGE;
    const kind: AnonymousKind = mapping.name === '[heap]' ? 'main malloc arena'
      : mapping.name.startsWith('[stack') ? 'main thread stack'
      : inaccessibleAfter && size + (next.end - next.start) === ARENA_RESERVATION ? 'other malloc arenas'
      : guardBefore && size === THREAD_STACK ? 'thread stacks'
      : 'V8 pages, large chunks';
    sums.set(kind, (sums.get(kind) ?? 0) + mapping.anonymousKiB);
  });
  return sums;
}
