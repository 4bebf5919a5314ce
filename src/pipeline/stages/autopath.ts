// Search-expanded names: a stub with `search mesh.local` tries `api.example.com.mesh.local`
// before (ndots:5) or after (ndots:0, on failure) the bare name. Such a name has more labels
// below the mesh apex than any mesh name and is not in the zone; it is counted here
// (meshdns_search_expanded_names_total) and, by default, passed on to the mesh-zone stage,
// which answers it NXDOMAIN authoritatively.
//
// With names.autopath (CoreDNS `autopath`, reference §1.5): the bare name is resolved through the
// rest of the pipeline (mesh zone, local names, cache, forwarder) and, when that gives NOERROR,
// the answer is a CNAME `<queried name> → <bare name>` followed by the bare name's ANSWER records,
// so one round trip replaces the client's walk. When the bare name fails (NXDOMAIN, SERVFAIL,
// REFUSED) the original NXDOMAIN is answered, as CoreDNS does. Our search list has one element
// (the mesh zone), so only it is stripped.
//
// Re-homing records into another question needs their names uncompressed; ANSWER records of a
// type whose RDATA may hold a compressed name other than CNAME (MX, NS, PTR, SOA, …) make the
// shortcut give up (original NXDOMAIN): stubs ask A and AAAA, which this covers.
//
// Before the mesh-zone stage (which would answer NXDOMAIN). Cost for a mesh name: one suffix
// compare and a count of its dots; no allocation.

import { Flag, HEADER_LENGTH, Rcode, RRClass, RRType } from '../../wire/constants.ts';
import { expandName } from '../../wire/expand-name.ts';
import type { DnsRequest } from '../../wire/request.ts';
import type { RecordSections } from '../../wire/response.ts';
import type { ZoneSet } from '../../zone/zone.ts';
import type { ShortNameMetrics } from '../short-name-metrics.ts';
import type { PipelineStage, QueryContext, StageAnswer, StageResult } from '../types.ts';
import type { MeshZoneSource } from './mesh-zone.ts';

export interface AutopathOptions {
  zone: MeshZoneSource;
  /** names.autopath; off: search-expanded names are only counted. */
  enabled: boolean;
  metrics: ShortNameMetrics;
  /** Resolves a query through the stages after this one. */
  resolveRest: (context: QueryContext) => StageAnswer | Promise<StageAnswer>;
}

/** Types whose RDATA holds no compressed name: copied as they are. */
const OPAQUE_RDATA = new Set<number>([RRType.A, RRType.AAAA, RRType.TXT]);
const MAX_TTL = 0x7fffffff;

/** The bare name of a search-expanded query name (`api.example.com`), or null. */
export function searchExpandedBareName(zones: ZoneSet, qname: string, deepest: number): string | null {
  const apex = zones.meshApex;
  const prefixLength = qname.length - apex.length - 1;
  if (prefixLength <= 0) return null;
  // More than `deepest` labels before the apex: at least `deepest` dots before its own. Found
  // with indexOf first (a mesh name has no more, and is passed on after `deepest` calls), and
  // only then the apex compared (a character loop and the suffix compare were ~7% of a mesh
  // answer's time in the handler, issue 9).
  let dot = -1;
  for (let found = 0; found < deepest; found++) {
    dot = qname.indexOf('.', dot + 1);
    if (dot < 0 || dot >= prefixLength) return null;
  }
  if (!qname.endsWith(apex) || qname.charCodeAt(prefixLength) !== 0x2e) return null;
  if (zones.byApex.get(apex)?.nodes.has(qname)) return null; // a deep static name exists
  return qname.slice(0, prefixLength);
}

/** The query for the bare name: the client's labels (case kept) without the apex, same type and flags. */
export function bareRequest(request: DnsRequest, bare: string, apex: string): DnsRequest {
  const labelsLength = request.qnameWireLength - apex.length - 2;
  const qnameWireLength = labelsLength + 1;
  const questionEnd = HEADER_LENGTH + qnameWireLength + 4;
  const message = Buffer.alloc(questionEnd);
  message.writeUInt16BE(request.flags & (Flag.RD | Flag.CD), 2);
  message.writeUInt16BE(1, 4);
  request.message.copy(message, HEADER_LENGTH, HEADER_LENGTH, HEADER_LENGTH + labelsLength);
  message.writeUInt16BE(request.qtype, HEADER_LENGTH + qnameWireLength);
  message.writeUInt16BE(request.qclass, HEADER_LENGTH + qnameWireLength + 2);
  return {
    message, id: 0, flags: request.flags & (Flag.RD | Flag.CD), opcode: 0, qname: bare, qnameWireLength,
    qtype: request.qtype, qclass: request.qclass, questionEnd, edns: request.edns,
  };
}

