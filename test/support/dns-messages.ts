// DNS messages for unit tests: a byte-exact query builder (with escape hatches for malformed
// variants), a decoder over dns2's robust Packet.parse, a strict structural checker used as the
// fuzz oracle, and a query handler over a compiled zone — no sockets.
//
// The builder is ours, not dns2's, on purpose: tests need exactly-malformed packets (pointers in
// the question, wrong counts, two OPTs, trailing bytes) that a well-behaved encoder refuses to write.

import dns2 from 'dns2';
import pino from 'pino';
import { Registry } from 'prom-client';
import type { StaticRecordSpec } from '../../src/config/options.ts';
import { createQueryMetrics } from '../../src/pipeline/metrics.ts';
import { createQueryPipeline, type PipelineOptions } from '../../src/pipeline/pipeline.ts';
import { createQueryHandler, type ClientInfo, type QueryHandler } from '../../src/pipeline/query-handler.ts';
import type { Transport } from '../../src/pipeline/types.ts';
import { RRClass, RRType } from '../../src/wire/constants.ts';
import type { RecordSections } from '../../src/wire/response.ts';
import { compileZone, type MeshInstance, type StaticRecord } from '../../src/zone/compile.ts';
import { reverseZonesForCidr } from '../../src/zone/reverse.ts';
import { compileStaticRecords } from '../../src/zone/static-records.ts';
import type { ZoneSet } from '../../src/zone/zone.ts';

// ─── Building queries ─────────────────────────────────────────────────────────

/**
 * Encodes a presentation name ("HeLLo.mesh.local", "a\\046b.x", "" or "." for the root) to
 * uncompressed wire form. `\DDD` and `\c` escapes are honoured; case is kept as written.
 */
export function encodeName(name: string): Buffer {
  const labels: number[][] = [];
  let current: number[] = [];
  const text = name === '.' ? '' : name;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '\\') {
      const digits = text.slice(i + 1, i + 4);
      if (/^\d{3}$/.test(digits)) {
        current.push(Number(digits));
        i += 3;
      } else {
        current.push(text.charCodeAt(i + 1));
        i += 1;
      }
    } else if (char === '.') {
      labels.push(current);
      current = [];
    } else {
      current.push(text.charCodeAt(i) & 0xff);
    }
  }
  // A trailing dot ends the last label; no trailing dot means the last label is still open.
  if (current.length > 0) labels.push(current);
  const parts: number[] = [];
  for (const label of labels) {
    if (label.length === 0) throw new Error(`empty label in ${JSON.stringify(name)}`);
    parts.push(label.length, ...label);
  }
  parts.push(0);
  return Buffer.from(parts);
}

/** Type number from a number or a name in RRType ("AAAA"). */
export function typeCode(type: number | string): number {
  if (typeof type === 'number') return type;
  const code = (RRType as Record<string, number>)[type.toUpperCase()];
  if (code === undefined) throw new Error(`unknown type ${type}`);
  return code;
}

export interface RecordSpec {
  /** Owner as a presentation name; ignored when `nameBytes` is given. Default: root. */
  name?: string;
  /** Raw owner bytes (e.g. a compression pointer [0xc0, 0x0c]). */
  nameBytes?: Buffer;
  type: number | string;
  class?: number;
  ttl?: number;
  rdata?: Buffer;
  /** RDLENGTH to write instead of rdata.length (for overruns). */
  rdLength?: number;
}

/** One resource record in wire form. */
export function encodeRecord(spec: RecordSpec): Buffer {
  const owner = spec.nameBytes ?? encodeName(spec.name ?? '');
  const rdata = spec.rdata ?? Buffer.alloc(0);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(typeCode(spec.type), 0);
  fixed.writeUInt16BE(spec.class ?? RRClass.IN, 2);
  fixed.writeUInt32BE((spec.ttl ?? 0) >>> 0, 4);
  fixed.writeUInt16BE(spec.rdLength ?? rdata.length, 8);
  return Buffer.concat([owner, fixed, rdata]);
}

