import { describe, expect, it } from 'vitest';
import { RRType } from '../../../src/wire/constants.ts';
import {
  encodeNameAgainstQuestion, encodePlainName, isInZone, labelCount, parentName, plainNameWireLength,
  readQuestionName, recentNameInSlot, recentNameSlotOf, skipRecordName,
} from '../../../src/wire/name.ts';
import { decode, encodeName } from '../../support/dns-messages.ts';
import { seededRandom } from '../../support/seeded-random.ts';

const HEADER = Buffer.alloc(12);

/** A message whose question name starts at offset 12 (the only place readQuestionName is used). */
function atQuestion(nameBytes: Buffer | number[]): Buffer {
  return Buffer.concat([HEADER, Buffer.from(nameBytes)]);
}

function label(length: number, fill = 0x61): number[] {
  return [length, ...new Array<number>(length).fill(fill)];
}

describe('readQuestionName', () => {
  it('lowercases, joins labels with dots and reports the uncompressed wire length and end', () => {
    const message = atQuestion(encodeName('HeLLo.MeSh.LoCaL'));
    expect(readQuestionName(message, 12)).toEqual({ name: 'hello.mesh.local', end: 12 + 18, wireLength: 18 });
  });

  it('reads the root name as "" with wire length 1', () => {
    expect(readQuestionName(atQuestion([0]), 12)).toEqual({ name: '', end: 13, wireLength: 1 });
  });

  it("escapes '.', '\\\\', space and non-printable octets as \\DDD so a '.' is always a label boundary", () => {
    const message = atQuestion([7, 0x61, 0x2e, 0x62, 0x5c, 0x20, 0x00, 0xff, 4, 0x6d, 0x65, 0x73, 0x68, 0]);
    const parsed = readQuestionName(message, 12);
    expect(parsed).toEqual({ name: 'a\\046b\\092\\032\\000\\255.mesh', end: message.length, wireLength: 14 });
  });

  it('keeps printable punctuation other than "." and "\\\\" as is (only case is folded)', () => {
    const parsed = readQuestionName(atQuestion([5, 0x5f, 0x2d, 0x2a, 0x41, 0x7e, 0]), 12);
    expect(parsed).toMatchObject({ name: '_-*a~' });
  });

  it('folds only ASCII letters: a byte 0xC4 stays an escape, not a lowercased letter', () => {
    expect(readQuestionName(atQuestion([1, 0xc4, 0]), 12)).toMatchObject({ name: '\\196' });
  });

  it('refuses a compression pointer in the question (nothing precedes it but the header)', () => {
    expect(readQuestionName(atQuestion([0xc0, 0x0c]), 12)).toBe('pointer_in_question');
    expect(readQuestionName(atQuestion([3, 0x77, 0x77, 0x77, 0xc0, 0x0c]), 12)).toBe('pointer_in_question');
  });

  it('refuses the extended label types 0x40 and 0x80 (RFC 6891 §5)', () => {
    expect(readQuestionName(atQuestion([0x40, 0x61, 0]), 12)).toBe('label_type');
    expect(readQuestionName(atQuestion([0x80, 0x61, 0]), 12)).toBe('label_type');
    expect(readQuestionName(atQuestion([0x41, 0x61, 0]), 12)).toBe('label_type');
  });

  it('validates the whole name when an early label needs escapes: a later overrun or pointer is still refused', () => {
    // The escaped form is built in a second pass; the first must not stop at the escaped byte.
    expect(readQuestionName(atQuestion([1, 0x2e, 5, 0x61, 0x62]), 12)).toBe('overrun');
    expect(readQuestionName(atQuestion([1, 0x00, 0xc0, 0x0c]), 12)).toBe('pointer_in_question');
    expect(readQuestionName(atQuestion([2, 0x41, 0x5c, 1, 0x42, 0]), 12)).toEqual({ name: 'a\\092.b', end: 12 + 6, wireLength: 6 });
  });

  it('reads the names of successive messages independently (the scratch buffer does not leak between them)', () => {
    expect(readQuestionName(atQuestion([...label(20), 4, 0x6d, 0x65, 0x73, 0x68, 0]), 12)).toMatchObject({ name: `${'a'.repeat(20)}.mesh` });
    expect(readQuestionName(atQuestion([1, 0x42, 0]), 12)).toEqual({ name: 'b', end: 15, wireLength: 3 });
    expect(readQuestionName(atQuestion([0]), 12)).toEqual({ name: '', end: 13, wireLength: 1 });
  });

  it('gives, for 3,000 random names (letters of both cases, digits, "-", ".", "\\", 0x00, 0xff), what the byte-by-byte rule gives', () => {
    // The rule of the file header, written out per byte: the reference for the one-slice fast path.
    const reference = (labels: number[][]) => labels.map((bytes) => bytes.map((byte) => {
      if (byte >= 0x41 && byte <= 0x5a) return String.fromCharCode(byte + 0x20);
      if (byte > 0x20 && byte < 0x7f && byte !== 0x2e && byte !== 0x5c) return String.fromCharCode(byte);
      return `\\${String(byte).padStart(3, '0')}`;
    }).join('')).join('.');
    const random = seededRandom(9);
    const alphabet = [0x41, 0x5a, 0x61, 0x7a, 0x4d, 0x6d, 0x30, 0x39, 0x2d, 0x5f, 0x2e, 0x5c, 0x00, 0x20, 0x7f, 0xff];
    for (let round = 0; round < 3000; round++) {
      const labels = Array.from({ length: random.int(5) }, () => Array.from({ length: 1 + random.int(12) }, () => (random.int(4) === 0 ? random.pick(alphabet) : 0x61 + random.int(26))));
      const wire = [...labels.flatMap((bytes) => [bytes.length, ...bytes]), 0];
      expect(readQuestionName(atQuestion(wire), 12), `round ${round}`).toEqual({ name: reference(labels), end: 12 + wire.length, wireLength: wire.length });
    }
  });

  it('reports overruns: a label past the end, a missing root label, nothing at all', () => {
    expect(readQuestionName(atQuestion([5, 0x61, 0x62]), 12)).toBe('overrun');
    expect(readQuestionName(atQuestion([1, 0x61]), 12)).toBe('overrun');
    expect(readQuestionName(atQuestion([]), 12)).toBe('overrun');
  });

  it('accepts a name of exactly 255 octets and refuses 256 (RFC 1035 §2.3.4)', () => {
    // 3 × (1 + 63) + (1 + 61) + 1 root = 255
    const max = [...label(63), ...label(63), ...label(63), ...label(61), 0];
    expect(max.length).toBe(255);
    const parsed = readQuestionName(atQuestion(max), 12);
    expect(parsed).toMatchObject({ wireLength: 255, end: 12 + 255 });
    const over = [...label(63), ...label(63), ...label(63), ...label(62), 0];
    expect(over.length).toBe(256);
    expect(readQuestionName(atQuestion(over), 12)).toBe('too_long');
  });

  it('accepts a 63-octet label and refuses 64 (which is the 0x40 label type)', () => {
    expect(readQuestionName(atQuestion([...label(63), 0]), 12)).toMatchObject({ wireLength: 65 });
    expect(readQuestionName(atQuestion([...label(64), 0]), 12)).toBe('label_type');
  });
});

