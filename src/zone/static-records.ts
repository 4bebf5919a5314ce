// Static records from config → zone records with absolute owner names (dnsmasq's host-record
// and addn-hosts, CoreDNS hosts). Throws ConfigValueError naming the record, so a bad record
// fails start with the file and the key.

import net from 'node:net';
import type { StaticRecordSpec } from '../config/options.ts';
import { ConfigValueError, parseDomainName } from '../config/values.ts';
import { RRType } from '../wire/constants.ts';
import { isInZone } from '../wire/name.ts';
import { encodeRecordTail, RecordTooLargeError, type ZoneRecord } from '../wire/record-codec.ts';
import type { StaticRecord } from './compile.ts';

/** "foo" → "foo.<zone>"; "foo.example." stays absolute. */
function absoluteName(name: string, zone: string): string {
  const trimmed = name.trim();
  if (trimmed === '@') return zone;
  return trimmed.endsWith('.') ? parseDomainName(trimmed) : parseDomainName(`${trimmed}.${zone}`);
}

/** TXT strings over 255 octets are split into several character-strings (RFC 1035 §3.3.14). */
function splitTxt(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length <= 255) return [value];
  const parts: string[] = [];
  for (let start = 0; start < bytes.length; ) {
    let end = Math.min(start + 255, bytes.length);
    while (end < bytes.length && end > start && (bytes[end]! & 0xc0) === 0x80) end--;
    parts.push(bytes.subarray(start, end).toString('utf8'));
    start = end;
  }
  return parts;
}

function toRecord(spec: StaticRecordSpec, zone: string, ttl: number): ZoneRecord {
  const value = spec.value;
  const text = Array.isArray(value) ? value.join(' ') : value.trim();
  switch (spec.type) {
    case 'A':
      if (net.isIPv4(text)) return { type: RRType.A, ttl, address: text };
      throw new ConfigValueError(`${JSON.stringify(text)} is not an IPv4 address`);
    case 'AAAA':
      if (net.isIPv6(text)) return { type: RRType.AAAA, ttl, address: text };
      throw new ConfigValueError(`${JSON.stringify(text)} is not an IPv6 address`);
    case 'CNAME':
      return { type: RRType.CNAME, ttl, target: absoluteName(text, zone) };
    case 'TXT': {
      const strings = (Array.isArray(value) ? value : [value]).flatMap(splitTxt);
      // RFC 1035 §3.3.14: TXT RDATA is one or more character-strings.
      if (strings.length === 0) throw new ConfigValueError('a TXT record needs at least one string');
      return { type: RRType.TXT, ttl, strings };
    }
    case 'SRV': {
      const [priority, weight, port, target, ...extra] = text.split(/\s+/);
      const numbers = [priority, weight, port].map(Number);
      if (extra.length > 0 || target === undefined || numbers.some((number) => !Number.isInteger(number) || number < 0 || number > 65535)) {
        throw new ConfigValueError(`${JSON.stringify(text)} is not "priority weight port target"`);
      }
      return { type: RRType.SRV, ttl, priority: numbers[0]!, weight: numbers[1]!, port: numbers[2]!, target: absoluteName(target, zone) };
    }
  }
}

export function compileStaticRecords(specs: readonly StaticRecordSpec[], zone: string, defaultTtl: number): StaticRecord[] {
  const records: StaticRecord[] = [];
  const typesByName = new Map<string, Set<number>>();
  specs.forEach((spec, index) => {
    try {
      const name = absoluteName(spec.name, zone);
      if (!isInZone(name, zone)) throw new ConfigValueError(`${name} is outside the zone ${zone}`);
      const record = toRecord(spec, zone, spec.ttl ?? defaultTtl);
      // Encode once now: a record the wire cannot carry (a TXT over 65,535 bytes) fails start with
      // the record named, instead of failing every query for it.
      try {
        encodeRecordTail(record);
      } catch (error) {
        if (error instanceof RecordTooLargeError) throw new ConfigValueError(error.message);
        throw error;
      }
      const types = typesByName.get(name) ?? new Set();
      // RFC 1034 §3.6.2: a CNAME cannot share its name with other data.
      if ((record.type === RRType.CNAME && types.size > 0 && !types.has(RRType.CNAME)) || (record.type !== RRType.CNAME && types.has(RRType.CNAME))) {
        throw new ConfigValueError(`${name} has a CNAME and other records; a CNAME must stand alone`);
      }
      if (record.type === RRType.CNAME && types.has(RRType.CNAME)) throw new ConfigValueError(`${name} has two CNAME records`);
      types.add(record.type);
      typesByName.set(name, types);
      records.push({ name, record });
    } catch (error) {
      throw new ConfigValueError(`record ${index + 1} (${spec.name} ${spec.type}): ${(error as Error).message}`);
    }
  });
  return records;
}