export interface EdnsOptionSpec {
  code: number;
  data: Buffer;
  /** Option length to write instead of data.length (for malformed options). */
  length?: number;
}

export interface EdnsSpec {
  /** Requestor's UDP payload size (OPT CLASS). Default 1232. */
  udpSize?: number;
  version?: number;
  do?: boolean;
  extendedRcode?: number;
  options?: readonly EdnsOptionSpec[];
  /** Raw OPT RDATA instead of `options`. */
  rdata?: Buffer;
  /** Owner name bytes instead of the root (RFC 6891 requires the root). */
  ownerBytes?: Buffer;
}

/** An OPT pseudo-record (RFC 6891 §6.1.2). */
export function encodeOpt(edns: EdnsSpec = {}): Buffer {
  const rdata = edns.rdata ?? Buffer.concat((edns.options ?? []).map((option) => {
    const head = Buffer.alloc(4);
    head.writeUInt16BE(option.code, 0);
    head.writeUInt16BE(option.length ?? option.data.length, 2);
    return Buffer.concat([head, option.data]);
  }));
  const ttl = (((edns.extendedRcode ?? 0) & 0xff) << 24 | ((edns.version ?? 0) & 0xff) << 16 | (edns.do ? 0x8000 : 0)) >>> 0;
  return encodeRecord({ nameBytes: edns.ownerBytes ?? Buffer.from([0]), type: RRType.OPT, class: edns.udpSize ?? 1232, ttl, rdata });
}

export interface QueryOptions {
  id?: number;
  /** Presentation name (escapes allowed) or the raw wire bytes of the question name. */
  name: string | Buffer;
  type?: number | string;
  qclass?: number;
  /** The whole 16-bit flags word; when given, rd/cd/opcode are ignored. */
  flags?: number;
  /** Default true. */
  rd?: boolean;
  cd?: boolean;
  opcode?: number;
  /** EDNS OPT appended as the last ADDITIONAL record; null/undefined: no OPT. */
  edns?: EdnsSpec | null;
  /** Raw records for ANSWER and AUTHORITY. */
  answerRecords?: readonly Buffer[];
  authorityRecords?: readonly Buffer[];
  /** Raw records for ADDITIONAL, placed before the OPT. */
  extraRecords?: readonly Buffer[];
  /** Header counts to write instead of the real ones. */
  counts?: { qd?: number; an?: number; ns?: number; ar?: number };
  /** Leave the question out entirely (QDCOUNT 0 unless `counts.qd` says otherwise). */
  noQuestion?: boolean;
  /** Bytes appended after everything. */
  trailing?: Buffer;
}

export function queryFlags(options: Pick<QueryOptions, 'flags' | 'rd' | 'cd' | 'opcode'>): number {
  if (options.flags !== undefined) return options.flags;
  return ((options.opcode ?? 0) & 0xf) << 11 | (options.rd ?? true ? 0x0100 : 0) | (options.cd ? 0x0010 : 0);
}

/** A query in wire form: header, question, optional records and OPT, exactly as specified. */
export function buildQuery(options: QueryOptions): Buffer {
  const question = options.noQuestion ? Buffer.alloc(0) : Buffer.concat([
    typeof options.name === 'string' ? encodeName(options.name) : options.name,
    Buffer.from([0, 0, 0, 0]),
  ]);
  if (!options.noQuestion) {
    question.writeUInt16BE(typeCode(options.type ?? RRType.A), question.length - 4);
    question.writeUInt16BE(options.qclass ?? RRClass.IN, question.length - 2);
  }
  const answers = options.answerRecords ?? [];
  const authorities = options.authorityRecords ?? [];
  const additionals = [...(options.extraRecords ?? []), ...(options.edns ? [encodeOpt(options.edns)] : [])];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(options.id ?? 0x1234, 0);
  header.writeUInt16BE(queryFlags(options), 2);
  header.writeUInt16BE(options.counts?.qd ?? (options.noQuestion ? 0 : 1), 4);
  header.writeUInt16BE(options.counts?.an ?? answers.length, 6);
  header.writeUInt16BE(options.counts?.ns ?? authorities.length, 8);
  header.writeUInt16BE(options.counts?.ar ?? additionals.length, 10);
  return Buffer.concat([header, question, ...answers, ...authorities, ...additionals, options.trailing ?? Buffer.alloc(0)]);
}

