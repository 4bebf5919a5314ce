// Mutation fuzzer for the query handler, the boundary every listener calls. Deterministic: a
// seeded PRNG derives every packet from a corpus of realistic queries, so a failure reproduces
// with FUZZ_SEED=<printed seed>. FUZZ_PACKETS raises the count for a longer soak.
//
// Properties checked for every packet, over UDP and TCP:
// - nothing throws, no promise rejects (handled or not);
// - the result is null, a Buffer, or a promise of one;
// - a response is a well-formed message (every count matches a record, pointers go backwards,
//   no trailing bytes), has QR=1 and the request's ID, echoes the question bytes it claims,
//   and fits its transport: ≤ 512 for UDP without OPT, ≤ min(client, 1232) (never < 512)
//   with it, ≤ 65535 on TCP; a TC response carries nothing but question and OPT.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RRClass, RRType, rcodeName } from '../../../src/wire/constants.ts';
import {
  buildQuery, decode, encodeName, encodeRecord, makeHandler, meshInstance, messageLayout, TCP_CLIENT, UDP_CLIENT,
  type QueryOptions, type TestHandlerOptions,
} from '../../support/dns-messages.ts';
import { seededRandom as prng, type SeededRandom as Random } from '../../support/seeded-random.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0x6d657368) >>> 0;
const PACKETS = Number(process.env.FUZZ_PACKETS ?? 100_000);
const OUR_UDP_PAYLOAD = 1232;

// ─── The zone and the corpus ──────────────────────────────────────────────────

const zoneData: TestHandlerOptions = {
  instances: [
    meshInstance({ id: 'weather-a1', name: 'weather', addresses: ['10.0.0.11', 'fd00::11'], capabilities: [{ name: 'weather_forecast', version: '1' }, { name: 'geo.geocode', version: '2' }] }),
    meshInstance({ id: 'weather-b2', name: 'weather', addresses: ['10.0.0.12'], capabilities: [{ name: 'weather_forecast', version: '1' }] }),
    ...Array.from({ length: 60 }, (_, index) => meshInstance({ id: `big-${index}`, name: 'big', addresses: [`10.0.2.${index}`, `fd00::2:${index}`], capabilities: [{ name: 'bulk', version: '' }] })),
  ],
  records: [
    { name: 'www', type: 'CNAME', value: 'weather' },
    { name: 'dangling', type: 'CNAME', value: 'nope' },
    { name: 'hello', type: 'TXT', value: 'x'.repeat(700) },
  ],
  chaosVersion: 'mesh-dns fuzz',
};
const server = makeHandler(zoneData);
// Before the first registry sync: negative mesh answers become SERVFAIL + EDE.
const waiting = makeHandler({ ...zoneData, ready: false });

const cookie = { code: 10, data: Buffer.from('0123456789abcdef', 'hex') };
const ecs = { code: 8, data: Buffer.from([0, 1, 24, 0, 192, 0, 2]) };
const ecs6 = { code: 8, data: Buffer.from([0, 2, 56, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0]) };
const padding = (length: number) => ({ code: 12, data: Buffer.alloc(length) });
const additionalA = encodeRecord({ nameBytes: Buffer.from([0xc0, 12]), type: 'A', ttl: 60, rdata: Buffer.from([10, 0, 0, 1]) });
const additionalBelow = encodeRecord({ nameBytes: Buffer.from([3, 0x77, 0x77, 0x77, 0xc0, 12]), type: 'TXT', ttl: 60, rdata: Buffer.from([2, 0x68, 0x69]) });