describe('readQuestionName: recent names are the same string again (recentName)', () => {
  it('gives every name its own text, whatever shares a slot: 20,000 random names read in random order, twice', () => {
    const random = seededRandom(0x9e37);
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_';
    const names = Array.from({ length: 20_000 }, () => {
      const labels = Array.from({ length: 1 + random.int(4) }, () => Array.from({ length: 1 + random.int(random.int(4) === 0 ? 63 : 12) }, () => random.pick([...alphabet])).join(''));
      return labels.join('.');
    }).filter((name) => name.length <= 253);
    // Also names that differ from each other in one character or only in length.
    names.push('svc-0001.example.test', 'svc-0002.example.test', 'svc-0001.example.tes', 'svc-0001.example.testx', 'a', 'b', 'aa');
    const messages = names.map((name) => atQuestion(encodeName(name)));
    for (let pass = 0; pass < 2; pass++) {
      const order = names.map((_, index) => index).sort(() => random.next() - 0.5);
      for (const index of order) {
        const parsed = readQuestionName(messages[index]!, 12);
        expect(parsed).toMatchObject({ name: names[index]!.toLowerCase() });
      }
    }
  });
});

describe('recentName: two names that share a slot do not replace each other on every query', () => {
  // Each replacement stored a new young string into the long-lived table: alive at the next
  // scavenge, copied, then promoted (issue 9 item 3). The name asked for more often keeps the slot.
  const collidingPair = (): [string, string] => {
    const bySlot = new Map<number, string>();
    for (let index = 0; ; index++) {
      const name = `svc-${index}.collide.test`;
      const other = bySlot.get(recentNameSlotOf(name));
      if (other !== undefined) return [other, name];
      bySlot.set(recentNameSlotOf(name), name);
    }
  };
  const ask = (name: string) => readQuestionName(atQuestion(encodeName(name)), 12);

  it('keeps the name that holds the slot while the two alternate, and answers both correctly', () => {
    const [first, second] = collidingPair();
    const slot = recentNameSlotOf(first);
    expect(recentNameSlotOf(second)).toBe(slot);
    expect(ask(first)).toMatchObject({ name: first });
    expect(recentNameInSlot(slot)).toBe(first);
    for (let round = 0; round < 100; round++) {
      expect(ask(second)).toMatchObject({ name: second });
      expect(ask(first)).toMatchObject({ name: first });
      expect(recentNameInSlot(slot)).toBe(first);
    }
  });

  it('gives the slot to a name asked for more often than the one holding it, after a few misses', () => {
    const [first, second] = collidingPair();
    const slot = recentNameSlotOf(first);
    for (let round = 0; round < 10; round++) ask(first);
    let misses = 0;
    while (recentNameInSlot(slot) !== second) {
      expect(ask(second)).toMatchObject({ name: second });
      misses++;
      expect(misses).toBeLessThanOrEqual(4);
    }
    expect(misses).toBeGreaterThan(1);
    expect(ask(second)).toMatchObject({ name: second });
    expect(recentNameInSlot(slot)).toBe(second);
  });
});

