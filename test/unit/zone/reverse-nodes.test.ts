// The address key of a reverse name (reverse-nodes.ts): the incremental zone answers the PTR
// names of agents alone on their address from an index keyed by it, so the key must be the
// name's exact inverse, and any other spelling of a name must not reach an indexed agent.
import { describe, expect, it } from 'vitest';
import { addressKeyOf, reverseNameOfKey } from '../../../src/zone/reverse-nodes.ts';
import { reverseName } from '../../../src/zone/reverse.ts';

const ADDRESSES = ['0.0.0.0', '10.0.0.11', '10.9.9.9', '127.0.0.1', '128.0.0.1', '192.168.255.254', '255.255.255.255', '::', '::1', 'fd00::1', 'fd00:0:0:12::ab', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'];

describe('addressKeyOf', () => {
  it('is reverseName\'s inverse: the key gives the name back, IPv4 keys are int32, IPv6 keys 32 hex digits', () => {
    for (const address of ADDRESSES) {
      const name = reverseName(address);
      const key = addressKeyOf(name);
      expect(key, name).not.toBeNull();
      if (address.includes(':')) expect(key).toMatch(/^[0-9a-f]{32}$/);
      else expect(key).toBe((key as number) | 0);
      expect(reverseNameOfKey(key!)).toBe(name);
    }
  });

  it('gives distinct addresses distinct keys', () => {
    const keys = new Set<number | string>();
    for (let a = 0; a < 256; a += 51) for (let b = 0; b < 256; b += 85) for (let d = 0; d < 256; d++) keys.add(addressKeyOf(reverseName(`${a}.${b}.7.${d}`))!);
    expect(keys.size).toBe(6 * 4 * 256);
  });

  it('answers null for every other spelling, so no other name reaches an indexed agent', () => {
    const v6 = reverseName('fd00::1');
    for (const name of [
      '01.0.0.10.in-addr.arpa', // leading zero: reverseName never writes one
      '256.0.0.10.in-addr.arpa',
      '1000.0.0.10.in-addr.arpa',
      '0.0.10.in-addr.arpa', // a /24's name, not an address's
      '1.0.0.0.10.in-addr.arpa',
      '1..0.10.in-addr.arpa',
      '.1.0.10.in-addr.arpa',
      '1.0.0.10..in-addr.arpa',
      'a.0.0.10.in-addr.arpa',
      '-1.0.0.10.in-addr.arpa',
      'in-addr.arpa',
      '.in-addr.arpa',
      v6.replace(/^1/, 'A'), // upper case: lookups are on folded names
      v6.replace(/^1/, 'g'),
      v6.slice(2), // 31 nibbles
      `0.${v6}`, // 33
      v6.replace(/^1\.0/, '10'), // a two-digit label
      'x.mesh.local',
    ]) expect(addressKeyOf(name), name).toBeNull();
  });
});
