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
import { encodeNameAgainstQuestion, isInZone, parentName } from '../wire/name.ts';
import { encodeRecordTail, type ZoneRecord } from '../wire/record-codec.ts';
import type { RecordSections } from '../wire/response.ts';
import type { AuthoritativeZone, ZoneSet } from './zone.ts';

const MEMO_LIMIT = 200_000;
const MAX_CNAME_CHAIN = 8;

interface OwnedRecord {
  owner: string;
  record: ZoneRecord;
}

/** What findZone knows of a zone set's apexes, worked out once per zone set. */
interface ApexIndex {
  /** The mesh zone when no other zone lies inside it, else null. */
  soleMesh: AuthoritativeZone | null;
  /** The last label of every apex (`local`, `arpa`), once each; null when the root is one of them. */
  tails: readonly string[] | null;
}

/** By the zone set's byApex map, whose apexes a zone set keeps for its life. */
const apexIndexes = new WeakMap<ZoneSet['byApex'], ApexIndex>();
/** The last one asked for: one compare instead of the WeakMap lookup for every query but a view change. */
let lastByApex: ZoneSet['byApex'] | null = null;
let lastApexIndex: ApexIndex | null = null;

function apexIndex(zones: ZoneSet): ApexIndex {
  const byApex = zones.byApex;
  if (byApex === lastByApex) return lastApexIndex!;
  let index = apexIndexes.get(byApex);
  if (index === undefined) {
    const apex = zones.meshApex;
    const apexes = [...byApex.keys()];
    const inside = apexes.some((other) => other !== apex && isInZone(other, apex));
    const tails = apexes.includes('') ? null : [...new Set(apexes.map((name) => name.slice(name.lastIndexOf('.') + 1)))];
    index = { soleMesh: inside ? null : (byApex.get(apex) ?? null), tails };
    apexIndexes.set(byApex, index);
  }
  lastByApex = byApex;
  lastApexIndex = index;
  return index;
}

/**
 * False when `qname` cannot lie in any of the zones: its last label is no apex's last label.
 * Forwarded names (com, org, net, …) are told apart from ours (local, arpa) by this one check
 * instead of the memo lookups and findZone's suffix walk (one Map lookup per suffix): measured
 * in-process, a forwarded cache hit spent ~9% of its time in the mesh-zone stage before
 * (test/bench/cache-hit-micro.ts profile, issue 9).
 */
export function mayBeInZones(zones: ZoneSet, qname: string): boolean {
  const tails = apexIndex(zones).tails;
  if (tails === null) return true;
  const start = qname.lastIndexOf('.') + 1;
  const length = qname.length - start;
  for (let index = 0; index < tails.length; index++) {
    const tail = tails[index]!;
    if (tail.length === length && qname.startsWith(tail, start)) return true;
  }
  return false;
}

/**
 * The zone that holds `qname`. A mesh name (the hot case) is decided by one suffix compare
 * against the mesh apex; a name under no apex's last label by mayBeInZones; any other name by
 * walking its suffixes through byApex. The walk builds a new string per suffix and hashes it for
 * the lookup: that was 11% of an NXDOMAIN/NODATA query for mesh names (issue 9).
 */
