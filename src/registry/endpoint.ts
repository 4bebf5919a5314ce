// Parses the registry's `endpoint` string into scheme, host and port.
//
// The registry has no host/port fields in GET /agents: it formats `<scheme>://<http_host>:<http_port>`
// with the host stored verbatim (reference §1, §9). Hence the traps handled here:
//   - IPv6 arrives unbracketed (`http://fd00::12:9090`) unless the agent sent brackets, so the port
//     is whatever follows the LAST colon; `new URL()` throws on the unbracketed form (§9 pitfall 2);
//   - 0.0.0.0, localhost and junk such as `not a host/../x` with port 70000 are accepted (pitfalls 1, 3);
//   - an agent without host or port is `stdio://<id>`.
import ipaddr from 'ipaddr.js';
import type { EndpointScheme, HostKind, SkipReason } from './types.ts';

export type ParsedEndpoint =
  | { ok: true; scheme: EndpointScheme; host: string; hostKind: HostKind; port: number }
  | { ok: false; reason: SkipReason };

const ENDPOINT_SHAPE = /^(https?):\/\/(.+):([^:]*)$/;
const PORT_DIGITS = /^[0-9]{1,5}$/;
// RFC 1123 §2.1 label (no leading or trailing hyphen), plus `_`, which compose service names and
// some internal zones use and getaddrinfo resolves.
// Checked on the raw spelling, before folding, and without the `i` flag: "\u212A".toLowerCase()
// is ASCII "k", so folding first would resolve a different, ASCII host than the one advertised.
const HOSTNAME_LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;
const ALL_DIGITS = /^[0-9]+$/;
const MAX_HOSTNAME_LENGTH = 253;

export function parseEndpoint(endpoint: string): ParsedEndpoint {
  if (endpoint.startsWith('stdio://')) return { ok: false, reason: 'stdio' };
  // Greedy `(.+)` splits at the last colon; the scheme is matched case-sensitively because the
  // registry writes it itself (`http` or `https`), so anything else did not come from it.
  const shape = ENDPOINT_SHAPE.exec(endpoint);
  if (shape === null) return { ok: false, reason: 'unparsable_endpoint' };
  const [, scheme, rawHost, rawPort] = shape as unknown as [string, EndpointScheme, string, string];

  const host = classifyHost(rawHost);
  if (host === null) return { ok: false, reason: 'unparsable_endpoint' };
  if (!PORT_DIGITS.test(rawPort)) {
    // Digits that are simply too many (`99999999`) are a bad port; anything else is junk.
    return { ok: false, reason: ALL_DIGITS.test(rawPort) ? 'invalid_port' : 'unparsable_endpoint' };
  }
  const port = Number(rawPort);
  if (port < 1 || port > 65535) return { ok: false, reason: 'invalid_port' };
  const unroutable = unroutableReason(host);
  if (unroutable !== null) return { ok: false, reason: unroutable };
  // The literal, not the match: one string for every agent instead of one each (~24 B per agent).
  return { ok: true, scheme: scheme === 'https' ? 'https' : 'http', host: host.host, hostKind: host.kind, port };
}

/**
 * Whether `endpoint` is exactly `<scheme>://<host>:<port>` of a served agent with a literal
 * address (a projection of parseEndpoint's result), compared in place: no string is built, so an
 * unchanged agent costs no parse per poll (projection.ts). parseEndpoint of that spelling gives back the
 * served scheme, host, kind and port: the host is already ipaddr.js's canonical form (dotted quad,
 * RFC 5952 IPv6), which it parses to itself, and it passed the routability checks when it was
 * served. Any other spelling (brackets, leading zeros, upper case) is parsed as before.
 */
