// Response assembly: header + the client's question bytes + precompiled record bytes + OPT.
// The record bytes come from the zone (compiled once per name and type) or, later, from the
// cache; this module only splices them, applies truncation, and adds EDNS.

import { CLASSIC_UDP_LIMIT, Flag, HEADER_LENGTH, Rcode, RRType } from './constants.ts';
import type { DnsRequest, EdnsInfo, RequestRejection } from './request.ts';
import { countDownTtls, patchTtls } from './ttl.ts';

/** Records to put after the question, already compressed against it (see name.ts). */
export interface RecordSections {
  rcode: number;
  authoritative: boolean;
  body: Buffer;
  answerCount: number;
  authorityCount: number;
  additionalCount: number;
  /** Length of ANSWER + AUTHORITY in `body`: ADDITIONAL is optional and dropped first to fit. */
  withoutAdditionalLength: number;
  /** When > 0, each ANSWER record is exactly this many bytes and the set may be rotated. */
  rotationUnit: number;
  /** Offsets in `body` of every record's TTL field, for answers whose TTLs are rewritten (cache). */
  ttlOffsets?: Uint32Array | Uint16Array;
  /**
   * Sections kept in a shared buffer (the cache's slabs, src/cache/record-slabs.ts): the record
   * bytes are body[bodyOffset, bodyOffset + bodyLength), and their TTL offsets (relative to
   * bodyOffset) are ttlOffsets[ttlStart, ttlStart + ttlCount). A cache hit then allocates no view.
   * Absent: the whole of `body` and of `ttlOffsets`.
   */
  bodyOffset?: number;
  bodyLength?: number;
  ttlStart?: number;
  ttlCount?: number;
  /** The upstream set AD (RFC 4035 §3.2.3); relayed only to clients that set DO or AD (RFC 6840 §5.8). */
  authenticData?: boolean;
  /** A relayed answer the upstream truncated (TC=1): the TC bit goes to the client too (RFC 1035 §4.1.1). */
  truncated?: boolean;
}

export interface ExtendedError {
  code: number;
  text: string;
}

export interface ResponseSettings {
  recursionAvailable: boolean;
  /** Our own EDNS UDP payload size, advertised in every OPT we send (default 1232). */
  udpPayloadSize: number;
  /** Largest message the transport may carry for this query (see responseSizeLimit). */
  sizeLimit: number;
  /** Rotation step for rotatable answer sets (any integer; taken modulo the set size). */
  rotation: number;
  ede?: ExtendedError | undefined;
  /** Rewrite the TTLs at `sections.ttlOffsets`: minus seconds spent in the cache, or one fixed value. */
  ttlAdjust?: { subtract: number } | { set: number } | undefined;
  /** Where to assemble the response (a buffer of exactly `length` bytes); absent: Buffer.allocUnsafe. */
  responseBuffer?: ((length: number) => Buffer) | undefined;
}

export const EMPTY_SECTIONS: RecordSections = Object.freeze({
  rcode: Rcode.NOERROR,
  authoritative: false,
  body: Buffer.alloc(0),
  answerCount: 0,
  authorityCount: 0,
  additionalCount: 0,
  withoutAdditionalLength: 0,
  rotationUnit: 0,
});

export function rcodeOnly(rcode: number, authoritative = false): RecordSections {
  return { ...EMPTY_SECTIONS, rcode, authoritative };
}

/**
 * RFC 6891 §6.1.3: an extended RCODE (> 15) needs the OPT for its upper bits. A client that sent
 * no OPT gets SERVFAIL instead, never `rcode & 0xF` (BADCOOKIE 23 would read as YXDOMAIN 7).
 */
const NO_EXTENDED_RCODE_WITHOUT_OPT: RecordSections = Object.freeze(rcodeOnly(Rcode.SERVFAIL));

/**
 * RFC 6891 §6.2.5 / §7: over UDP the limit is the smaller of the client's and our payload
 * size, never under 512; without EDNS it is 512. TCP messages are bounded by the 16-bit length.
 */