// ─── Decoding responses ───────────────────────────────────────────────────────

export interface DecodedOpt {
  udpSize: number;
  version: number;
  do: boolean;
  extendedRcode: number;
  /** RFC 8914 Extended DNS Error, when the OPT carries one. */
  ede: { code: number; text: string } | null;
  optionCodes: number[];
  /** Raw TTL and RDATA length, for byte-level assertions. */
  ttl: number;
}

export interface DecodedMessage {
  size: number;
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  /** The 4-bit header RCODE. */
  headerRcode: number;
  /** The full RCODE: header bits + OPT extended bits (RFC 6891 §6.1.3). */
  rcode: number;
  counts: { qd: number; an: number; ns: number; ar: number };
  questions: dns2.Packet.Question[];
  answers: dns2.Packet.Resource[];
  authorities: dns2.Packet.Resource[];
  /** ADDITIONAL without the OPT. */
  additionals: dns2.Packet.Resource[];
  opt: DecodedOpt | null;
  /** dns2's per-record decode errors (a well-formed response has none). */
  errors: string[];
}

/** Decodes a response with dns2 (robust against malformed input), plus raw header bits. */
export function decode(message: Buffer): DecodedMessage {
  const packet = dns2.Packet.parse(message);
  const flags = message.readUInt16BE(2);
  const optRecords = packet.additionals.filter((record) => record.type === RRType.OPT);
  const optRecord = optRecords[0];
  let opt: DecodedOpt | null = null;
  if (optRecord) {
    const edeOption = (optRecord.rdata ?? []).find((option) => option.ednsCode === 15) as { infoCode: number; extraText: string } | undefined;
    opt = {
      udpSize: optRecord.class,
      version: optRecord.version ?? 0,
      do: optRecord.doFlag ?? false,
      extendedRcode: optRecord.extendedRcode ?? 0,
      ede: edeOption ? { code: edeOption.infoCode, text: edeOption.extraText } : null,
      optionCodes: optionCodesOf(message),
      ttl: optRecord.ttl,
    };
  }
  const headerRcode = flags & 0xf;
  return {
    size: message.length,
    id: message.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    ad: (flags & 0x0020) !== 0,
    cd: (flags & 0x0010) !== 0,
    headerRcode,
    rcode: ((opt?.extendedRcode ?? 0) << 4) | headerRcode,
    counts: { qd: message.readUInt16BE(4), an: message.readUInt16BE(6), ns: message.readUInt16BE(8), ar: message.readUInt16BE(10) },
    questions: packet.questions,
    answers: packet.answers,
    authorities: packet.authorities,
    additionals: packet.additionals.filter((record) => record.type !== RRType.OPT),
    opt,
    errors: packet.errors.map((error) => error.message),
  };
}

/** Option codes in the (last) OPT of a message, read from the bytes (dns2 drops unknown ones). */
function optionCodesOf(message: Buffer): number[] {
  const layout = messageLayout(message);
  if (typeof layout === 'string') return [];
  const opt = layout.records.find((record) => record.type === RRType.OPT);
  if (!opt) return [];
  const codes: number[] = [];
  for (let position = opt.rdataStart; position + 4 <= opt.end; ) {
    codes.push(message.readUInt16BE(position));
    position += 4 + message.readUInt16BE(position + 2);
  }
  return codes;
}

// ─── Strict structure check (fuzz oracle) ─────────────────────────────────────