describe('skipRecordName', () => {
  // header + question "www.mesh.local" A IN, then the name under test at `start`.
  const question = Buffer.concat([encodeName('www.mesh.local'), Buffer.from([0, 1, 0, 1])]);
  const start = 12 + question.length;
  const withRecordName = (bytes: number[]) => Buffer.concat([HEADER, question, Buffer.from(bytes)]);

  it('skips an uncompressed name', () => {
    const message = withRecordName([...encodeName('a.b')]);
    expect(skipRecordName(message, start)).toBe(start + 5);
  });

  it('accepts a pointer backwards into the question, alone or after labels, without following it', () => {
    expect(skipRecordName(withRecordName([0xc0, 12]), start)).toBe(start + 2);
    expect(skipRecordName(withRecordName([1, 0x78, 0xc0, 16]), start)).toBe(start + 4);
  });

  it('refuses a pointer to itself or forwards (they could loop: RFC 1035 §4.1.4 "a prior occurrence")', () => {
    expect(skipRecordName(withRecordName([0xc0 | (start >> 8), start & 0xff]), start)).toBe('pointer_in_question');
    expect(skipRecordName(withRecordName([0xc0, start + 2, 0]), start)).toBe('pointer_in_question');
  });

  it('refuses a pointer into the header', () => {
    expect(skipRecordName(withRecordName([0xc0, 0x05]), start)).toBe('pointer_in_question');
  });

  it('reports a pointer cut off after its first octet, and extended label types', () => {
    expect(skipRecordName(withRecordName([0xc0]), start)).toBe('overrun');
    expect(skipRecordName(withRecordName([0x40, 0x61, 0]), start)).toBe('label_type');
    expect(skipRecordName(withRecordName([3, 0x61]), start)).toBe('overrun');
  });

  it('refuses uncompressed names over 255 octets', () => {
    const over = [...label(63), ...label(63), ...label(63), ...label(62), 0];
    expect(skipRecordName(withRecordName(over), start)).toBe('too_long');
  });
});

