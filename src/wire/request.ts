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

export function parseRequest(message: Buffer): ParsedRequest {
  if (message.length < HEADER_LENGTH) return { ok: false, action: 'drop', reason: 'short_header' };
  const id = message.readUInt16BE(0);
  const flags = message.readUInt16BE(2);
  // A response sent to a server is either a reflection attempt or a confused peer: answering
  // it could start a packet loop between two servers, so it is dropped.
  if (flags & Flag.QR) return { ok: false, action: 'drop', reason: 'response_packet' };
  const opcode = (flags >> 11) & 0xf;
  const qdcount = message.readUInt16BE(4);
  const formerr = (questionEnd = 0, edns: EdnsInfo | null = null): ParsedRequest => ({
    ok: false, action: 'respond', reason: 'formerr', rcode: Rcode.FORMERR, id, flags, questionEnd, edns,
  });

  if (qdcount !== 1) {
    // RFC 6891 §6.1.1: a request with an OPT gets an OPT back, error responses included. With no
    // question (QDCOUNT 0, e.g. a DNS Cookie probe, RFC 7873 §5.4) the records start right after
    // the header and can still be walked; with several questions they are not located.
    const walked = qdcount === 0 ? walkRecords(message, HEADER_LENGTH) : null;
    const edns = walked === 'malformed' ? null : walked;
    if (opcode !== Opcode.QUERY) return { ok: false, action: 'respond', reason: 'notimp', rcode: Rcode.NOTIMP, id, flags, questionEnd: 0, edns };
    return formerr(0, edns);
  }
  // The name without a result object (one allocation fewer per query; issue 9).
  const qname = readQuestionNameString(message, HEADER_LENGTH);
  const nameEnd = questionNameEnd();
  if (qname === null || nameEnd + 4 > message.length) return formerr();
  const qnameWireLength = questionNameWireLength();
  const questionEnd = nameEnd + 4;
  const qtype = message.readUInt16BE(nameEnd);
  const qclass = message.readUInt16BE(nameEnd + 2);

  const records = walkRecords(message, questionEnd);
  if (records === 'malformed') return formerr(questionEnd);
  const edns = records;
  if (opcode !== Opcode.QUERY) {
    return { ok: false, action: 'respond', reason: 'notimp', rcode: Rcode.NOTIMP, id, flags, questionEnd, edns };
  }
  // RFC 6891 §6.1.3: a version we do not implement gets BADVERS, answered with our version 0.
  if (edns && edns.version !== 0) {
    return { ok: false, action: 'respond', reason: 'badvers', rcode: Rcode.BADVERS, id, flags, questionEnd, edns };
  }
  return {
    ok: true,
    request: { message, id, flags, opcode, qname, qnameWireLength, qtype, qclass, questionEnd, edns },
  };
}

/**
 * Walks answer, authority and additional sections. Returns the OPT's details (or null), or
 * 'malformed' for overruns, bad names, an OPT outside ADDITIONAL or with a non-root owner,
 * more than one OPT (RFC 6891 §6.1.1), malformed EDNS options, or trailing bytes.
 */
function walkRecords(message: Buffer, start: number): EdnsInfo | null | 'malformed' {
  let position = start;
  let edns: EdnsInfo | null = null;
  // ANCOUNT, NSCOUNT, ARCOUNT at offsets 6, 8, 10 (read in place: no array per query).
  for (let section = 0; section < 3; section++) {
    const count = message.readUInt16BE(6 + 2 * section);
    for (let index = 0; index < count; index++) {
      const recordStart = position;
      const nameEnd = skipRecordName(message, position);
      if (typeof nameEnd === 'string' || nameEnd + RECORD_FIXED_LENGTH > message.length) return 'malformed';
      const type = message.readUInt16BE(nameEnd);
      const rdLength = message.readUInt16BE(nameEnd + 8);
      const rdataStart = nameEnd + RECORD_FIXED_LENGTH;
      const recordEnd = rdataStart + rdLength;
      if (recordEnd > message.length) return 'malformed';
      if (type === RRType.OPT) {
        if (section !== 2 || edns !== null || nameEnd !== recordStart + 1) return 'malformed';
        const clientSubnet = walkEdnsOptions(message, rdataStart, recordEnd);
        if (clientSubnet === MALFORMED_OPTIONS) return 'malformed';
        const ttl = message.readUInt32BE(nameEnd + 4);
        edns = {
          udpSize: Math.max(512, message.readUInt16BE(nameEnd + 2)),
          version: (ttl >>> 16) & 0xff,
          dnssecOk: (ttl & 0x8000) !== 0,
          optStart: recordStart,
          optEnd: recordEnd,
          hasClientSubnet: clientSubnet === 1,
        };
      }
      position = recordEnd;
    }
  }
  return position === message.length ? edns : 'malformed';
}

const MALFORMED_OPTIONS = -1;

/** 1 when the options hold an EDNS Client Subnet option, 0 when not, MALFORMED_OPTIONS (a number: no object per query). */
function walkEdnsOptions(message: Buffer, start: number, end: number): number {
  let position = start;
  let hasClientSubnet = 0;
  while (position < end) {
    if (position + 4 > end) return MALFORMED_OPTIONS;
    const code = message.readUInt16BE(position);
    const length = message.readUInt16BE(position + 2);
    position += 4 + length;
    if (position > end) return MALFORMED_OPTIONS;
    if (code === EdnsOption.ECS) hasClientSubnet = 1;
  }
  return hasClientSubnet;
}
