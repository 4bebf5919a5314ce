// answerFromZone: the authoritative decision for one (name, type) and its encoding into bytes.
//
// RFC rules applied here:
// - NXDOMAIN only when the name and nothing below it exists; an existing name without the
//   type, and an empty non-terminal, get NODATA (NOERROR, empty ANSWER) — RFC 8020, RFC 2308 §2.2.
// - Every negative answer carries the zone's SOA in AUTHORITY, TTL = min(TTL, MINIMUM) (RFC 2308 §3).
// - CNAME at the name: returned and followed inside our zones (RFC 1034 §4.3.2).
// - ANY: the name's records (RFC 8482 §4.3 allows answering with what the name holds).
// - SRV and NS answers carry their in-zone targets' addresses in ADDITIONAL.
//
// Encoded answers are memoised per zone set (replaced whenever the zone changes). Keys come
// from the decision, not the query: all NODATA/NXDOMAIN answers share keys by rcode and
// question length, and positive answers exist only for RRsets that exist, so an attacker
// cycling qtypes or random names cannot grow the memo; MEMO_LIMIT is the backstop.

import { Rcode, RRType } from '../wire/constants.ts';
import { encodeNameAgainstQuestion, parentName } from '../wire/name.ts';
import { encodeRecordTail, type ZoneRecord } from '../wire/record-codec.ts';
import type { RecordSections } from '../wire/response.ts';
import type { AuthoritativeZone, ZoneSet } from './zone.ts';

const MEMO_LIMIT = 200_000;
const MAX_CNAME_CHAIN = 8;

interface OwnedRecord {
  owner: string;
  record: ZoneRecord;
}

/** The zone that holds `qname`, found by walking its suffixes (a few map lookups). */
export function findZone(zones: ZoneSet, qname: string): AuthoritativeZone | undefined {
  for (let name = qname; ; name = parentName(name)) {
    const zone = zones.byApex.get(name);
    if (zone) return zone;
    if (name === '') return undefined;
  }
}

/**
 * The answer for a query inside one of our zones, or null when the name is not ours.
 * `lookupName` (default: the query name) is the zone name to answer for; when it differs, the
 * records owned by it are written with the query name as owner (single-label names answered
 * from the mesh zone, as Docker's DNS answers container names: see stages/single-label.ts).
 */
export function answerFromZone(zones: ZoneSet, qname: string, qtype: number, qnameWireLength: number, lookupName = qname): RecordSections | null {
  const zone = findZone(zones, lookupName);
  if (!zone) return null;
  const node = zone.nodes.get(lookupName);
  // Aliased answers differ in bytes from the zone's own: their memo keys never meet.
  const memoPrefix = lookupName === qname ? '' : 'alias:';
  if (!node) return negativeAnswer(zones, zone, Rcode.NXDOMAIN, qname, qnameWireLength, memoPrefix);

  const direct = qtype === RRType.ANY ? (node.size > 0 ? 'any' : undefined) : node.has(qtype) ? 'rrset' : undefined;
  if (direct || (node.has(RRType.CNAME) && qtype !== RRType.CNAME)) {
    // At a CNAME, every type that no zone holds gets the same answer (the chain, then NODATA):
    // one memo entry for all of them, so cycling 65k qtypes at a CNAME adds one entry, not 65k.
    const keyType = zones.typesPresent.has(qtype) || qtype === RRType.ANY ? qtype : 0;
    const key = `${memoPrefix}${keyType}:${qname}`;
    const memo = zones.answerMemo.get(key);
    if (memo) return memo;
    const built = positiveAnswer(zones, zone, qname, qtype, qnameWireLength, lookupName);
    remember(zones, key, built);
    return built;
  }
  return negativeAnswer(zones, zone, Rcode.NOERROR, qname, qnameWireLength, memoPrefix);
}

function remember(zones: ZoneSet, key: string, sections: RecordSections): void {
  if (zones.answerMemo.size < MEMO_LIMIT) zones.answerMemo.set(key, sections);
}

function negativeAnswer(zones: ZoneSet, zone: AuthoritativeZone, rcode: number, qname: string, qnameWireLength: number, memoPrefix: string): RecordSections {
  // The body differs only by where the apex sits inside the question, i.e. by its length.
  const key = `${memoPrefix}neg:${rcode}:${zone.apex}:${qnameWireLength}`;
  const memo = zones.answerMemo.get(key);
  if (memo) return memo;
  const built = encodeSections(qname, qnameWireLength, rcode, [], [{ owner: zone.apex, record: zone.negativeSoa }], []);
  remember(zones, key, built);
  return built;
}

