import { describe, expect, it } from 'vitest';
import { reverseName, reverseZonesForCidr } from '../../../src/zone/reverse.ts';

describe('reverseName', () => {
  it('reverses IPv4 octets under in-addr.arpa (RFC 1035 §3.5)', () => {
    expect(reverseName('10.0.0.11')).toBe('11.0.0.10.in-addr.arpa');
    expect(reverseName('192.168.1.200')).toBe('200.1.168.192.in-addr.arpa');
  });

  it('reverses IPv6 nibbles under ip6.arpa, zeros written out (RFC 3596 §2.5)', () => {
    expect(reverseName('fd00::12')).toBe(`2.1.${'0.'.repeat(28)}d.f.ip6.arpa`);
    expect(reverseName('2001:db8::567:89ab')).toBe('b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  });
});

describe('reverseZonesForCidr', () => {
  it('an octet-aligned IPv4 prefix is one zone', () => {
    expect(reverseZonesForCidr('10.0.0.0/8')).toEqual(['10.in-addr.arpa']);
    expect(reverseZonesForCidr('192.168.0.0/16')).toEqual(['168.192.in-addr.arpa']);
    expect(reverseZonesForCidr('192.168.7.0/24')).toEqual(['7.168.192.in-addr.arpa']);
  });

  it('172.16.0.0/12 is split into the 16 /16 zones 16…31.172.in-addr.arpa', () => {
    const zones = reverseZonesForCidr('172.16.0.0/12');
    expect(zones).toHaveLength(16);
    expect(zones).toEqual(Array.from({ length: 16 }, (_, index) => `${16 + index}.172.in-addr.arpa`));
  });

  it('host bits in the network address do not move the zones', () => {
    expect(reverseZonesForCidr('172.20.1.1/12')).toEqual(reverseZonesForCidr('172.16.0.0/12'));
  });

  it('fc00::/7 is the two nibble zones fc and fd', () => {
    expect(reverseZonesForCidr('fc00::/7')).toEqual(['c.f.ip6.arpa', 'd.f.ip6.arpa']);
  });

  it('nibble-aligned IPv6 prefixes are one zone', () => {
    expect(reverseZonesForCidr('fd00::/8')).toEqual(['d.f.ip6.arpa']);
    expect(reverseZonesForCidr('2001:db8::/32')).toEqual(['8.b.d.0.1.0.0.2.ip6.arpa']);
  });

  it('every address in the CIDR lies in exactly one of its zones', () => {
    for (const [cidr, address] of [['172.16.0.0/12', '172.31.255.1'], ['172.16.0.0/12', '172.16.0.1'], ['fc00::/7', 'fdab::1'], ['fc00::/7', 'fc00::1']] as const) {
      const owner = reverseName(address);
      expect(reverseZonesForCidr(cidr).filter((zone) => owner.endsWith(`.${zone}`))).toHaveLength(1);
    }
  });
});