export function isServedEndpoint(endpoint: string, served: { scheme: EndpointScheme; host: string; port: number }): boolean {
  const { scheme, host, port } = served;
  const hostAt = scheme.length + 3;
  const colonAt = hostAt + host.length;
  if (endpoint.length <= colonAt + 1 || endpoint.length > colonAt + 6) return false;
  if (!endpoint.startsWith(scheme) || !endpoint.startsWith('://', scheme.length) || !endpoint.startsWith(host, hostAt) || endpoint.charCodeAt(colonAt) !== 0x3a) return false;
  // The port's digits: no sign, no leading zero (the registry writes an integer), the same value.
  if (endpoint.charCodeAt(colonAt + 1) === 0x30) return false;
  let value = 0;
  for (let at = colonAt + 1; at < endpoint.length; at++) {
    const digit = endpoint.charCodeAt(at) - 0x30;
    if (digit < 0 || digit > 9) return false;
    value = value * 10 + digit;
  }
  return value === port;
}

interface ClassifiedHost {
  kind: HostKind;
  host: string;
  address: ipaddr.IPv4 | ipaddr.IPv6 | null;
}

function classifyHost(raw: string): ClassifiedHost | null {
  if (raw.startsWith('[') || raw.endsWith(']')) {
    // Brackets are only ever IPv6 (`http://[fd00::13]:9091`).
    if (!(raw.startsWith('[') && raw.endsWith(']'))) return null;
    return classifyIpv6(raw.slice(1, -1));
  }
  if (raw.includes(':')) return classifyIpv6(raw);
  // Strict dotted quad only: ipaddr.parse would read `010.0.0.1` as octal and `127.1` as 127.0.0.1,
  // which is not what the agent meant nor what a Go/C client would connect to.
  if (ipaddr.IPv4.isValidFourPartDecimal(raw)) {
    const address = ipaddr.IPv4.parse(raw);
    return { kind: 'ipv4', host: address.toString(), address };
  }
  const hostname = normaliseHostname(raw);
  return hostname === null ? null : { kind: 'hostname', host: hostname, address: null };
}

function classifyIpv6(raw: string): ClassifiedHost | null {
  // A zone index (`fe80::1%eth0`) cannot be expressed in an AAAA record.
  if (raw.includes('%') || !ipaddr.IPv6.isValid(raw)) return null;
  const address = ipaddr.IPv6.parse(raw);
  // IPv4-mapped stays ipv6: the agent advertised an IPv6 socket address.
  return { kind: 'ipv6', host: address.toString(), address };
}

/** Lower-cased, trailing dot removed; null unless it is a syntactically valid DNS name. */
export function normaliseHostname(raw: string): string | null {
  const spelled = raw.endsWith('.') ? raw.slice(0, -1) : raw;
  if (spelled.length === 0 || spelled.length > MAX_HOSTNAME_LENGTH) return null;
  if (!spelled.split('.').every((label) => HOSTNAME_LABEL.test(label))) return null;
  // Only ASCII is left, so toLowerCase folds exactly A–Z.
  const name = spelled.toLowerCase();
  const labels = name.split('.');
  // An all-numeric last label is how a malformed IPv4 (`10.1`, `010.0.0.1`) looks; RFC 3696 §2.
  if (ALL_DIGITS.test(labels[labels.length - 1] ?? '')) return null;
  return name;
}

function unroutableReason(host: ClassifiedHost): SkipReason | null {
  if (host.address === null) return isLoopbackHostname(host.host) ? 'loopback' : null;
  return addressSkipReason(host.address);
}

/** RFC 6761 §6.3: `localhost` and every name under it are the local host. */
export function isLoopbackHostname(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost');
}

/** Why an address cannot be published for other hosts to reach, or null when it can. */
export function addressSkipReason(address: ipaddr.IPv4 | ipaddr.IPv6): SkipReason | null {
  // ::ffff:127.0.0.1 reaches the local host just as 127.0.0.1 does.
  const effective = address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress() ? address.toIPv4Address() : address;
  const range = effective.range();
  if (range === 'unspecified') return 'unspecified_address';
  if (range === 'loopback') return 'loopback';
  return null;
}