function adjustedTtl(ttl: number, answer: StageAnswer): number {
  const adjust = answer.ttlAdjust;
  if (!adjust) return ttl;
  return 'set' in adjust ? adjust.set : Math.max(0, ttl - adjust.subtract);
}

/**
 * CNAME queried name → bare name, then the bare answer's ANSWER records with their names
 * uncompressed. Null when a record cannot be re-homed (see the file header).
 */
export function synthesizeAutopathAnswer(bare: DnsRequest, answer: StageAnswer, cnameTtlCeiling: number): RecordSections | null {
  const sections = answer.sections;
  const from = sections.bodyOffset ?? 0; // a cached answer's records sit in a shared slab
  const message = Buffer.concat([bare.message, sections.body.subarray(from, from + sections.withoutAdditionalLength)]);
  const records: Buffer[] = [];
  let position = bare.questionEnd;
  let lowestTtl = cnameTtlCeiling;
  for (let index = 0; index < sections.answerCount; index++) {
    const owner = expandName(message, position);
    if (!owner || owner.end + 10 > message.length) return null;
    const type = message.readUInt16BE(owner.end);
    const rdataStart = owner.end + 10;
    const rdataEnd = rdataStart + message.readUInt16BE(owner.end + 8);
    if (rdataEnd > message.length) return null;
    let rdata: Buffer;
    if (OPAQUE_RDATA.has(type)) rdata = message.subarray(rdataStart, rdataEnd);
    else if (type === RRType.CNAME) {
      const target = expandName(message, rdataStart);
      if (!target) return null;
      rdata = target.wire;
    } else return null;
    const ttl = Math.min(adjustedTtl(message.readUInt32BE(owner.end + 4), answer), MAX_TTL);
    if (ttl < lowestTtl) lowestTtl = ttl;
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(type, 0);
    fixed.writeUInt16BE(message.readUInt16BE(owner.end + 2), 2);
    fixed.writeUInt32BE(ttl, 4);
    fixed.writeUInt16BE(rdata.length, 8);
    records.push(owner.wire, fixed, rdata);
    position = rdataEnd;
  }
  // The CNAME lives no longer than what it leads to, nor than a negative mesh answer would.
  const bareWire = bare.message.subarray(HEADER_LENGTH, HEADER_LENGTH + bare.qnameWireLength);
  const cname = Buffer.alloc(12);
  cname.writeUInt16BE(0xc000 | HEADER_LENGTH, 0); // owner: the question
  cname.writeUInt16BE(RRType.CNAME, 2);
  cname.writeUInt16BE(RRClass.IN, 4);
  cname.writeUInt32BE(lowestTtl, 6);
  cname.writeUInt16BE(bareWire.length, 10);
  const body = Buffer.concat([cname, bareWire, ...records]);
  return {
    rcode: Rcode.NOERROR, authoritative: true, body, answerCount: 1 + sections.answerCount, authorityCount: 0, additionalCount: 0,
    withoutAdditionalLength: body.length, rotationUnit: 0,
  };
}

export function createAutopathStage(options: AutopathOptions): PipelineStage {
  const { zone: source, enabled, metrics, resolveRest } = options;

  const shortcut = (context: QueryContext, bare: DnsRequest, ceiling: number, answer: StageAnswer): StageResult => {
    const usable = answer.sections.rcode === Rcode.NOERROR && answer.kind !== 'refused' && answer.kind !== 'servfail';
    const sections = usable ? synthesizeAutopathAnswer(bare, answer, ceiling) : null;
    if (!sections) return null; // the mesh-zone stage answers the original NXDOMAIN
    metrics.autopathAnswers++;
    return { kind: 'autopath', sections };
  };

  return {
    name: 'autopath',
    resolve(context: QueryContext): StageResult | Promise<StageResult> {
      const view = context.zoneView;
      if (view < 0) return null; // in no view: the mesh-zone stage refuses
      const zones = source.current(view);
      const bareName = searchExpandedBareName(zones, context.request.qname, zones.deepestName);
      if (bareName === null) return null;
      metrics.searchExpanded++;
      if (!enabled || !context.meshAllowed || context.request.qclass !== RRClass.IN) return null;
      const bare = bareRequest(context.request, bareName, zones.meshApex);
      const ceiling = zones.byApex.get(zones.meshApex)?.negativeSoa.ttl ?? 0;
      const answer = resolveRest({ ...context, request: bare });
      return answer instanceof Promise ? answer.then((resolved) => shortcut(context, bare, ceiling, resolved)) : shortcut(context, bare, ceiling, answer);
    },
  };
}
