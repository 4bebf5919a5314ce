// Reverse-lookup names (RFC 1035 §3.5 in-addr.arpa, RFC 3596 §2.5 ip6.arpa).

import ipaddr from 'ipaddr.js';

/**
 * PTR owner name for an address: "10.0.0.11" → "11.0.0.10.in-addr.arpa". Built by one join, so
 * the name is one flat string (see flatOwnerName in compile.ts).
 */
export function reverseName(address: string): string {
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv4') return [...parsed.toByteArray().reverse(), 'in-addr', 'arpa'].join('.');
  const nibbles: string[] = [];
  for (const byte of parsed.toByteArray()) nibbles.push((byte >> 4).toString(16), (byte & 0xf).toString(16));
  return [...nibbles.reverse(), 'ip6', 'arpa'].join('.');
}


/**
 * The reverse zones that cover a CIDR. Zones sit on octet (IPv4) or nibble (IPv6) boundaries,
 * so a prefix between boundaries is split into the zones one boundary down:
 * 172.16.0.0/12 → 16.172.in-addr.arpa … 31.172.in-addr.arpa.
 */
export function reverseZonesForCidr(cidr: string): string[] {
  const [network, prefix] = ipaddr.parseCIDR(cidr);
  const bytes = network.toByteArray();
  const v4 = network.kind() === 'ipv4';
  const unit = v4 ? 8 : 4;
  const roundedPrefix = Math.ceil(prefix / unit) * unit;
  const digits: number[] = [];
  if (v4) digits.push(...bytes);
  else for (const byte of bytes) digits.push(byte >> 4, byte & 0xf);
  const fixedDigits = roundedPrefix / unit;
  const variableBits = roundedPrefix - prefix;
  const zones: string[] = [];
  for (let extra = 0; extra < 1 << variableBits; extra++) {
    const zoneDigits = digits.slice(0, fixedDigits);
    if (variableBits > 0) {
      const last = fixedDigits - 1;
      const keepMask = ((1 << unit) - 1) & ~((1 << variableBits) - 1);
      zoneDigits[last] = (zoneDigits[last]! & keepMask) | extra;
    }
    const labels = zoneDigits.reverse().map((digit) => (v4 ? String(digit) : digit.toString(16)));
    zones.push([...labels, v4 ? 'in-addr.arpa' : 'ip6.arpa'].join('.'));
  }
  return zones;
}