const corpusQueries: QueryOptions[] = [
  { name: 'weather.mesh.local', type: 'A' },
  { name: 'weather.mesh.local', type: 'AAAA', edns: {} },
  { name: 'WeAtHeR.MeSh.LoCaL', type: 'A', edns: { do: true } },
  { name: 'weather.mesh.local', type: 'A', edns: { udpSize: 4096, options: [cookie] } },
  { name: 'weather.mesh.local', type: 'A', edns: { udpSize: 1400, options: [ecs, cookie, padding(64)] } },
  { name: 'big.mesh.local', type: 'AAAA', edns: { udpSize: 65535, options: [ecs6] } },
  { name: 'big.mesh.local', type: 'A' },
  { name: 'big.mesh.local', type: 'ANY', edns: { udpSize: 600 } },
  { name: '_mcp._tcp.weather.mesh.local', type: 'SRV', edns: {} },
  { name: '_bulk._tcp.mesh.local', type: 'SRV' },
  { name: '_bulk._tcp.mesh.local', type: 'SRV', edns: { udpSize: 512 } },
  { name: '_weather_forecast._tcp.mesh.local', type: 'ANY', edns: { udpSize: 4096 } },
  { name: 'weather-a1.mesh.local', type: 'TXT' },
  { name: 'hello.mesh.local', type: 'TXT', edns: { udpSize: 700 } },
  { name: 'www.mesh.local', type: 'A', extraRecords: [additionalA] },
  { name: 'www.mesh.local', type: 'AAAA', extraRecords: [additionalBelow], edns: { options: [padding(12)] } },
  { name: 'dangling.mesh.local', type: 'A', edns: {} },
  { name: 'nope.mesh.local', type: 'A', edns: { options: [cookie] } },
  { name: '_tcp.mesh.local', type: 'TXT' },
  { name: 'mesh.local', type: 'SOA', edns: {} },
  { name: 'mesh.local', type: 'ANY' },
  { name: '11.0.0.10.in-addr.arpa', type: 'PTR', edns: {} },
  { name: '1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa', type: 'PTR' },
  { name: 'version.bind', type: 'TXT', qclass: RRClass.CH },
  { name: 'version.server', type: 'TXT', qclass: RRClass.CH, edns: {} },
  { name: 'example.org', type: 'A', edns: { options: [ecs] } },
  { name: 'mesh.local', type: 'AXFR' },
  { name: 'weather.mesh.local', type: RRType.OPT, edns: {} },
  { name: 'weather.mesh.local', type: 'A', opcode: 4 },
  { name: 'weather.mesh.local', type: 'A', edns: { version: 1 } },
  { name: '', type: 'NS' },
  { name: 'a\\046b.mesh.local', type: 'A' },
  { name: 'weather.mesh.local', type: 'A', answerRecords: [additionalA], authorityRecords: [additionalA] },
];

// ─── Mutations ────────────────────────────────────────────────────────────────

const INTERESTING_BYTES = [0x00, 0x01, 0x29, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xfe, 0xff];

/** Offsets of the label length octets of the question name (no pointers in the corpus question). */
function labelOffsets(message: Buffer): number[] {
  const offsets: number[] = [];
  for (let position = 12; position < message.length && message[position]! !== 0 && message[position]! < 0x40; position += message[position]! + 1) {
    offsets.push(position);
  }
  return offsets;
}

/** Offset of QTYPE when the question name is plain labels, else -1. */
function qtypeOffset(message: Buffer): number {
  const offsets = labelOffsets(message);
  const last = offsets.length > 0 ? offsets[offsets.length - 1]! : 11;
  const end = offsets.length > 0 ? last + message[last]! + 1 : 12;
  return end < message.length && message[end] === 0 && end + 5 <= message.length ? end + 1 : -1;
}

const INTERESTING_TYPES = [RRType.A, RRType.AAAA, RRType.SRV, RRType.TXT, RRType.PTR, RRType.ANY, RRType.CNAME, RRType.SOA, RRType.NS, RRType.MX, RRType.HTTPS, RRType.OPT, RRType.AXFR, RRType.IXFR, 0, 0xffff];