describe('encodeNameAgainstQuestion', () => {
  const qname = 'weather.mesh.local';
  const qnameWire = encodeName(qname);
  // Offsets of each suffix inside the question at 12: weather(12) mesh(12+8) local(12+8+5).
  const offsetOf = (suffix: string) => 12 + qnameWire.length - plainNameWireLength(suffix);

  /** A full response with one A record whose owner is `ownerBytes`, decoded by dns2. */
  function ownerAsDecoded(ownerBytes: Buffer): string {
    const header = Buffer.from([0, 1, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
    const question = Buffer.concat([qnameWire, Buffer.from([0, 1, 0, 1])]);
    const tail = Buffer.from([0, RRType.A, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1]);
    const decoded = decode(Buffer.concat([header, question, ownerBytes, tail]));
    expect(decoded.errors).toEqual([]);
    return decoded.answers[0]!.name;
  }

  it('is a pointer to offset 12 when the name is the question name', () => {
    const bytes = encodeNameAgainstQuestion(qname, qname, qnameWire.length);
    expect([...bytes]).toEqual([0xc0, 12]);
    expect(ownerAsDecoded(bytes)).toBe(qname);
  });

  it('points at the start of the shared suffix inside the question', () => {
    expect(offsetOf('mesh.local')).toBe(20);
    expect(offsetOf('local')).toBe(25);
    const apex = encodeNameAgainstQuestion('mesh.local', qname, qnameWire.length);
    expect([...apex]).toEqual([0xc0, 20]);
    expect(ownerAsDecoded(apex)).toBe('mesh.local');
    const sibling = encodeNameAgainstQuestion('weather-a1.mesh.local', qname, qnameWire.length);
    expect([...sibling]).toEqual([10, ...Buffer.from('weather-a1'), 0xc0, 20]);
    expect(ownerAsDecoded(sibling)).toBe('weather-a1.mesh.local');
  });

  it('compresses to the longest shared suffix: a name below the question points at 12', () => {
    const below = encodeNameAgainstQuestion('_mcp._tcp.weather.mesh.local', qname, qnameWire.length);
    expect([...below]).toEqual([4, ...Buffer.from('_mcp'), 4, ...Buffer.from('_tcp'), 0xc0, 12]);
    expect(ownerAsDecoded(below)).toBe('_mcp._tcp.weather.mesh.local');
  });

  it('matches suffixes label by label, not character by character', () => {
    // "amesh.local" shares the string "mesh.local" but only the label "local".
    const bytes = encodeNameAgainstQuestion('amesh.local', qname, qnameWire.length);
    expect([...bytes]).toEqual([5, ...Buffer.from('amesh'), 0xc0, 25]);
    expect(ownerAsDecoded(bytes)).toBe('amesh.local');
  });

  it('writes the full name when nothing is shared', () => {
    const bytes = encodeNameAgainstQuestion('ns.example.org', qname, qnameWire.length);
    expect(bytes.equals(encodeName('ns.example.org'))).toBe(true);
    expect(ownerAsDecoded(bytes)).toBe('ns.example.org');
  });

  it('uses the question wire length, so the pointers hold for escaped question names too', () => {
    // Question "a\046b.mesh.local": 5 presentation characters for a 3-octet label.
    const escaped = Buffer.from([3, 0x61, 0x2e, 0x62, 4, ...Buffer.from('mesh'), 5, ...Buffer.from('local'), 0]);
    const parsed = readQuestionName(atQuestion(escaped), 12);
    if (typeof parsed === 'string') throw new Error(parsed);
    const bytes = encodeNameAgainstQuestion('mesh.local', parsed.name, parsed.wireLength);
    expect([...bytes]).toEqual([0xc0, 12 + 4]);
  });
});

describe('plain names and zone tests', () => {
  it('encodes plain names uncompressed, root as a single zero', () => {
    expect([...encodePlainName('')]).toEqual([0]);
    expect(encodePlainName('weather.mesh.local').equals(encodeName('weather.mesh.local'))).toBe(true);
    expect(plainNameWireLength('weather.mesh.local')).toBe(20);
    expect(plainNameWireLength('')).toBe(1);
  });

  it('isInZone is label-exact', () => {
    expect(isInZone('mesh.local', 'mesh.local')).toBe(true);
    expect(isInZone('a.mesh.local', 'mesh.local')).toBe(true);
    expect(isInZone('amesh.local', 'mesh.local')).toBe(false);
    expect(isInZone('local', 'mesh.local')).toBe(false);
    expect(isInZone('anything', '')).toBe(true);
  });

  it('counts labels and walks up', () => {
    expect(labelCount('')).toBe(0);
    expect(labelCount('a.b.c')).toBe(3);
    expect(parentName('a.b.c')).toBe('b.c');
    expect(parentName('c')).toBe('');
  });
});