export function responseSizeLimit(edns: EdnsInfo | null, transport: 'udp' | 'tcp', ourUdpPayloadSize: number): number {
  if (transport === 'tcp') return 0xffff;
  if (!edns) return CLASSIC_UDP_LIMIT;
  return Math.max(CLASSIC_UDP_LIMIT, Math.min(edns.udpSize, ourUdpPayloadSize));
}

const plainOptCache = new Map<number, Buffer>();

/** The OPT pseudo-record for a response (RFC 6891 §6.1.2), with an EDE option (RFC 8914) if given. */
export function optRecord(udpPayloadSize: number, extendedRcode: number, dnssecOk: boolean, ede?: ExtendedError): Buffer {
  const cacheable = extendedRcode === 0 && !ede;
  const cacheKey = udpPayloadSize * 2 + (dnssecOk ? 1 : 0);
  if (cacheable) {
    const cached = plainOptCache.get(cacheKey);
    if (cached) return cached;
  }
  const text = ede ? Buffer.from(ede.text, 'utf8') : null;
  const optionsLength = text ? 4 + 2 + text.length : 0;
  const opt = Buffer.alloc(11 + optionsLength);
  opt[0] = 0; // root owner
  opt.writeUInt16BE(RRType.OPT, 1);
  opt.writeUInt16BE(udpPayloadSize, 3);
  opt[5] = extendedRcode & 0xff;
  opt[6] = 0; // version 0
  opt.writeUInt16BE(dnssecOk ? 0x8000 : 0, 7); // RFC 3225 §3: DO is copied from the query
  opt.writeUInt16BE(optionsLength, 9);
  if (text && ede) {
    opt.writeUInt16BE(15, 11);
    opt.writeUInt16BE(2 + text.length, 13);
    opt.writeUInt16BE(ede.code, 15);
    text.copy(opt, 17);
  }
  if (cacheable) plainOptCache.set(cacheKey, opt);
  return opt;
}

function writeHeader(out: Buffer, id: number, requestFlags: number, dnssecOk: boolean, sections: RecordSections, settings: ResponseSettings, truncated: boolean, qdcount: number, ancount: number, nscount: number, arcount: number): void {
  // Echo opcode, RD and CD (RFC 1035 §4.1.1, RFC 4035 §3.2.2); everything else is ours.
  let flags = Flag.QR | (requestFlags & (0x7800 | Flag.RD | Flag.CD)) | (sections.rcode & 0xf);
  if (sections.authoritative) flags |= Flag.AA;
  if (sections.authenticData && ((requestFlags & Flag.AD) !== 0 || dnssecOk)) flags |= Flag.AD;
  if (settings.recursionAvailable) flags |= Flag.RA;
  if (truncated || sections.truncated === true) flags |= Flag.TC;
  // Plain byte stores: writeUInt16BE checks its value and offset on every call (checkInt was ~2%
  // of a forwarded cache hit); every value here is a 16-bit field by construction.
  out[0] = id >> 8;
  out[1] = id & 0xff;
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  out[4] = 0;
  out[5] = qdcount;
  out[6] = ancount >> 8;
  out[7] = ancount & 0xff;
  out[8] = nscount >> 8;
  out[9] = nscount & 0xff;
  out[10] = arcount >> 8;
  out[11] = arcount & 0xff;
}

/**
 * Copies source[start, end) to target at `at`. Up to SMALL_COPY bytes (a question, an OPT, a
 * cached A answer) by a loop: Buffer.prototype.copy validates its arguments and crosses into C++
 * for each call, more than the copy itself costs at these sizes.
 */
function copyBytes(source: Buffer, start: number, end: number, target: Buffer, at: number): void {
  if (end - start > SMALL_COPY) {
    source.copy(target, at, start, end);
    return;
  }
  for (let from = start; from < end; from++) target[at++] = source[from]!;
}
const SMALL_COPY = 64;

/**
 * Builds the response to `request`. If the full answer does not fit the size limit, ADDITIONAL
 * is dropped first (RFC 2181 §9: TC only when required data is missing); if it still does not
 * fit, the answer is header + question + OPT with TC=1, so the client retries over TCP
 * (RFC 6891 §7: the OPT is kept in truncated responses too).
 */
