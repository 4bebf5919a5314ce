// Parsing of an incoming query: header, the one question, and a walk over the remaining
// records to find and validate the OPT record. Everything a malformed packet can do ends
// here as a typed verdict (drop, or answer with an rcode); nothing throws.

import { EdnsOption, Flag, HEADER_LENGTH, Opcode, Rcode, RRType } from './constants.ts';
import { questionNameEnd, questionNameWireLength, readQuestionNameString, skipRecordName } from './name.ts';

export interface EdnsInfo {
  /** Requestor's UDP payload size, raised to 512 (RFC 6891 §6.2.5). */
  udpSize: number;
  version: number;
  dnssecOk: boolean;
  /** Offset of the OPT record in the request, to strip or rewrite it when forwarding. */
  optStart: number;
  optEnd: number;
  /** Offsets of the EDNS Client Subnet option (RFC 7871) inside the OPT, when present. */
  hasClientSubnet: boolean;
}

export interface DnsRequest {
  /** The query as received; may be a view of a listener's read buffer (query-context.ts). */
  message: Buffer;
  id: number;
  /** The request's flags word, from which opcode, RD and CD are echoed. */
  flags: number;
  opcode: number;
  /** Lowercased presentation form of the question name (see name.ts). */
  qname: string;
  qnameWireLength: number;
  qtype: number;
  qclass: number;
  /** The question occupies message[12, questionEnd): echoed byte for byte, case included. */
  questionEnd: number;
  edns: EdnsInfo | null;
}

/** A query that cannot reach the pipeline: dropped silently, or answered with an rcode. */
export type RequestRejection =
  | { action: 'drop'; reason: 'short_header' | 'response_packet' }
  | {
      action: 'respond';
      reason: 'formerr' | 'notimp' | 'badvers';
      rcode: number;
      id: number;
      flags: number;
      /** 0 when the question could not be read; the answer then carries no question. */
      questionEnd: number;
      edns: EdnsInfo | null;
    };

export type ParsedRequest = { ok: true; request: DnsRequest } | ({ ok: false } & RequestRejection);

const RECORD_FIXED_LENGTH = 10; // type, class, ttl, rdlength

/** A request object for parseRequestInto to fill (its fields are overwritten by every parse). */
export function emptyRequest(): DnsRequest {
  return { message: EMPTY_MESSAGE, id: 0, flags: 0, opcode: 0, qname: '', qnameWireLength: 0, qtype: 0, qclass: 0, questionEnd: 0, edns: null };
}

/** An EdnsInfo for parseRequestInto to fill. */
export function emptyEdns(): EdnsInfo {
  return { udpSize: 0, version: 0, dnssecOk: false, optStart: 0, optEnd: 0, hasClientSubnet: false };
}

/** A copy of `request` with its own EdnsInfo and message: one to keep when `request` is a reused one. */
export function copyRequest(request: DnsRequest): DnsRequest {
  const copy = emptyRequest();
  Object.assign(copy, request);
  copy.edns = request.edns === null ? null : Object.assign(emptyEdns(), request.edns);
  // The message too: the copy outlives the turn, and the original may be a view of a listener's
  // read buffer (TCP), valid for that turn only.
  copy.message = Buffer.from(request.message);
  return copy;
}

/** What a reused request holds between queries (query-handler.ts), and a new one's message. */
export const EMPTY_MESSAGE = Buffer.alloc(0);
const SHORT_HEADER: RequestRejection = Object.freeze({ action: 'drop', reason: 'short_header' });
const RESPONSE_PACKET: RequestRejection = Object.freeze({ action: 'drop', reason: 'response_packet' });

export function parseRequest(message: Buffer): ParsedRequest {
  const request = emptyRequest();
  const rejection = parseRequestInto(message, request, emptyEdns());
  return rejection === null ? { ok: true, request } : { ok: false, ...rejection };
}

/**
 * parseRequest into objects the caller owns, for the query path: no result object, request or
 * EdnsInfo per query (issue 9: a cache hit allocated ~190 of its ~450 bytes here). Null when the
 * query is accepted: `request` holds it, and `request.edns` is `edns` (filled) or null. Otherwise
 * the rejection, whose `edns` is `edns` or null; `request` is then left in no defined state.
 */
