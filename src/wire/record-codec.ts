// The type, class, TTL and RDATA of our own records (everything after the owner name), encoded
// once per record and then copied as bytes; the owner name is ours too (name.ts compresses it
// against the question). No name inside RDATA is compressed: RFC 2782 forbids it for SRV targets,
// and a record's bytes must not depend on the message they are copied into.
//
// Why not dns2's codec any more (it was used here until 2026-12): its packet.js loads node:crypto
// at import (for query IDs we never ask it for), node:util's inspect and its bit-array writer, and
// kept them resident in a server that calls it only when an answer is first compiled (issue 9
// item 4, README Memory). The encoding below is the one dns2 produced, byte for byte, for every
// type we publish: test/unit/wire/record-codec.test.ts compares the two on a corpus (dns2 stays a
// devDependency for that test).

import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';
import { RRClass, RRType } from './constants.ts';
import { encodePlainName } from './name.ts';

export type ZoneRecord =
  | { type: typeof RRType.A; ttl: number; address: string }
  | { type: typeof RRType.AAAA; ttl: number; address: string }
  | { type: typeof RRType.CNAME; ttl: number; target: string }
  | { type: typeof RRType.PTR; ttl: number; target: string }
  | { type: typeof RRType.NS; ttl: number; target: string }
  | { type: typeof RRType.TXT; ttl: number; strings: string[] }
  | { type: typeof RRType.SRV; ttl: number; priority: number; weight: number; port: number; target: string }
  | { type: typeof RRType.HINFO; ttl: number; cpu: string; os: string }
  | {
      type: typeof RRType.SOA;
      ttl: number;
      mname: string;
      rname: string;
      serial: number;
      refresh: number;
      retry: number;
      expire: number;
      minimum: number;
    };

/** RFC 1035 §3.2.1: RDLENGTH is 16 bits. */
export const MAX_RDATA_LENGTH = 0xffff;
/** RFC 1035 §3.3: a <character-string> is one length octet and at most 255 octets. */
export const MAX_CHARACTER_STRING = 255;

/** A record that cannot be expressed on the wire; thrown instead of writing a corrupt one. */
export class RecordTooLargeError extends Error {
  readonly code = 'RECORD_TOO_LARGE';
  constructor(message: string) {
    super(message);
    this.name = 'RecordTooLargeError';
  }
}

/** RFC 1035 §2.3.4: labels of at most 63 octets, names of at most 255. */
const MAX_LABEL_OCTETS = 63;
const MAX_NAME_OCTETS = 255;
/** RFC 2181 §8: a TTL is 32 bits, but values with the top bit set are unsafe; they go out as 2^31 - 1. */
const MAX_TTL = 0x7fffffff;

/** A name inside RDATA, uncompressed. Empty labels (a trailing dot) are dropped, as dns2 did. */
function rdataName(name: string): Buffer {
  const labels = name.split('.').filter((label) => label !== '');
  let wireLength = 1;
  for (const label of labels) {
    if (label.length > MAX_LABEL_OCTETS) throw new Error(`name encode: label "${label}" is ${label.length} octets (max ${MAX_LABEL_OCTETS})`);
    wireLength += label.length + 1;
  }
  if (wireLength > MAX_NAME_OCTETS) throw new Error(`name encode: name "${name}" encodes to ${wireLength} octets (max ${MAX_NAME_OCTETS})`);
  return encodePlainName(labels.join('.'));
}

function ipv4Rdata(address: string): Buffer {
  // A malformed address would otherwise go out as NaN octets, i.e. 0.0.0.0.
  if (!isIPv4(address)) throw new Error(`A encode: invalid IPv4 address ${JSON.stringify(address)}`);
  return Buffer.from(address.split('.').map((octet) => Number(octet)));
}

/**
 * RFC 3596 §2.2. ipaddr.js reads the RFC 4291 §2.2 mixed form ("::ffff:192.0.2.1") that
 * net.isIPv6 accepts for static records; a zone index ("%eth0") cannot be carried and is dropped.
 */
function ipv6Rdata(address: string): Buffer {
  return Buffer.from(ipaddr.IPv6.parse(address).toByteArray());
}

function uint16s(...values: number[]): Buffer {
  const out = Buffer.allocUnsafe(values.length * 2);
  values.forEach((value, index) => out.writeUInt16BE(value, index * 2));
  return out;
}

function uint32s(...values: number[]): Buffer {
  const out = Buffer.allocUnsafe(values.length * 4);
  values.forEach((value, index) => out.writeUInt32BE(value, index * 4));
  return out;
}

/** RFC 1035 §3.3: a <character-string> is one length octet, then the octets. */
function characterString(bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

function rdataOf(record: ZoneRecord): Buffer {
  switch (record.type) {
    case RRType.A:
      return ipv4Rdata(record.address);
    case RRType.AAAA:
      return ipv6Rdata(record.address);
    case RRType.CNAME:
    case RRType.PTR:
    case RRType.NS:
      return rdataName(record.target);
    case RRType.TXT: // RFC 1035 §3.3.14: one character-string per string, empty ones included
      return Buffer.concat(record.strings.map((text) => characterString(Buffer.from(text, 'utf8'))));
    case RRType.SRV: // RFC 2782
      return Buffer.concat([uint16s(record.priority, record.weight, record.port), rdataName(record.target)]);
    case RRType.SOA: // RFC 1035 §3.3.13; RFC 2308 §4: MINIMUM is a TTL too, with the same ceiling
      return Buffer.concat([
        rdataName(record.mname), rdataName(record.rname),
        uint32s(record.serial, record.refresh, record.retry, record.expire, Math.min(record.minimum >>> 0, MAX_TTL)),
      ]);
    case RRType.HINFO: // RFC 1035 §3.3.2
      return Buffer.concat([characterString(Buffer.from(record.cpu, 'latin1')), characterString(Buffer.from(record.os, 'latin1'))]);
  }
}

/** TYPE, CLASS, TTL, RDLENGTH and RDATA of a record: everything after the owner name. */
export function encodeRecordTail(record: ZoneRecord): Buffer {
  // A length that does not fit its field is refused, never written modulo its size (a 76,800-byte
  // TXT once went out with RDLENGTH 11,264: a corrupt record). The zone bounds what it builds
  // (compile.ts); this is the last line, so nothing is silent.
  if (record.type === RRType.TXT) {
    for (const text of record.strings) {
      const length = Buffer.byteLength(text, 'utf8');
      if (length > MAX_CHARACTER_STRING) throw new RecordTooLargeError(`TXT string of ${length} bytes (at most ${MAX_CHARACTER_STRING})`);
    }
  }
  const rdata = rdataOf(record);
  if (rdata.length > MAX_RDATA_LENGTH) {
    throw new RecordTooLargeError(`type ${record.type} RDATA of ${rdata.length} bytes (RDLENGTH holds at most ${MAX_RDATA_LENGTH})`);
  }
  const tail = Buffer.allocUnsafe(10 + rdata.length);
  tail.writeUInt16BE(record.type, 0);
  tail.writeUInt16BE(RRClass.IN, 2);
  tail.writeUInt32BE(Math.min(record.ttl >>> 0, MAX_TTL), 4);
  tail.writeUInt16BE(rdata.length, 8);
  rdata.copy(tail, 10);
  return tail;
}