// Mutations that keep the packet well-formed, so a good share reaches the stages behind the parser.
const validMutations: Array<(packet: Buffer, random: Random) => Buffer> = [
  function setQtype(packet, random) {
    const at = qtypeOffset(packet);
    if (at < 0) return packet;
    const out = Buffer.from(packet);
    out.writeUInt16BE(random.next() < 0.8 ? random.pick(INTERESTING_TYPES) : random.int(0x10000), at);
    return out;
  },
  function setQclass(packet, random) {
    const at = qtypeOffset(packet);
    if (at < 0) return packet;
    const out = Buffer.from(packet);
    out.writeUInt16BE(random.pick([RRClass.IN, RRClass.CH, 4, RRClass.NONE, RRClass.ANY, random.int(0x10000)]), at + 2);
    return out;
  },
  function flipCase(packet, random) {
    const offsets = labelOffsets(packet);
    if (offsets.length === 0) return packet;
    const out = Buffer.from(packet);
    const label = random.pick(offsets);
    const at = label + 1 + random.int(out[label]!);
    if (at < out.length && ((out[at]! | 0x20) >= 0x61 && (out[at]! | 0x20) <= 0x7a)) out[at]! ^= 0x20;
    return out;
  },
];

const mutations: Array<(packet: Buffer, random: Random) => Buffer> = [
  ...validMutations,
  function flipBit(packet, random) {
    if (packet.length === 0) return packet;
    const out = Buffer.from(packet);
    out[random.int(out.length)]! ^= 1 << random.int(8);
    return out;
  },
  function setByte(packet, random) {
    if (packet.length === 0) return packet;
    const out = Buffer.from(packet);
    out[random.int(out.length)] = random.next() < 0.5 ? random.pick(INTERESTING_BYTES) : random.int(256);
    return out;
  },
  function truncate(packet, random) {
    return packet.subarray(0, random.int(packet.length + 1));
  },
  function extend(packet, random) {
    const extra = Buffer.alloc(1 + random.int(40));
    for (let index = 0; index < extra.length; index++) extra[index] = random.int(256);
    return Buffer.concat([packet, extra]);
  },
  function duplicateTail(packet, random) {
    // Repeat everything after the header (question, records, OPT) and bump one count to match
    // some of it: two questions, two OPTs, records in the wrong sections.
    if (packet.length < 13) return packet;
    const out = Buffer.concat([packet, packet.subarray(12)]);
    const countOffset = 4 + 2 * random.int(4);
    out.writeUInt16BE((out.readUInt16BE(countOffset) + 1) & 0xffff, countOffset);
    return out;
  },
  function duplicateOpt(packet) {
    // The last 11 octets of an EDNS query without options are its OPT: append it again.
    if (packet.length < 23 || packet.readUInt16BE(packet.length - 10) !== RRType.OPT) return packet;
    const out = Buffer.concat([packet, packet.subarray(packet.length - 11)]);
    out.writeUInt16BE((out.readUInt16BE(10) + 1) & 0xffff, 10);
    return out;
  },
  function randomCount(packet, random) {
    if (packet.length < 12) return packet;
    const out = Buffer.from(packet);
    out.writeUInt16BE(random.next() < 0.7 ? random.int(4) : random.int(0x10000), 4 + 2 * random.int(4));
    return out;
  },
  function randomLabelLength(packet, random) {
    const offsets = labelOffsets(packet);
    if (offsets.length === 0) return packet;
    const out = Buffer.from(packet);
    out[random.pick(offsets)] = random.next() < 0.5 ? random.int(64) : random.int(256);
    return out;
  },
  function pointerInQuestion(packet, random) {
    const offsets = labelOffsets(packet);
    if (offsets.length === 0) return packet;
    const out = Buffer.from(packet);
    const at = random.pick(offsets);
    out[at] = 0xc0 | random.int(4);
    if (at + 1 < out.length) out[at + 1] = random.int(256);
    return out;
  },
  function randomFlags(packet, random) {
    if (packet.length < 4) return packet;
    const out = Buffer.from(packet);
    out.writeUInt16BE(random.int(0x10000) & ~0x8000, 2);
    return out;
  },
];

// ─── Oracle ───────────────────────────────────────────────────────────────────

/**
 * The requestor's UDP payload size from its OPT, found the way RFC 1035 lets anyone skip a
 * name: labels are skipped, a pointer ends the name, nothing is followed. At least as lenient
 * as the server, so a query the server reads as EDNS is one this sees as EDNS.
 */
