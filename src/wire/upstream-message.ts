// Upstream responses as indexed bytes. A forwarded answer is relayed and cached as the bytes the
// upstream sent (reference §6.9/§6.13: decoding and re-encoding drops what the codec does not
// know), so this module only walks the message once to learn where things are: the question, the
// record boundaries, every TTL field, the OPT, and the SOA of a negative answer.
//
// The stripped form is a RecordSections: the bytes after the question with the upstream's OPT
// removed (ours is added by assembleResponse). Compression pointers in those bytes point either
// backwards into the body itself or into the question at offset 12; a client asking the same name
// (in any case) has a question of the same length there, so the body is valid behind its question.
//
// Pure and total: malformed input yields `{ error }`, never an exception.

import { Flag, HEADER_LENGTH, RRType } from './constants.ts';
import { readQuestionName, skipRecordName, type NameError } from './name.ts';
import type { ExtendedError, RecordSections } from './response.ts';

/** The upstream's OPT pseudo-record (RFC 6891 §6.1.2). */
export interface UpstreamOpt {
  udpSize: number;
  version: number;
  dnssecOk: boolean;
  /** High 8 bits of the RCODE (RFC 6891 §6.1.3), already merged into `rcode`. */
  extendedRcode: number;
  /** Well-formed RFC 8914 Extended DNS Errors the upstream attached (there may be several). */
  ede: ExtendedError[];
  /** Where the OPT sat in the upstream message. */
  start: number;
  end: number;
}

export interface IndexedMessage extends RecordSections {
  id: number;
  /** The upstream header's flags word, untouched (AA, AD, … for whoever wants to relay them). */
  flags: number;
  /** Full RCODE: header bits plus the OPT's extended bits. */
  rcode: number;
  /** Always false: mesh-dns is not an authority for forwarded names (RFC 1035 §4.1.1 AA). */
  authoritative: false;
  /** Upstream responses are relayed in their order, never rotated. */
  rotationUnit: 0;
  truncated: boolean;
  /** The question occupies message[12, questionEnd). */
  questionEnd: number;
  /** Lowercased presentation form (name.ts). */
  qname: string;
  qnameWireLength: number;
  qtype: number;
  qclass: number;
  /** Offsets of each kept record's TTL field, relative to the start of `body`, ascending. */
  ttlOffsets: Uint32Array;
  /** Lowest TTL over the kept records (OPT excluded, high-bit TTLs as 0); null without records. */
  minTtl: number | null;
  /** RFC 2308 §5: min(SOA TTL, SOA MINIMUM) of the first SOA in AUTHORITY; null without one. */
  negativeTtl: number | null;
  /**
   * ANSWER holds a record of the asked type. NOERROR with answers but none of the asked type is a
   * CNAME chain ending in NODATA (RFC 2308 §2.2), a denial for caching.
   */
  answerHasQuestionType: boolean;
  opt: UpstreamOpt | null;
  /** ADDITIONAL records that followed a mid-section OPT and were cut from `body`. */
  droppedAdditional: number;
}

export type IndexResult = IndexedMessage | { error: string };

const RECORD_FIXED_LENGTH = 10; // type, class, ttl, rdlength
const SMALLEST_RECORD = 1 + RECORD_FIXED_LENGTH; // root owner, empty RDATA
const SOA_FIXED_RDATA = 20; // SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM
const SECTION_NAMES = ['answer', 'authority', 'additional'] as const;
const NAME_ERRORS: Record<NameError, string> = {
  overrun: 'overruns the message',
  label_type: 'uses an extended label type',
  too_long: 'is longer than 255 octets',
  // skipRecordName's name for any pointer that is not backwards into the message.
  pointer_in_question: 'has a pointer that does not point backwards',
};

/** RFC 2181 §8: a TTL with the most significant bit set is treated as zero. */
function ttlValue(raw: number): number {
  return raw > 0x7fffffff ? 0 : raw;
}

