// The one place dns2 is used: encoding the type, class, TTL and RDATA of our own records.
//
// Why dns2 only here: its record codec is correct for the types we publish (A, AAAA, CNAME,
// PTR, NS, SOA, SRV, TXT) and that is its strength. Its server loop and clients are not fit
// for our hot path or for forwarding (shared/reference §6: quadratic bit-array encoder,
// unhandled async rejections, no question matching). So: dns2 encodes each record once,
// with an empty owner name and its own fresh writer, which also means no name inside RDATA
// is compressed — RFC 2782 forbids compressing SRV targets, which dns2 would otherwise do.
// The owner name is ours (name.ts compresses it against the question), and records are
// encoded when an answer is first asked for, then copied as bytes.

import type dns2 from 'dns2';
import ipaddr from 'ipaddr.js';
import { RRClass, RRType } from './constants.ts';
import { Packet } from './dns2-packet.ts';

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

/**
 * An IPv6 literal as eight hex groups. dns2's AAAA encoder splits the text on ':' and reads
 * every group as hex, so the RFC 4291 §2.2 mixed form that net.isIPv6 accepts for static
 * records ("::ffff:192.0.2.1") went out as ::ffff:192 — a different address. ipaddr.js reads
 * both forms; a zone index ("%eth0") cannot be carried in an AAAA and is dropped here.
 */
function ipv6HexGroups(address: string): string {
  return ipaddr.IPv6.parse(address).parts.map((part) => part.toString(16)).join(':');
}

/** dns2's field names for each record type (it keeps RDATA fields flat on the resource). */
function toDns2Resource(record: ZoneRecord): Record<string, unknown> {
  const base = { name: '', type: record.type, class: RRClass.IN, ttl: record.ttl };
  switch (record.type) {
    case RRType.A:
      return { ...base, address: record.address };
    case RRType.AAAA:
      return { ...base, address: ipv6HexGroups(record.address) };
    case RRType.CNAME:
    case RRType.PTR:
      return { ...base, domain: record.target };
    case RRType.NS:
      return { ...base, ns: record.target };
    case RRType.TXT:
      return { ...base, data: record.strings };
    case RRType.SRV:
      return { ...base, priority: record.priority, weight: record.weight, port: record.port, target: record.target };
    case RRType.SOA:
      return {
        ...base, primary: record.mname, admin: record.rname, serial: record.serial, refresh: record.refresh,
        retry: record.retry, expiration: record.expire, minimum: record.minimum,
      };
    case RRType.HINFO: {
      // dns2 has no HINFO codec; it writes raw RDATA for types it does not know (RFC 3597).
      const cpu = Buffer.from(record.cpu, 'latin1');
      const os = Buffer.from(record.os, 'latin1');
      return { ...base, data: Buffer.concat([Buffer.from([cpu.length]), cpu, Buffer.from([os.length]), os]) };
    }
  }
}

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

/** TYPE, CLASS, TTL, RDLENGTH and RDATA of a record: everything after the owner name. */
export function encodeRecordTail(record: ZoneRecord): Buffer {
  // dns2 writes lengths modulo their field size: a 76,800-byte TXT went out with RDLENGTH 11,264
  // and a 300-byte string with length octet 44, i.e. a corrupt record that parses as garbage.
  // The zone bounds what it builds (compile.ts); this is the last line, so nothing is silent.
  if (record.type === RRType.TXT) {
    for (const text of record.strings) {
      const length = Buffer.byteLength(text, 'utf8');
      if (length > MAX_CHARACTER_STRING) throw new RecordTooLargeError(`TXT string of ${length} bytes (at most ${MAX_CHARACTER_STRING})`);
    }
  }
  // dns2's typings want a Resource instance; its encoder reads plain fields, which is what we pass.
  const encoded: Buffer = Packet.Resource.encode(toDns2Resource(record) as unknown as dns2.Packet.Resource);
  const tail = encoded.subarray(1); // drop the empty (root) owner name
  // TYPE(2) CLASS(2) TTL(4) RDLENGTH(2), then RDATA: what was written must be what RDLENGTH says.
  const rdataLength = tail.length - 10;
  if (rdataLength > MAX_RDATA_LENGTH || tail.readUInt16BE(8) !== rdataLength) {
    throw new RecordTooLargeError(`type ${record.type} RDATA of ${rdataLength} bytes (RDLENGTH holds at most ${MAX_RDATA_LENGTH})`);
  }
  return tail;
}