function requestUdpSize(message: Buffer): number | null {
  if (message.length < 12) return null;
  const skipName = (start: number): number => {
    let position = start;
    while (position < message.length) {
      const length = message[position]!;
      if (length === 0) return position + 1;
      if (length >= 0xc0) return position + 2;
      position += length + 1;
    }
    return -1;
  };
  let position = 12;
  for (let index = 0; index < message.readUInt16BE(4); index++) {
    const end = skipName(position);
    if (end < 0) return null;
    position = end + 4;
  }
  const records = message.readUInt16BE(6) + message.readUInt16BE(8) + message.readUInt16BE(10);
  let found: number | null = null;
  for (let index = 0; index < records; index++) {
    const end = skipName(position);
    if (end < 0 || end + 10 > message.length) return found;
    if (message.readUInt16BE(end) === RRType.OPT) found ??= message.readUInt16BE(end + 2);
    position = end + 10 + message.readUInt16BE(end + 8);
  }
  return found;
}

/** A problem with the response, or its full RCODE (header bits + OPT extended bits). */
function checkResponse(request: Buffer, response: Buffer, transport: 'udp' | 'tcp'): string | { rcode: number } {
  if (response.length < 12) return `response of ${response.length} octets`;
  if (request.length < 12) return 'answered a request shorter than a header';
  if (response.readUInt16BE(0) !== request.readUInt16BE(0)) return 'ID not echoed';
  const flags = response.readUInt16BE(2);
  if (!(flags & 0x8000)) return 'QR not set';
  const layout = messageLayout(response);
  if (typeof layout === 'string') return `malformed response: ${layout}`;
  const opt = layout.records.filter((record) => record.type === RRType.OPT);
  if (opt.length > 1) return 'more than one OPT';
  if (opt.length === 1 && opt[0]!.section !== 'additional') return 'OPT outside ADDITIONAL';
  const clientSize = requestUdpSize(request);
  if (opt.length === 1 && clientSize === null) return 'OPT in a response to a query without one';
  if (transport === 'udp') {
    const limit = opt.length === 1 ? Math.max(512, Math.min(clientSize ?? 512, OUR_UDP_PAYLOAD)) : 512;
    if (response.length > limit) return `UDP response of ${response.length} octets over the limit ${limit}`;
  } else if (response.length > 0xffff) {
    return `TCP response of ${response.length} octets`;
  }
  const qdcount = response.readUInt16BE(4);
  if (qdcount > 1) return `QDCOUNT ${qdcount}`;
  if (qdcount === 1 && !response.subarray(12, layout.questionEnd).equals(request.subarray(12, layout.questionEnd))) return 'question not echoed byte for byte';
  if (flags & 0x0200 && (response.readUInt16BE(6) !== 0 || response.readUInt16BE(8) !== 0 || response.readUInt16BE(10) !== opt.length)) return 'TC response with records';
  // The OPT TTL's first octet (owner, TYPE, CLASS precede it) holds the extended RCODE.
  const extended = opt.length === 1 ? response[opt[0]!.rdataStart - 6]! : 0;
  return { rcode: (extended << 4) | (flags & 0xf) };
}

// ─── The run ──────────────────────────────────────────────────────────────────

