// ZoneNode: the compact RRset holder of one owner name (zone.ts) must read like the
// Map<number, ZoneRecord[]> it replaced: insertion order, replacement in place, clear, iteration.
import { describe, expect, it } from 'vitest';
import { RRType } from '../../../src/wire/constants.ts';
import type { ZoneRecord } from '../../../src/wire/record-codec.ts';
import { ZoneNode } from '../../../src/zone/zone.ts';

const a: ZoneRecord[] = [{ type: RRType.A, ttl: 5, address: '10.0.0.1' }];
const txt: ZoneRecord[] = [{ type: RRType.TXT, ttl: 5, strings: ['x'] }];
const a2: ZoneRecord[] = [{ type: RRType.A, ttl: 5, address: '10.0.0.2' }];

describe('ZoneNode', () => {
  it('an empty node is an empty non-terminal: size 0, no type', () => {
    const node = new ZoneNode();
    expect(node.size).toBe(0);
    expect(node.has(RRType.A)).toBe(false);
    expect(node.get(RRType.A)).toBeUndefined();
    expect([...node]).toEqual([]);
  });

  it('keeps insertion order like a Map, replaces an RRset in place, and clears', () => {
    const node = new ZoneNode();
    const map = new Map<number, ZoneRecord[]>();
    for (const [type, rrset] of [[RRType.A, a], [RRType.TXT, txt], [RRType.A, a2]] as const) {
      node.set(type, rrset);
      map.set(type, rrset);
      expect([...node]).toEqual([...map]);
      expect([...node.keys()]).toEqual([...map.keys()]);
      expect([...node.values()]).toEqual([...map.values()]);
      expect(node.size).toBe(map.size);
    }
    expect(node.get(RRType.A)).toBe(a2);
    expect(node.has(RRType.TXT)).toBe(true);
    node.clear();
    expect(node.size).toBe(0);
    expect(node.get(RRType.TXT)).toBeUndefined();
  });
});