export function findZone(zones: ZoneSet, qname: string): AuthoritativeZone | undefined {
  const mesh = apexIndex(zones).soleMesh;
  if (mesh !== null && isInZone(qname, mesh.apex)) return mesh;
  if (!mayBeInZones(zones, qname)) return undefined;
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
 *
 * The fast path of the authoritative answer, in this one place: a name that exists is answered
 * from the name-keyed memo above, two map lookups. Everything else, and every first ask, goes
 * through answerFromZoneReference, the general path, whose result is then remembered.
 * test/unit/zone/answer-fast-path.test.ts asserts both give the same answer for a corpus.
 * Measured: handler in-process, 1k names, mesh A 1717 -> 1072 ns/query (interleaved, medians
 * of 4); server CPU per query at saturation, with the array metrics and the send lookup,
 * 16.2 -> 12.4 us against the bare dgram loop's 10.3 (see the issue 9 report).
 */
export function answerFromZone(zones: ZoneSet, qname: string, qtype: number, qnameWireLength: number, lookupName = qname): RecordSections | null {
  if (lookupName !== qname) return aliasAnswer(zones, qname, qtype, qnameWireLength, lookupName);
  // Not ours (a forwarded name): no memo lookup, no zone walk.
  if (!mayBeInZones(zones, qname)) return null;
  const keyType = memoType(zones, qtype);
  const known = zones.answerMemo.get(keyType, qname);
  if (known) return known;
  const answer = answerFromZoneReference(zones, qname, qtype, qnameWireLength);
  // Only names that exist: random names (NXDOMAIN) must not grow the memo. Past MEMO_LIMIT an
  // answer is encoded again at each query (a few µs) rather than held.
  // NODATA (no answer records) carries the SOA and so the serial, which an incremental update
  // changes without touching this owner: it stays on the general path (negativeAnswer's cache).
  if (answer === null || answer.answerCount === 0) return answer;
  const node = findZone(zones, qname)?.nodes.get(qname);
  if (node === undefined) return answer;
  zones.answerMemo.set(keyType, node.ownerName ?? qname, answer, MEMO_LIMIT);
  return answer;
}

/**
 * At a CNAME, every type that no zone holds gets the same answer (the chain, then NODATA), and
 * at any other name NODATA: one memo entry for all of them, so cycling 65k qtypes adds one, not 65k.
 */
function memoType(zones: ZoneSet, qtype: number): number {
  return zones.typesPresent.has(qtype) || qtype === RRType.ANY ? qtype : 0;
}

/** The general path of answerFromZone: the RFC rules above, applied to the zone's nodes. */
export function answerFromZoneReference(zones: ZoneSet, qname: string, qtype: number, qnameWireLength: number): RecordSections | null {
  const zone = findZone(zones, qname);
  if (!zone) return null;
  const node = zone.nodes.get(qname);
  if (!node) return negativeAnswer(zone, Rcode.NXDOMAIN, qname, qnameWireLength);

  const direct = qtype === RRType.ANY ? (node.size > 0 ? 'any' : undefined) : node.has(qtype) ? 'rrset' : undefined;
  if (direct || (node.has(RRType.CNAME) && qtype !== RRType.CNAME)) return positiveAnswer(zones, zone, qname, qtype, qnameWireLength, qname);
  return negativeAnswer(zone, Rcode.NOERROR, qname, qnameWireLength);
}

/**
 * Single-label names answered for a zone name (stages/single-label.ts). Their bytes differ from
 * the zone's own answers (the owner is the label, the apex is not inside the question), so they
 * are kept apart, bounded, and dropped whole at every incremental update: there are few of them
 * (one per short name that exists), and rebuilding one costs one encode.
 */
const aliasAnswers = new WeakMap<ZoneSet, Map<string, RecordSections>>();
const ALIAS_MEMO_LIMIT = 10_000;

function aliasAnswer(zones: ZoneSet, qname: string, qtype: number, qnameWireLength: number, lookupName: string): RecordSections | null {
  const key = `${memoType(zones, qtype)}:${qname}`;
  let byKey = aliasAnswers.get(zones);
  const known = byKey?.get(key);
  if (known) return known;
  const zone = findZone(zones, lookupName);
  if (!zone) return null;
  const node = zone.nodes.get(lookupName);
  const negativeSoa = [{ owner: zone.apex, record: zone.negativeSoa }];
  // A name that does not exist is not remembered: random labels must not grow the memo.
  if (!node) return encodeSections(qname, qnameWireLength, Rcode.NXDOMAIN, [], negativeSoa, []);
  const positive = (qtype === RRType.ANY ? node.size > 0 : node.has(qtype)) || (node.has(RRType.CNAME) && qtype !== RRType.CNAME);
  const built = positive
    ? positiveAnswer(zones, zone, qname, qtype, qnameWireLength, lookupName)
    : encodeSections(qname, qnameWireLength, Rcode.NOERROR, [], negativeSoa, []);
  if (!byKey) aliasAnswers.set(zones, (byKey = new Map()));
  if (byKey.size < ALIAS_MEMO_LIMIT) byKey.set(key, built);
  return built;
}

/**
 * Drops the memoised answers at these owner names (every type key) and every negative answer
 * (their SOA carries the serial): what an incremental zone update (incremental.ts) changed.
 * Kept here because the negative and alias memos are this file's.
 */
export function forgetAnswers(zones: ZoneSet, owners: Iterable<string>): void {
  for (const owner of owners) zones.answerMemo.forget(owner);
  // Negative answers are kept per zone object, which an incremental update mutates in place.
  for (const zone of zones.byApex.values()) negativeAnswers.delete(zone);
  aliasAnswers.delete(zones);
}

/**
 * Negative answers per zone, by rcode and question length (index: NXDOMAIN ? 256 : 0, plus the
 * length, ≤ 255): an array index instead of a string key per NXDOMAIN/NODATA query. A zone object
 * belongs to one zone set, so a swap drops these with it.
 */
const negativeAnswers = new WeakMap<AuthoritativeZone, (RecordSections | undefined)[]>();

function negativeAnswer(zone: AuthoritativeZone, rcode: number, qname: string, qnameWireLength: number): RecordSections {
  // The body differs only by where the apex sits inside the question, i.e. by its length.
  let byLength = negativeAnswers.get(zone);
  if (!byLength) negativeAnswers.set(zone, (byLength = []));
  const index = (rcode === Rcode.NXDOMAIN ? 256 : 0) + qnameWireLength;
  const memo = byLength[index];
  if (memo) return memo;
  const built = encodeSections(qname, qnameWireLength, rcode, [], [{ owner: zone.apex, record: zone.negativeSoa }], []);
  byLength[index] = built;
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
