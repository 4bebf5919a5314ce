// DNS numbers used across the server. Plain objects instead of enums: Node runs these
// sources with type stripping, which accepts only erasable TypeScript.

export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  HINFO: 13,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  DS: 43,
  RRSIG: 46,
  DNSKEY: 48,
  SVCB: 64,
  HTTPS: 65,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const RRClass = { IN: 1, CH: 3, NONE: 254, ANY: 255 } as const;

export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  // Extended (RFC 6891 §6.1.3): the high 8 bits travel in the OPT TTL.
  BADVERS: 16,
} as const;

export const Opcode = { QUERY: 0 } as const;

// RFC 8914 Extended DNS Error info codes we emit.
export const EdeCode = {
  OTHER: 0,
  STALE_ANSWER: 3,
  CACHED_ERROR: 13,
  NOT_READY: 14,
  BLOCKED: 15,
  PROHIBITED: 18,
  NOT_AUTHORITATIVE: 20,
  NOT_SUPPORTED: 21,
  NO_REACHABLE_AUTHORITY: 22,
  NETWORK_ERROR: 23,
} as const;

export const EdnsOption = { ECS: 8, COOKIE: 10, PADDING: 12, EDE: 15 } as const;

export const HEADER_LENGTH = 12;
export const MAX_NAME_OCTETS = 255;
export const MAX_LABEL_OCTETS = 63;
// RFC 1035 §4.2.1: the UDP limit without EDNS.
export const CLASSIC_UDP_LIMIT = 512;

// Header flag bits in the 16-bit flags word.
export const Flag = {
  QR: 0x8000,
  AA: 0x0400,
  TC: 0x0200,
  RD: 0x0100,
  RA: 0x0080,
  AD: 0x0020,
  CD: 0x0010,
} as const;

const typeNames = new Map<number, string>(Object.entries(RRType).map(([name, code]) => [code, name]));

/** Presentation name of a type (RFC 3597 `TYPEnnn` when unknown). */
export function typeName(type: number): string {
  return typeNames.get(type) ?? `TYPE${type}`;
}

const rcodeNames = new Map<number, string>(Object.entries(Rcode).map(([name, code]) => [code, name]));

export function rcodeName(rcode: number): string {
  return rcodeNames.get(rcode) ?? `RCODE${rcode}`;
}