/**
 * Indexes an upstream response. `body` is a view into `message` (no copy): whoever keeps it
 * beyond the message's life (the cache) copies it.
 *
 * Tolerated: bytes after the last record (ignored, as miekg/dns does), and with TC=1 a message cut
 * mid-record (old servers truncate at any byte): the complete records before the cut are kept and
 * the counts say so. Refused: everything else a strict walk finds wrong.
 */
export function indexUpstreamMessage(message: Buffer): IndexResult {
  if (message.length < HEADER_LENGTH) return { error: 'shorter than a DNS header' };
  const id = message.readUInt16BE(0);
  const flags = message.readUInt16BE(2);
  if ((flags & Flag.QR) === 0) return { error: 'not a response (QR=0)' };
  const qdcount = message.readUInt16BE(4);
  if (qdcount !== 1) return { error: `QDCOUNT ${qdcount}, expected 1` };
  const question = readQuestionName(message, HEADER_LENGTH);
  if (typeof question === 'string') return { error: `question name: ${question}` };
  const questionEnd = question.end + 4;
  if (questionEnd > message.length) return { error: 'question overruns the message' };
  const truncated = (flags & Flag.TC) !== 0;
  const qtype = message.readUInt16BE(question.end);
  let answerHasQuestionType = false;

  const declared = [message.readUInt16BE(6), message.readUInt16BE(8), message.readUInt16BE(10)] as const;
  const kept = [0, 0, 0];
  // One allocation sized by what can fit, so garbage counts (65535 × 3) cannot make it large.
  const capacity = Math.min(declared[0] + declared[1] + declared[2], Math.floor((message.length - questionEnd) / SMALLEST_RECORD));
  const offsets = new Uint32Array(capacity);
  let recordCount = 0;
  let minTtl = Infinity;
  let negativeTtl: number | null = null;
  let opt: UpstreamOpt | null = null;
  let droppedAdditional = 0;
  let position = questionEnd;
  let bodyEnd = questionEnd;
  let withoutAdditionalEnd = -1;

  walk: for (let section = 0; section < 3; section++) {
    for (let index = 0; index < declared[section]!; index++) {
      const recordStart = position;
      const nameEnd = skipRecordName(message, position);
      if (typeof nameEnd === 'string') {
        if (nameEnd === 'overrun' && truncated) break walk;
        return recordError(section, index, `owner ${NAME_ERRORS[nameEnd]}`);
      }
      if (nameEnd + RECORD_FIXED_LENGTH > message.length) {
        if (truncated) break walk;
        return recordError(section, index, 'fixed fields overrun the message');
      }
      const type = message.readUInt16BE(nameEnd);
      const rawTtl = message.readUInt32BE(nameEnd + 4);
      const rdataStart = nameEnd + RECORD_FIXED_LENGTH;
      const recordEnd = rdataStart + message.readUInt16BE(nameEnd + 8);
      if (recordEnd > message.length) {
        if (truncated) break walk;
        return recordError(section, index, 'RDATA overruns the message');
      }

      if (type === RRType.OPT) {
        // RFC 6891 §6.1.1: at most one OPT, only in ADDITIONAL, owned by the root.
        if (section !== 2) return recordError(section, index, 'OPT outside ADDITIONAL');
        if (opt !== null) return recordError(section, index, 'second OPT');
        if (nameEnd !== recordStart + 1) return recordError(section, index, 'OPT owner is not the root');
        const ede = readEdnsOptions(message, rdataStart, recordEnd);
        if (ede === null) return recordError(section, index, 'OPT options overrun the RDATA');
        opt = {
          udpSize: message.readUInt16BE(nameEnd + 2),
          version: (rawTtl >>> 16) & 0xff,
          dnssecOk: (rawTtl & 0x8000) !== 0,
          extendedRcode: rawTtl >>> 24,
          ede,
          start: recordStart,
          end: recordEnd,
        };
      } else if (opt !== null) {
        // After the OPT: validated (a second OPT above is still an error) but not kept. Additional
        // records are optional (RFC 2181 §9), and cutting here rather than splicing the OPT out
        // keeps every later compression pointer valid, since no kept byte moves.
        droppedAdditional++;
      } else {
        if (section === 1 && type === RRType.SOA && negativeTtl === null) {
          const minimum = soaMinimum(message, rdataStart, recordEnd);
          if (minimum === null) return recordError(section, index, 'malformed SOA RDATA');
          // RFC 2308 §5: a negative answer lives min(SOA TTL, SOA MINIMUM). MINIMUM is used as a
          // TTL there, so RFC 2181 §8 applies to it too.
          negativeTtl = Math.min(ttlValue(rawTtl), ttlValue(minimum));
        }
        if (section === 0 && type === qtype) answerHasQuestionType = true;
        offsets[recordCount++] = nameEnd + 4 - questionEnd;
        const ttl = ttlValue(rawTtl);
        if (ttl < minTtl) minTtl = ttl;
        kept[section]!++;
        bodyEnd = recordEnd;
      }
      position = recordEnd;
    }
    if (section === 1) withoutAdditionalEnd = bodyEnd;
  }
  // A cut before the end of AUTHORITY leaves no ADDITIONAL: everything kept is required data.
  if (withoutAdditionalEnd < 0) withoutAdditionalEnd = bodyEnd;

  const headerRcode = flags & 0xf;
  return {
    id,
    flags,
    rcode: opt ? (opt.extendedRcode << 4) | headerRcode : headerRcode,
    authoritative: false,
    authenticData: (flags & Flag.AD) !== 0,
    rotationUnit: 0,
    truncated,
    questionEnd,
    qname: question.name,
    qnameWireLength: question.wireLength,
    qtype,
    qclass: message.readUInt16BE(question.end + 2),
    body: message.subarray(questionEnd, bodyEnd),
    answerCount: kept[0]!,
    authorityCount: kept[1]!,
    additionalCount: kept[2]!,
    withoutAdditionalLength: withoutAdditionalEnd - questionEnd,
    ttlOffsets: offsets.subarray(0, recordCount),
    minTtl: recordCount > 0 ? minTtl : null,
    negativeTtl,
    answerHasQuestionType,
    opt,
    droppedAdditional,
  };
}

