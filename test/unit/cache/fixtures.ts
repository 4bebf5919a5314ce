// Upstream-shaped messages, client requests and a TTL reader for the cache tests (the AnswerCache
// unit tests, the cache stage's, and the TTL property test).

import { Flag, Rcode, RRType } from '../../../src/wire/constants.ts';
import { parseRequest, type DnsRequest } from '../../../src/wire/request.ts';
import { responseSizeLimit, type ResponseSettings } from '../../../src/wire/response.ts';
import { indexUpstreamMessage, type IndexedMessage } from '../../../src/wire/upstream-message.ts';
import { buildQuery, encodeName, encodeRecord, messageLayout, type EdnsSpec, type QueryOptions } from '../../support/dns-messages.ts';

export const T0 = 1_700_000_000_000; // ms; every test moves this clock by hand
export const QNAME = Buffer.from([0xc0, 0x0c]); // pointer to the question name

export function request(name: string, options: Omit<QueryOptions, 'name'> = {}): DnsRequest {
  const parsed = parseRequest(buildQuery({ name, ...options }));
  if (!parsed.ok) throw new Error(`bad test request: ${parsed.reason}`);
  return parsed.request;
}

export function settingsFor(req: DnsRequest, overrides: Partial<ResponseSettings> = {}): ResponseSettings {
  return { recursionAvailable: true, udpPayloadSize: 1232, sizeLimit: responseSizeLimit(req.edns, 'udp', 1232), rotation: 0, ...overrides };
}

export interface UpstreamSpec {
  name?: string;
  type?: number | string;
  qclass?: number;
  rcode?: number;
  /** Extra header bits (AA, AD, TC). */
  flags?: number;
  answers?: Buffer[];
  authority?: Buffer[];
  additional?: Buffer[];
  edns?: EdnsSpec | null;
}

export function upstream(spec: UpstreamSpec = {}): IndexedMessage {
  const message = buildQuery({
    id: 0x7777,
    name: spec.name ?? 'www.example.com',
    type: spec.type ?? 'A',
    qclass: spec.qclass,
    flags: Flag.QR | Flag.RD | Flag.RA | (spec.flags ?? 0) | (spec.rcode ?? Rcode.NOERROR),
    answerRecords: spec.answers ?? [],
    authorityRecords: spec.authority ?? [],
    extraRecords: spec.additional ?? [],
    edns: spec.edns === undefined ? { udpSize: 1232 } : spec.edns,
  });
  const indexed = indexUpstreamMessage(message);
  if ('error' in indexed) throw new Error(`bad test upstream message: ${indexed.error}`);
  return indexed;
}

export function aRecord(ttl: number, last = 1, owner: Buffer = QNAME): Buffer {
  return encodeRecord({ nameBytes: owner, type: 'A', ttl, rdata: Buffer.from([192, 0, 2, last]) });
}

export function soaRecord(ttl: number, minimum: number): Buffer {
  const counters = Buffer.alloc(20);
  [2024010101, 7200, 900, 1209600, minimum].forEach((value, index) => counters.writeUInt32BE(value, index * 4));
  const rdata = Buffer.concat([encodeName('ns1.example.com.'), encodeName('hostmaster.example.com.'), counters]);
  return encodeRecord({ name: 'example.com.', type: 'SOA', ttl, rdata });
}

/** Every non-OPT record's TTL in a response, in wire order, read straight from the bytes. */
export function ttlsOf(response: Buffer): number[] {
  const layout = messageLayout(response);
  if (typeof layout === 'string') throw new Error(`malformed response: ${layout}`);
  return layout.records.filter((record) => record.type !== RRType.OPT).map((record) => response.readUInt32BE(record.rdataStart - 6));
}