export interface LaidOutRecord {
  section: 'answer' | 'authority' | 'additional';
  start: number;
  type: number;
  rdataStart: number;
  end: number;
}

export interface MessageLayout {
  questionEnd: number;
  records: LaidOutRecord[];
}

/**
 * Reads a name anywhere in a message, following pointers, with every RFC 1035 rule enforced
 * (pointers only backwards, labels ≤ 63, names ≤ 255 octets). Returns the offset after the
 * name's bytes at `offset`, or an error.
 */
function strictNameEnd(message: Buffer, offset: number): number | string {
  let position = offset;
  let end = -1;
  let octets = 1;
  let limit = offset;
  for (let hops = 0; hops < 128; hops++) {
    if (position >= message.length) return `name overruns at ${position}`;
    const length = message[position]!;
    if (length === 0) return end >= 0 ? end : position + 1;
    if ((length & 0xc0) === 0xc0) {
      if (position + 1 >= message.length) return `pointer overruns at ${position}`;
      const target = ((length & 0x3f) << 8) | message[position + 1]!;
      if (target >= limit) return `pointer at ${position} to ${target} is not backwards`;
      if (end < 0) end = position + 2;
      limit = target;
      position = target;
      continue;
    }
    if (length > 63) return `label type 0x${length.toString(16)} at ${position}`;
    octets += length + 1;
    if (octets > 255) return `name longer than 255 octets at ${offset}`;
    position += 1 + length;
  }
  return `too many labels at ${offset}`;
}

/** Walks every section; a string says what is wrong. Used to assert our responses are well-formed. */
export function messageLayout(message: Buffer): MessageLayout | string {
  if (message.length < 12) return 'shorter than a header';
  let position = 12;
  for (let index = 0; index < message.readUInt16BE(4); index++) {
    const nameEnd = strictNameEnd(message, position);
    if (typeof nameEnd === 'string') return `question: ${nameEnd}`;
    position = nameEnd + 4;
    if (position > message.length) return 'question overruns';
  }
  const questionEnd = position;
  const records: LaidOutRecord[] = [];
  const sections = [['answer', message.readUInt16BE(6)], ['authority', message.readUInt16BE(8)], ['additional', message.readUInt16BE(10)]] as const;
  for (const [section, count] of sections) {
    for (let index = 0; index < count; index++) {
      const start = position;
      const nameEnd = strictNameEnd(message, position);
      if (typeof nameEnd === 'string') return `${section}[${index}]: ${nameEnd}`;
      if (nameEnd + 10 > message.length) return `${section}[${index}]: fixed fields overrun`;
      const rdataStart = nameEnd + 10;
      const end = rdataStart + message.readUInt16BE(nameEnd + 8);
      if (end > message.length) return `${section}[${index}]: rdata overruns`;
      records.push({ section, start, type: message.readUInt16BE(nameEnd), rdataStart, end });
      position = end;
    }
  }
  if (position !== message.length) return `${message.length - position} trailing bytes`;
  return { questionEnd, records };
}

// ─── A query handler over a compiled zone ─────────────────────────────────────

export const UDP_CLIENT: ClientInfo = { transport: 'udp', family: 'ipv4', address: '127.0.0.1' };
export const TCP_CLIENT: ClientInfo = { transport: 'tcp', family: 'ipv4', address: '127.0.0.1' };

/**
 * An answer as assembly reads it, with a body of its own: a memoised zone answer or a cache hit is
 * a view into shared slabs (bodyOffset, bodyLength), valid until its holder's next lookup; the
 * general path's answer owns its body. Both give the same value here.
 */
export function normalisedSections(sections: RecordSections | null) {
  if (sections === null) return null;
  const { bodyOffset = 0, bodyLength = sections.body.length, body, ...rest } = sections;
  return { ...rest, body: Buffer.from(body.subarray(bodyOffset, bodyOffset + bodyLength)) };
}