export function parseRequestInto(message: Buffer, request: DnsRequest, edns: EdnsInfo): RequestRejection | null {
  if (message.length < HEADER_LENGTH) return SHORT_HEADER;
  const id = (message[0]! << 8) | message[1]!;
  const flags = (message[2]! << 8) | message[3]!;
  // A response sent to a server is either a reflection attempt or a confused peer: answering
  // it could start a packet loop between two servers, so it is dropped.
  if (flags & Flag.QR) return RESPONSE_PACKET;
  const opcode = (flags >> 11) & 0xf;
  const qdcount = (message[4]! << 8) | message[5]!;

  if (qdcount !== 1) {
    // RFC 6891 §6.1.1: a request with an OPT gets an OPT back, error responses included. With no
    // question (QDCOUNT 0, e.g. a DNS Cookie probe, RFC 7873 §5.4) the records start right after
    // the header and can still be walked; with several questions they are not located.
    const walked = qdcount === 0 ? walkRecords(message, HEADER_LENGTH, edns) : NO_OPT;
    const found = walked === HAS_OPT ? edns : null;
    if (opcode !== Opcode.QUERY) return respond('notimp', Rcode.NOTIMP, id, flags, 0, found);
    return respond('formerr', Rcode.FORMERR, id, flags, 0, found);
  }
  // The name without a result object (one allocation fewer per query; issue 9).
  const qname = readQuestionNameString(message, HEADER_LENGTH);
  const nameEnd = questionNameEnd();
  if (qname === null || nameEnd + 4 > message.length) return respond('formerr', Rcode.FORMERR, id, flags, 0, null);
  const questionEnd = nameEnd + 4;

  const walked = walkRecords(message, questionEnd, edns);
  if (walked === MALFORMED) return respond('formerr', Rcode.FORMERR, id, flags, questionEnd, null);
  const found = walked === HAS_OPT ? edns : null;
  if (opcode !== Opcode.QUERY) return respond('notimp', Rcode.NOTIMP, id, flags, questionEnd, found);
  // RFC 6891 §6.1.3: a version we do not implement gets BADVERS, answered with our version 0.
  if (found !== null && found.version !== 0) return respond('badvers', Rcode.BADVERS, id, flags, questionEnd, found);
  request.message = message;
  request.id = id;
  request.flags = flags;
  request.opcode = opcode;
  request.qname = qname;
  request.qnameWireLength = questionNameWireLength();
  request.qtype = (message[nameEnd]! << 8) | message[nameEnd + 1]!;
  request.qclass = (message[nameEnd + 2]! << 8) | message[nameEnd + 3]!;
  request.questionEnd = questionEnd;
  request.edns = found;
  return null;
}

function respond(reason: 'formerr' | 'notimp' | 'badvers', rcode: number, id: number, flags: number, questionEnd: number, edns: EdnsInfo | null): RequestRejection {
  return { action: 'respond', reason, rcode, id, flags, questionEnd, edns };
}

/** What walkRecords found: no OPT, an OPT (written into the EdnsInfo given), or a malformed message. */
const NO_OPT = 0;
const HAS_OPT = 1;
const MALFORMED = -1;

/**
 * Walks answer, authority and additional sections. Returns HAS_OPT with the OPT's details written
 * into `edns`, NO_OPT, or MALFORMED for overruns, bad names, an OPT outside ADDITIONAL or with a
 * non-root owner, more than one OPT (RFC 6891 §6.1.1), malformed EDNS options, or trailing bytes.
 */
function walkRecords(message: Buffer, start: number, edns: EdnsInfo): number {
  let position = start;
  let found = NO_OPT;
  // ANCOUNT, NSCOUNT, ARCOUNT at offsets 6, 8, 10 (read in place: no array per query).
  for (let section = 0; section < 3; section++) {
    const count = (message[6 + 2 * section]! << 8) | message[7 + 2 * section]!;
    for (let index = 0; index < count; index++) {
      const recordStart = position;
      const nameEnd = skipRecordName(message, position);
      if (typeof nameEnd === 'string' || nameEnd + RECORD_FIXED_LENGTH > message.length) return MALFORMED;
      const type = (message[nameEnd]! << 8) | message[nameEnd + 1]!;
      const rdLength = (message[nameEnd + 8]! << 8) | message[nameEnd + 9]!;
      const rdataStart = nameEnd + RECORD_FIXED_LENGTH;
      const recordEnd = rdataStart + rdLength;
      if (recordEnd > message.length) return MALFORMED;
      if (type === RRType.OPT) {
        if (section !== 2 || found === HAS_OPT || nameEnd !== recordStart + 1) return MALFORMED;
        const clientSubnet = walkEdnsOptions(message, rdataStart, recordEnd);
        if (clientSubnet === MALFORMED_OPTIONS) return MALFORMED;
        // The OPT's TTL field: extended RCODE, version, then the DO bit (RFC 6891 §6.1.3).
        edns.udpSize = Math.max(512, (message[nameEnd + 2]! << 8) | message[nameEnd + 3]!);
        edns.version = message[nameEnd + 5]!;
        edns.dnssecOk = (message[nameEnd + 6]! & 0x80) !== 0;
        edns.optStart = recordStart;
        edns.optEnd = recordEnd;
        edns.hasClientSubnet = clientSubnet === 1;
        found = HAS_OPT;
      }
      position = recordEnd;
    }
  }
  return position === message.length ? found : MALFORMED;
}

const MALFORMED_OPTIONS = -1;

/** 1 when the options hold an EDNS Client Subnet option, 0 when not, MALFORMED_OPTIONS (a number: no object per query). */
function walkEdnsOptions(message: Buffer, start: number, end: number): number {
  let position = start;
  let hasClientSubnet = 0;
  while (position < end) {
    if (position + 4 > end) return MALFORMED_OPTIONS;
    const code = (message[position]! << 8) | message[position + 1]!;
    const length = (message[position + 2]! << 8) | message[position + 3]!;
    position += 4 + length;
    if (position > end) return MALFORMED_OPTIONS;
    if (code === EdnsOption.ECS) hasClientSubnet = 1;
  }
  return hasClientSubnet;
}
