// Upstreams from /etc/resolv.conf, used when none are configured (dnsmasq's default; `no-resolv`
// is our explicit `upstreams` list). Pure: the caller reads the file and passes its text.
//
// resolv.conf(5): `nameserver <address>` lines, one address each, port 53 (the format has no
// port); `#` or `;` starts a comment line; other keywords (search, options, domain, sortlist) do
// not concern a forwarder. glibc and musl use only the first three nameservers (MAXNS); a
// forwarder can use them all, so all are returned, in file order, without duplicates.

import ipaddr from 'ipaddr.js';
import net from 'node:net';
import { upstreamName, type UpstreamAddress } from './types.ts';

export const RESOLV_CONF_PATH = '/etc/resolv.conf';
const DNS_PORT = 53;

export interface ResolvConf {
  nameservers: UpstreamAddress[];
  /** `nameserver` values that are not IP addresses (logged by the caller, never guessed at). */
  invalid: string[];
}

export function parseResolvConf(text: string): ResolvConf {
  const nameservers: UpstreamAddress[] = [];
  const invalid: string[] = [];
  const seen = new Set<string>();
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const [keyword, value] = line.split(/\s+/, 2);
    if (keyword !== 'nameserver') continue;
    if (value === undefined) {
      invalid.push('');
      continue;
    }
    const address = parseNameserver(value);
    if (!address) {
      invalid.push(value);
      continue;
    }
    const name = upstreamName(address);
    if (seen.has(name)) continue;
    seen.add(name);
    nameservers.push(address);
  }
  return { nameservers, invalid };
}

/**
 * An IP literal as a port-53 upstream. An IPv6 zone (`%eth0`) is kept on link-local addresses,
 * where it says which interface to send on (RFC 4007 §11), and dropped elsewhere, where it means
 * nothing. An IPv4-mapped IPv6 address becomes the IPv4 address (sent over udp4).
 */
export function parseNameserver(value: string): UpstreamAddress | null {
  // Dotted-quad only: inet_aton's short and octal forms ("10.1", "010.0.0.1") are refused
  // rather than read as something the operator may not have meant.
  if (net.isIPv4(value)) return { host: value, port: DNS_PORT, family: 'ipv4' };
  if (!ipaddr.IPv6.isValid(value)) return null;
  const v6 = ipaddr.IPv6.parse(value);
  if (v6.isIPv4MappedAddress()) return { host: v6.toIPv4Address().toString(), port: DNS_PORT, family: 'ipv4' };
  const zone = v6.zoneId;
  const bare = new ipaddr.IPv6(v6.parts).toString();
  const host = zone !== undefined && zone !== '' && v6.range() === 'linkLocal' ? `${bare}%${zone}` : bare;
  return { host, port: DNS_PORT, family: 'ipv6' };
}