function recordError(section: number, index: number, what: string): { error: string } {
  return { error: `${SECTION_NAMES[section]}[${index}] ${what}` };
}

/** Walks the option TLVs; returns the well-formed EDEs, or null when an option overruns. */
function readEdnsOptions(message: Buffer, start: number, end: number): ExtendedError[] | null {
  const ede: ExtendedError[] = [];
  let position = start;
  while (position < end) {
    if (position + 4 > end) return null;
    const code = message.readUInt16BE(position);
    const length = message.readUInt16BE(position + 2);
    const dataStart = position + 4;
    position = dataStart + length;
    if (position > end) return null;
    // RFC 8914 §2: INFO-CODE (2 octets) then EXTRA-TEXT. A shorter EDE is ignored rather than
    // failing an otherwise good answer over a diagnostic.
    if (code === 15 && length >= 2) {
      ede.push({ code: message.readUInt16BE(dataStart), text: message.toString('utf8', dataStart + 2, position) });
    }
  }
  return ede;
}

/** MINIMUM of a SOA RDATA (MNAME, RNAME, five 32-bit fields), or null when it is malformed. */
function soaMinimum(message: Buffer, start: number, end: number): number | null {
  const mnameEnd = skipRecordName(message, start);
  if (typeof mnameEnd === 'string' || mnameEnd > end) return null;
  const rnameEnd = skipRecordName(message, mnameEnd);
  if (typeof rnameEnd === 'string' || rnameEnd + SOA_FIXED_RDATA !== end) return null;
  return message.readUInt32BE(end - 4);
}

/**
 * RFC 5452 §9.1: a response is accepted only for the question asked. The name compares
 * case-insensitively, since a forwarder may randomise case (0x20) and servers may not echo it.
 */
export function questionMatches(indexed: IndexedMessage, qname: string, qtype: number, qclass: number): boolean {
  if (indexed.qtype !== qtype || indexed.qclass !== qclass) return false;
  return indexed.qname === qname || indexed.qname === qname.toLowerCase();
}