function positiveAnswer(zones: ZoneSet, zone: AuthoritativeZone, qname: string, qtype: number, qnameWireLength: number, lookupName: string): RecordSections {
  const answer: OwnedRecord[] = [];
  let owner = lookupName;
  let currentZone: AuthoritativeZone | undefined = zone;
  for (let hop = 0; hop <= MAX_CNAME_CHAIN && currentZone; hop++) {
    const node = currentZone.nodes.get(owner);
    if (!node) {
      // RFC 6604 §3: the rcode describes the last name in the chain.
      return encodeSections(qname, qnameWireLength, Rcode.NXDOMAIN, answer, [{ owner: currentZone.apex, record: currentZone.negativeSoa }], []);
    }
    const written = owner === lookupName ? qname : owner;
    if (qtype === RRType.ANY) {
      for (const rrset of node.values()) for (const record of rrset) answer.push({ owner: written, record });
      break;
    }
    const rrset = node.get(qtype);
    if (rrset) {
      for (const record of rrset) answer.push({ owner: written, record });
      break;
    }
    const cname = node.get(RRType.CNAME)?.[0];
    if (!cname || cname.type !== RRType.CNAME || qtype === RRType.CNAME) {
      return encodeSections(qname, qnameWireLength, Rcode.NOERROR, answer, [{ owner: currentZone.apex, record: currentZone.negativeSoa }], []);
    }
    answer.push({ owner: written, record: cname });
    owner = cname.target;
    currentZone = findZone(zones, owner);
  }
  return encodeSections(qname, qnameWireLength, Rcode.NOERROR, answer, [], additionalFor(zones, answer));
}

/** Addresses of in-zone SRV and NS targets (RFC 2782 "Additional data"; RFC 1035 §3.3.11). */
function additionalFor(zones: ZoneSet, answer: readonly OwnedRecord[]): OwnedRecord[] {
  const additional: OwnedRecord[] = [];
  const seen = new Set<string>();
  for (const { record } of answer) {
    if (record.type !== RRType.SRV && record.type !== RRType.NS) continue;
    const target = record.target;
    if (seen.has(target)) continue;
    seen.add(target);
    const node = findZone(zones, target)?.nodes.get(target);
    for (const type of [RRType.A, RRType.AAAA]) {
      for (const address of node?.get(type) ?? []) additional.push({ owner: target, record: address });
    }
  }
  return additional;
}

// A record's tail (type … RDATA) does not depend on the query; encode each record once.
const tailCache = new WeakMap<ZoneRecord, Buffer>();

function recordTail(record: ZoneRecord): Buffer {
  let tail = tailCache.get(record);
  if (!tail) {
    tail = encodeRecordTail(record);
    tailCache.set(record, tail);
  }
  return tail;
}

function encodeSections(qname: string, qnameWireLength: number, rcode: number, answer: OwnedRecord[], authority: OwnedRecord[], additional: OwnedRecord[]): RecordSections {
  const parts: Buffer[] = [];
  const encodeAll = (records: OwnedRecord[]) => {
    for (const { owner, record } of records) parts.push(encodeNameAgainstQuestion(owner, qname, qnameWireLength), recordTail(record));
  };
  encodeAll(answer);
  encodeAll(authority);
  const withoutAdditionalLength = parts.reduce((sum, part) => sum + part.length, 0);
  encodeAll(additional);
  const body = Buffer.concat(parts);
  return {
    rcode,
    authoritative: true,
    body,
    answerCount: answer.length,
    authorityCount: authority.length,
    additionalCount: additional.length,
    withoutAdditionalLength,
    rotationUnit: rotationUnitOf(answer, body, qname),
  };
}

/**
 * Answer sets made only of A, or only of AAAA, records owned by the query name have records
 * of one fixed size (2-octet pointer + tail) and can be rotated by slicing (response.ts).
 */
function rotationUnitOf(answer: readonly OwnedRecord[], body: Buffer, qname: string): number {
  if (answer.length < 2) return 0;
  const type = answer[0]!.record.type;
  if (type !== RRType.A && type !== RRType.AAAA) return 0;
  if (!answer.every((entry) => entry.owner === qname && entry.record.type === type)) return 0;
  const unit = 2 + recordTail(answer[0]!.record).length;
  return body.length >= unit * answer.length ? unit : 0;
}