export function assembleResponse(request: DnsRequest, sections: RecordSections, settings: ResponseSettings): Buffer {
  return assemble(request.message, request.id, request.flags, request.questionEnd, request.edns, sections, settings);
}

/** The answer to a request rejected before the pipeline (FORMERR, NOTIMP, BADVERS). */
export function assembleRejection(message: Buffer, rejection: Extract<RequestRejection, { action: 'respond' }>, settings: ResponseSettings): Buffer {
  return assemble(message, rejection.id, rejection.flags, rejection.questionEnd, rejection.edns, rcodeOnly(rejection.rcode), settings);
}

function assemble(message: Buffer, id: number, requestFlags: number, questionEnd: number, edns: EdnsInfo | null, answer: RecordSections, settings: ResponseSettings): Buffer {
  const sections = edns === null && answer.rcode > 0xf ? NO_EXTENDED_RCODE_WITHOUT_OPT : answer;
  const questionLength = questionEnd > 0 ? questionEnd - HEADER_LENGTH : 0;
  const qdcount = questionEnd > 0 ? 1 : 0;
  const opt = edns ? optRecord(settings.udpPayloadSize, sections.rcode >> 4, edns.dnssecOk, settings.ede) : null;
  const optLength = opt ? opt.length : 0;
  const optCount = opt ? 1 : 0;
  const fixed = HEADER_LENGTH + questionLength + optLength;

  let bodyLength = sections.bodyLength ?? sections.body.length;
  let additionalCount = sections.additionalCount;
  let truncated = false;
  if (fixed + bodyLength > settings.sizeLimit) {
    bodyLength = sections.withoutAdditionalLength;
    additionalCount = 0;
    if (fixed + bodyLength > settings.sizeLimit) {
      bodyLength = 0;
      truncated = true;
    }
  }
  const out = settings.responseBuffer === undefined ? Buffer.allocUnsafe(fixed + bodyLength) : settings.responseBuffer(fixed + bodyLength);
  writeHeader(out, id, requestFlags, edns?.dnssecOk === true, sections, settings, truncated, qdcount,
    truncated ? 0 : sections.answerCount, truncated ? 0 : sections.authorityCount, additionalCount + optCount);
  if (questionLength > 0) copyBytes(message, HEADER_LENGTH, questionEnd, out, HEADER_LENGTH);
  let position = HEADER_LENGTH + questionLength;
  if (bodyLength > 0) {
    const bodyStart = position;
    position += copyBody(out, position, sections, bodyLength, settings.rotation);
    const adjust = settings.ttlAdjust;
    if (adjust && sections.ttlOffsets) {
      const { ttlOffsets, ttlStart = 0, ttlCount = ttlOffsets.length } = sections;
      if ('set' in adjust) patchTtls(out, bodyStart, ttlOffsets, bodyLength, () => adjust.set, ttlStart, ttlCount);
      else countDownTtls(out, bodyStart, ttlOffsets, bodyLength, adjust.subtract, ttlStart, ttlCount);
    }
  }
  if (opt) copyBytes(opt, 0, opt.length, out, position);
  return out;
}

/** Copies the record bytes, rotating the ANSWER set when it is made of equal-sized records. */
function copyBody(out: Buffer, position: number, sections: RecordSections, bodyLength: number, rotation: number): number {
  const { body, rotationUnit, answerCount } = sections;
  const from = sections.bodyOffset ?? 0;
  if (rotationUnit === 0 || answerCount < 2) {
    copyBytes(body, from, from + bodyLength, out, position);
    return bodyLength;
  }
  const answerLength = rotationUnit * answerCount;
  const split = (((rotation % answerCount) + answerCount) % answerCount) * rotationUnit;
  body.copy(out, position, from + split, from + answerLength);
  body.copy(out, position + answerLength - split, from, from + split);
  body.copy(out, position + answerLength, from + answerLength, from + bodyLength);
  return bodyLength;
}

