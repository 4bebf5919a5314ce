// Which bucket a client address belongs to, and whether the allow-list exempts it. CIDRs are
// parsed once at config time with ipaddr.js; at query time IPv4 (the common case) is read with
// a charCode loop into a 32-bit number and compared with precompiled network/mask pairs: no
// allocation. IPv6 keys are read with a charCode loop too (ipaddr.js's regex parser took
// 2.4 µs per address, measured), into a scratch array; only the key string is allocated.

import ipaddr from 'ipaddr.js';
import type { AddressFamily } from '../pipeline/types.ts';

/** Dotted-quad → unsigned 32-bit number; -1 for anything else (IPv4-mapped IPv6 included). */
export function parseIpv4(address: string): number {
  let value = 0;
  let octet = -1;
  let dots = 0;
  for (let index = 0; index < address.length; index++) {
    const code = address.charCodeAt(index);
    if (code === 46) {
      if (octet < 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = -1;
      dots++;
    } else if (code >= 48 && code <= 57) {
      octet = octet < 0 ? code - 48 : octet * 10 + code - 48;
      if (octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (octet < 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

const HEXTETS = new Uint16Array(8);

/**
 * Reads an IPv6 address (`::` compression, `%zone` ignored) into HEXTETS; false for anything it
 * does not read (an embedded IPv4 tail included: the caller falls back to ipaddr.js).
 */
export function readIpv6(address: string): boolean {
  let end = address.indexOf('%');
  if (end < 0) end = address.length;
  let count = 0;
  let gapAt = -1;
  let value = -1;
  let digits = 0;
  for (let index = 0; index < end; index++) {
    const code = address.charCodeAt(index);
    let nibble: number;
    if (code >= 48 && code <= 57) nibble = code - 48;
    else if (code >= 97 && code <= 102) nibble = code - 87;
    else if (code >= 65 && code <= 70) nibble = code - 55;
    else if (code === 58) {
      const gap = index + 1 < end && address.charCodeAt(index + 1) === 58;
      // A single colon ends a hextet: one must precede it, and one must follow it.
      if (!gap && (value < 0 || index + 1 === end)) return false;
      if (value >= 0) {
        if (count === 8) return false;
        HEXTETS[count++] = value;
        value = -1;
        digits = 0;
      }
      if (gap) {
        if (gapAt >= 0) return false;
        gapAt = count;
        index++;
      }
      continue;
    } else return false;
    if (++digits > 4) return false;
    value = value < 0 ? nibble : value * 16 + nibble;
  }
  if (value >= 0) {
    if (count === 8) return false;
    HEXTETS[count++] = value;
  }
  if (gapAt < 0) return count === 8;
  if (count > 7) return false;
  const shift = 8 - count;
  for (let index = count - 1; index >= gapAt; index--) HEXTETS[index + shift] = HEXTETS[index]!;
  for (let index = gapAt; index < gapAt + shift; index++) HEXTETS[index] = 0;
  return true;
}

/** A mask of `prefix` leading one bits, unsigned. */
function ipv4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export interface CompiledNetworks {
  /** Whether `address` lies in one of the networks. */
  contains(address: string): boolean;
}

/** Compiles CIDRs (already validated by the config loader) for query-time lookups. */
export function compileNetworks(cidrs: readonly string[]): CompiledNetworks {
  const v4: Array<[number, number]> = [];
  const v6: Array<[ipaddr.IPv6, number]> = [];
  for (const cidr of cidrs) {
    const [network, prefix] = ipaddr.parseCIDR(cidr);
    if (network.kind() === 'ipv4') {
      const mask = ipv4Mask(prefix);
      v4.push([(parseIpv4(network.toString()) & mask) >>> 0, mask]);
    } else {
      v6.push([network as ipaddr.IPv6, prefix]);
    }
  }
  return {
    contains(address) {
      const number = parseIpv4(address);
      if (number >= 0) {
        for (const [network, mask] of v4) if (((number & mask) >>> 0) === network) return true;
        return false;
      }
      if (v6.length === 0 && v4.length === 0) return false;
      if (!ipaddr.isValid(address)) return false;
      const parsed = ipaddr.process(address);
      if (parsed.kind() === 'ipv4') return this.contains(parsed.toString());
      return v6.some(([network, prefix]) => (parsed as ipaddr.IPv6).match(network, prefix));
    },
  };
}

export interface PrefixLengths {
  ipv4: number;
  ipv6: number;
}

/**
 * The bucket key of a client: its address when the prefix is the whole address (IPv4 /32, the
 * default: the string the socket gave us, no work at all), else the network part.
 */
export interface ClientKey {
  key(address: string, family: AddressFamily): string;
  /** Whether one key covers several addresses of that family (a prefix shorter than the address). */
  aggregates(family: AddressFamily): boolean;
}

export function createClientKey(prefixes: PrefixLengths): ClientKey {
  const v4Mask = ipv4Mask(prefixes.ipv4);
  const fullV4 = prefixes.ipv4 === 32;
  const fullV6 = prefixes.ipv6 === 128;
  return {
    aggregates: (family) => (family === 'ipv4' ? !fullV4 : !fullV6),
    key(address, family) {
      if (family === 'ipv4' || parseIpv4(address) >= 0) {
        if (fullV4) return address;
        const number = parseIpv4(address);
        return number < 0 ? address : `${((number & v4Mask) >>> 0).toString(16)}/${prefixes.ipv4}`;
      }
      if (fullV6) return address;
      if (!readIpv6(address)) {
        // Rare (an embedded IPv4 tail): the slow, general parser.
        if (!ipaddr.IPv6.isValid(address)) return address;
        const parts = ipaddr.IPv6.parse(address).parts;
        for (let index = 0; index < 8; index++) HEXTETS[index] = parts[index]!;
      }
      let key = '';
      const whole = prefixes.ipv6 >> 4;
      for (let index = 0; index < whole; index++) key += `${HEXTETS[index]!.toString(16)}:`;
      const rest = prefixes.ipv6 & 15;
      if (rest > 0) key += (HEXTETS[whole]! & (0xffff << (16 - rest)) & 0xffff).toString(16);
      return `${key}/${prefixes.ipv6}`;
    },
  };
}
