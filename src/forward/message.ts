// The query we send upstream, and the check a response must pass before we believe it.
//
// The query is ours, not a copy of the client's: a fresh ID, the client's question bytes, and our
// own OPT. Nothing else of the client's message travels: EDNS Client Subnet is stripped by default
// (RFC 7871 §11.1, privacy; dnsmasq --strip-subnet, Blocky ecs.forward=false), and a client's DNS
// Cookie belongs to the client–us exchange, not to ours with the upstream (RFC 7873), so neither is copied.

import { Flag, HEADER_LENGTH, Opcode } from '../wire/constants.ts';
import { readQuestionName } from '../wire/name.ts';
import { optRecord } from '../wire/response.ts';
import type { UpstreamQuery } from './types.ts';

/** DNS Flag Day 2020 buffer size, the default of dnsmasq (--edns-packet-max) and CoreDNS (bufsize). */
export const DEFAULT_UDP_PAYLOAD_SIZE = 1232;

/**
 * Header + question + OPT. RD is the client's (RFC 1035 §4.1.1: a client asking RD=0 wants no
 * recursion done for it), CD is passed on (RFC 4035 §3.2.2), DO is passed on in our OPT (RFC 3225 §3).
 */
export function buildUpstreamQuery(id: number, query: UpstreamQuery, udpPayloadSize = DEFAULT_UDP_PAYLOAD_SIZE): Buffer {
  const opt = optRecord(udpPayloadSize, 0, query.dnssecOk);
  const out = Buffer.allocUnsafe(HEADER_LENGTH + query.question.length + opt.length);
  let flags = 0; // QR=0, opcode QUERY
  if (query.recursionDesired) flags |= Flag.RD;
  if (query.checkingDisabled) flags |= Flag.CD;
  out.writeUInt16BE(id & 0xffff, 0);
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(1, 4); // QDCOUNT
  out.writeUInt16BE(0, 6); // ANCOUNT
  out.writeUInt16BE(0, 8); // NSCOUNT
  out.writeUInt16BE(1, 10); // ARCOUNT: the OPT
  query.question.copy(out, HEADER_LENGTH);
  opt.copy(out, HEADER_LENGTH + query.question.length);
  return out;
}

/** Why a datagram or frame is not the answer to our query. */
export type ResponseMismatch = 'short' | 'id' | 'not_response' | 'opcode' | 'qdcount' | 'question';

/**
 * RFC 5452 §9.1: accept a response only when its ID, and its question (name compared
 * case-insensitively, type and class exactly) match the query; the source address and port are
 * checked by the connected socket (udp-exchange.ts). Pure; never throws on any input.
 */
export function matchUpstreamResponse(message: Buffer, id: number, query: UpstreamQuery): 'ok' | ResponseMismatch {
  if (message.length < HEADER_LENGTH) return 'short';
  if (message.readUInt16BE(0) !== id) return 'id';
  const flags = message.readUInt16BE(2);
  if ((flags & Flag.QR) === 0) return 'not_response';
  if (((flags >> 11) & 0xf) !== Opcode.QUERY) return 'opcode';
  if (message.readUInt16BE(4) !== 1) return 'qdcount';
  const name = readQuestionName(message, HEADER_LENGTH);
  if (typeof name === 'string' || name.end + 4 > message.length) return 'question';
  // readQuestionName lowercases, so this is the case-insensitive compare (0x20 mixing survives).
  if (name.name !== query.qname) return 'question';
  if (message.readUInt16BE(name.end) !== query.qtype || message.readUInt16BE(name.end + 2) !== query.qclass) return 'question';
  return 'ok';
}

/** TC bit of a message already known to be at least a header long. */
export function isTruncated(message: Buffer): boolean {
  return (message.readUInt16BE(2) & Flag.TC) !== 0;
}

/** The 4-bit header RCODE (the extended bits in the OPT are not needed for labels). */
export function headerRcode(message: Buffer): number {
  return message.length >= 4 ? message[3]! & 0xf : 0;
}