/** A MeshInstance with realistic defaults. */
export function meshInstance(overrides: Partial<MeshInstance> & Pick<MeshInstance, 'id' | 'name'>): MeshInstance {
  return {
    scheme: 'http',
    port: 8080,
    addresses: ['10.0.0.10'],
    version: '1.0.0',
    runtime: 'python',
    agentType: 'mcp_agent',
    capabilities: [],
    ...overrides,
  };
}

export interface TestHandlerOptions {
  instances?: readonly MeshInstance[];
  /** Static records as written in config (made absolute by compileStaticRecords). */
  records?: readonly StaticRecordSpec[];
  /** Already compiled static records (used instead of `records`). */
  staticRecords?: readonly StaticRecord[];
  zone?: string;
  /** Mesh answer TTL, seconds. Default 5. */
  ttl?: number;
  /** SOA MINIMUM and SOA TTL, seconds. Default 7 (distinct from ttl so tests can tell them apart). */
  negativeTtl?: number;
  reverseCidrs?: readonly string[];
  serial?: number;
  /** Whether the first registry sync happened. Default true. */
  ready?: boolean;
  chaosVersion?: string;
  udpPayloadSize?: number;
  /** Further pipeline options (client views, local names, recursion); production defaults otherwise. */
  pipeline?: Omit<PipelineOptions, 'zone' | 'chaosVersion'>;
}

export interface TestHandler {
  handler: QueryHandler;
  zones: ZoneSet;
  metrics: Registry;
  /** Flip readiness at run time (the registry's first sync). */
  setReady(ready: boolean): void;
  /** Sends a raw message and awaits the (possibly async) result. */
  send(message: Buffer, transport?: Transport): Promise<Buffer | null>;
  /** Builds, sends and decodes; throws if the message was dropped. */
  ask(query: QueryOptions, transport?: Transport): Promise<DecodedMessage>;
}

export const TEST_ZONE_DEFAULTS = {
  zone: 'mesh.local',
  ttl: 5,
  negativeTtl: 7,
  reverseCidrs: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  serial: 2024010101,
  udpPayloadSize: 1232,
} as const;

export function makeHandler(options: TestHandlerOptions = {}): TestHandler {
  const zone = options.zone ?? TEST_ZONE_DEFAULTS.zone;
  const ttl = options.ttl ?? TEST_ZONE_DEFAULTS.ttl;
  const staticRecords = options.staticRecords ?? compileStaticRecords(options.records ?? [], zone, ttl);
  const zones = compileZone(options.instances ?? [], staticRecords, {
    zone,
    ttl,
    negativeTtl: options.negativeTtl ?? TEST_ZONE_DEFAULTS.negativeTtl,
    reverseZones: (options.reverseCidrs ?? TEST_ZONE_DEFAULTS.reverseCidrs).flatMap(reverseZonesForCidr),
    serial: options.serial ?? TEST_ZONE_DEFAULTS.serial,
  });
  let ready = options.ready ?? true;
  const metrics = new Registry();
  const handler = createQueryHandler({
    stages: createQueryPipeline({ ...options.pipeline, zone: { current: () => zones, ready: () => ready }, chaosVersion: options.chaosVersion ?? '' }),
    metrics: createQueryMetrics(metrics),
    logger: pino({ level: 'silent' }),
    queryLog: false,
    udpPayloadSize: options.udpPayloadSize ?? TEST_ZONE_DEFAULTS.udpPayloadSize,
  });
  const send = async (message: Buffer, transport: Transport = 'udp') => handler(message, transport === 'udp' ? UDP_CLIENT : TCP_CLIENT);
  return {
    handler,
    zones,
    metrics,
    setReady(next) {
      ready = next;
    },
    send,
    async ask(query, transport = 'udp') {
      const response = await send(buildQuery(query), transport);
      if (!response) throw new Error(`query ${String(query.name)} was dropped`);
      return decode(response);
    },
  };
}