describe('query handler fuzz', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeAll(() => {
    process.on('unhandledRejection', onUnhandled);
  });
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
  });

  it(`survives ${PACKETS} mutated packets over UDP and TCP`, async () => {
    const random = prng(SEED);
    console.log(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} reproduces), ${PACKETS} packets`);
    const corpus = corpusQueries.map((query) => buildQuery(query));
    const failures: string[] = [];
    const outcomes = new Map<string, number>();
    const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    let responses = 0;
    const started = performance.now();

    for (let index = 0; index < PACKETS && failures.length < 20; index++) {
      let packet = random.pick(corpus);
      // Keep a share of the packets close to valid (one mutation) so they reach the zone.
      const rounds = random.next() < 0.4 ? 1 : 1 + random.int(4);
      const pool = random.next() < 0.25 ? validMutations : mutations;
      for (let round = 0; round < rounds; round++) packet = random.pick(pool)(packet, random);
      if (packet.length >= 2 && random.next() < 0.5) packet.writeUInt16BE(random.int(0x10000), 0);

      const target = random.next() < 0.1 ? waiting : server;
      for (const client of [UDP_CLIENT, TCP_CLIENT]) {
        let result: Buffer | null;
        try {
          const returned: unknown = target.handler(packet, client);
          if (returned !== null && !Buffer.isBuffer(returned) && !(returned instanceof Promise)) {
            failures.push(`#${index} ${client.transport}: handler returned ${typeof returned}`);
            continue;
          }
          result = await returned;
        } catch (error) {
          failures.push(`#${index} ${client.transport}: threw ${(error as Error).stack ?? String(error)} for ${packet.toString('hex')}`);
          continue;
        }
        if (result === null) {
          count('dropped');
          continue;
        }
        if (!Buffer.isBuffer(result)) {
          failures.push(`#${index} ${client.transport}: resolved to ${typeof result}`);
          continue;
        }
        responses++;
        const verdict = checkResponse(packet, result, client.transport);
        if (typeof verdict === 'string') {
          failures.push(`#${index} ${client.transport}: ${verdict}\n  request  ${packet.toString('hex')}\n  response ${result.toString('hex')}`);
          continue;
        }
        // Cross-check a sample with dns2's independent decoder: it must read them without error.
        if (responses % 97 === 0) {
          const decoded = decode(result);
          if (decoded.errors.length > 0) failures.push(`#${index}: dns2 cannot read the response: ${decoded.errors.join('; ')} ${result.toString('hex')}`);
        }
        count(`${rcodeName(verdict.rcode)}${result.readUInt16BE(2) & 0x0200 ? '+TC' : ''}`);
      }
    }
    // Let anything scheduled by the handler settle before judging unhandled rejections.
    await new Promise((resolve) => setImmediate(resolve));

    const seconds = (performance.now() - started) / 1000;
    console.log(`fuzz: ${PACKETS} packets × 2 transports in ${seconds.toFixed(1)} s; outcomes:`);
    console.log([...outcomes].sort((a, b) => b[1] - a[1]).map(([key, value]) => `  ${key.padEnd(14)} ${value}`).join('\n'));

    expect(failures).toEqual([]);
    expect(unhandled).toEqual([]);
    // The corpus is meant to exercise the whole pipeline; if mutations stopped reaching it,
    // the run would be checking only the parser.
    for (const expected of ['NOERROR', 'NXDOMAIN', 'SERVFAIL', 'FORMERR', 'REFUSED', 'NOTIMP', 'BADVERS', 'dropped', 'NOERROR+TC']) {
      expect(outcomes.get(expected) ?? 0, expected).toBeGreaterThan(0);
    }
  }, 120_000);
});

// Guard for the oracle itself: it must see the OPT where the server does.
describe('fuzz oracle', () => {
  it('finds the requestor\'s payload size in the OPT, after records with compressed names', () => {
    expect(requestUdpSize(buildQuery({ name: 'a.mesh.local', edns: { udpSize: 777 }, extraRecords: [additionalBelow] }))).toBe(777);
    expect(requestUdpSize(buildQuery({ name: 'a.mesh.local' }))).toBeNull();
    expect(requestUdpSize(Buffer.concat([buildQuery({ name: 'a.mesh.local', counts: { qd: 1 }, noQuestion: true }), encodeName('x')]))).toBeNull();
  });

  it('flags responses that break the rules', () => {
    const request = buildQuery({ id: 7, name: 'a.mesh.local' });
    const good = Buffer.from(request);
    good.writeUInt16BE(0x8000, 2);
    expect(checkResponse(request, good, 'udp')).toEqual({ rcode: 0 });
    const wrongId = Buffer.from(good);
    wrongId.writeUInt16BE(8, 0);
    expect(checkResponse(request, wrongId, 'udp')).toBe('ID not echoed');
    expect(checkResponse(request, request, 'udp')).toBe('QR not set');
    expect(checkResponse(request, Buffer.concat([good, Buffer.alloc(600)]), 'udp')).toMatch(/trailing/);
  });
});
