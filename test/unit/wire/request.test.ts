import { describe, expect, it } from 'vitest';
import { Rcode, RRType } from '../../../src/wire/constants.ts';
import { parseRequest, type ParsedRequest } from '../../../src/wire/request.ts';
import { buildQuery, encodeName, encodeOpt, encodeRecord, makeHandler, type QueryOptions } from '../../support/dns-messages.ts';

const base: QueryOptions = { id: 0xbeef, name: 'weather.mesh.local', type: 'A' };
const opt = encodeOpt();

function rejection(parsed: ParsedRequest) {
  if (parsed.ok) throw new Error(`expected a rejection, parsed ${parsed.request.qname}`);
  return parsed;
}

function accepted(parsed: ParsedRequest) {
  if (!parsed.ok) throw new Error(`expected a request, got ${parsed.reason}`);
  return parsed.request;
}

// The wire effect of each verdict, through the full handler (no zone data needed).
const server = makeHandler();

describe('parseRequest: well-formed queries', () => {
  it('reads id, flags, question and the question span', () => {
    const message = buildQuery({ ...base, name: 'HeLLo.MeSh.LoCaL', type: 'AAAA', rd: true, cd: true });
    const request = accepted(parseRequest(message));
    expect(request).toMatchObject({
      id: 0xbeef, opcode: 0, qname: 'hello.mesh.local', qnameWireLength: 18, qtype: RRType.AAAA, qclass: 1,
      questionEnd: 12 + 18 + 4, edns: null,
    });
    expect(request.flags).toBe(0x0110);
  });

  it('reads the OPT: payload size, version, DO, its span, and whether ECS is present', () => {
    const ecs = { code: 8, data: Buffer.from([0, 1, 24, 0, 192, 0, 2]) };
    const cookie = { code: 10, data: Buffer.alloc(8, 7) };
    const message = buildQuery({ ...base, edns: { udpSize: 4096, do: true, options: [cookie, ecs] } });
    const request = accepted(parseRequest(message));
    const optLength = encodeOpt({ udpSize: 4096, do: true, options: [cookie, ecs] }).length;
    expect(request.edns).toEqual({
      udpSize: 4096, version: 0, dnssecOk: true, optStart: message.length - optLength, optEnd: message.length, hasClientSubnet: true,
    });
    expect(accepted(parseRequest(buildQuery({ ...base, edns: { options: [cookie] } }))).edns?.hasClientSubnet).toBe(false);
  });

  it('raises a UDP payload size under 512 to 512 (RFC 6891 §6.2.5)', () => {
    for (const udpSize of [0, 1, 100, 511]) {
      expect(accepted(parseRequest(buildQuery({ ...base, edns: { udpSize } }))).edns?.udpSize).toBe(512);
    }
    expect(accepted(parseRequest(buildQuery({ ...base, edns: { udpSize: 513 } }))).edns?.udpSize).toBe(513);
  });

  it('accepts other records around the OPT, with names compressed backwards into the question', () => {
    const answer = encodeRecord({ nameBytes: Buffer.from([0xc0, 12]), type: 'A', ttl: 1, rdata: Buffer.from([10, 0, 0, 1]) });
    const extra = encodeRecord({ nameBytes: Buffer.from([3, 0x78, 0x79, 0x7a, 0xc0, 12]), type: 'TXT', rdata: Buffer.from([1, 0x61]) });
    const message = buildQuery({ ...base, answerRecords: [answer], authorityRecords: [answer], extraRecords: [extra], edns: {} });
    expect(accepted(parseRequest(message)).edns).not.toBeNull();
  });

  it('accepts empty OPT RDATA and zero-length options', () => {
    expect(accepted(parseRequest(buildQuery({ ...base, edns: { options: [{ code: 12, data: Buffer.alloc(0) }] } }))).edns).not.toBeNull();
  });
});

describe('parseRequest: dropped', () => {
  it('drops anything shorter than a header', () => {
    for (let length = 0; length < 12; length++) {
      expect(parseRequest(Buffer.alloc(length))).toEqual({ ok: false, action: 'drop', reason: 'short_header' });
    }
  });

  it('drops responses (QR=1): answering could start a loop between two servers', () => {
    expect(parseRequest(buildQuery({ ...base, flags: 0x8100 }))).toEqual({ ok: false, action: 'drop', reason: 'response_packet' });
  });

  it('the handler returns null for both, on UDP and TCP', async () => {
    expect(await server.send(Buffer.alloc(11), 'udp')).toBeNull();
    expect(await server.send(buildQuery({ ...base, flags: 0x8000 }), 'tcp')).toBeNull();
  });
});

describe('parseRequest: FORMERR', () => {
  it('QDCOUNT 0 and 2 are FORMERR without a question', () => {
    for (const message of [
      buildQuery({ ...base, noQuestion: true }),
      buildQuery({ ...base, counts: { qd: 2 }, trailing: Buffer.concat([encodeName('b.mesh.local'), Buffer.from([0, 1, 0, 1])]) }),
    ]) {
      expect(rejection(parseRequest(message))).toMatchObject({ action: 'respond', reason: 'formerr', rcode: Rcode.FORMERR, id: 0xbeef, questionEnd: 0 });
    }
  });

  it('QDCOUNT 0 with a valid OPT keeps the OPT for the answer (RFC 6891 §6.1.1)', () => {
    const parsed = rejection(parseRequest(buildQuery({ ...base, noQuestion: true, edns: { udpSize: 1400, do: true } })));
    expect(parsed).toMatchObject({ reason: 'formerr', questionEnd: 0 });
    expect(parsed.action === 'respond' && parsed.edns).toMatchObject({ udpSize: 1400, dnssecOk: true });
  });

  it.each([
    ['a pointer in the question', Buffer.from([0xc0, 12])],
    ['label type 0x40', Buffer.from([0x40, 0x61, 0])],
    ['label type 0x80', Buffer.from([0x80, 0x61, 0])],
    ['a label running past the end', Buffer.from([9, 0x61])],
  ])('a question name with %s', (_label, nameBytes) => {
    const message = Buffer.concat([buildQuery({ ...base, noQuestion: true, counts: { qd: 1 } }), nameBytes]);
    expect(rejection(parseRequest(message))).toMatchObject({ reason: 'formerr', questionEnd: 0 });
  });

  it('a question cut inside QTYPE/QCLASS', () => {
    const full = buildQuery(base);
    for (let cut = 1; cut <= 4; cut++) {
      expect(rejection(parseRequest(full.subarray(0, full.length - cut)))).toMatchObject({ reason: 'formerr', questionEnd: 0 });
    }
  });

  const questionEnd = 12 + encodeName('weather.mesh.local').length + 4;
  it.each([
    ['two OPT records (RFC 6891 §6.1.1)', { extraRecords: [opt], edns: {} }],
    ['an OPT in ANSWER', { answerRecords: [opt] }],
    ['an OPT in AUTHORITY', { authorityRecords: [opt] }],
    ['an OPT with a non-root owner', { edns: { ownerBytes: encodeName('mesh.local') } }],
    ['an OPT whose owner is a pointer', { edns: { ownerBytes: Buffer.from([0xc0, 12]) } }],
    ['an option running past RDATA', { edns: { options: [{ code: 10, data: Buffer.alloc(8), length: 9 }] } }],
    ['a partial option header in RDATA', { edns: { rdata: Buffer.from([0, 10, 0]) } }],
    ['RDLENGTH past the end', { extraRecords: [encodeRecord({ type: 'A', rdata: Buffer.from([1, 2, 3, 4]), rdLength: 40 })], counts: { ar: 1 } }],
    ['ARCOUNT larger than the records present', { edns: {}, counts: { ar: 2 } }],
    ['ANCOUNT with no records', { counts: { an: 1 } }],
    ['trailing bytes after the last record', { edns: {}, trailing: Buffer.from([0]) }],
    ['trailing bytes after the question', { trailing: Buffer.from([0, 0, 0]) }],
    ['a forward pointer in a record name', { extraRecords: [encodeRecord({ nameBytes: Buffer.from([0xc0, 0xff]), type: 'A', rdata: Buffer.alloc(4) })] }],
  ] as const)('%s is FORMERR with the question kept and no OPT', (_label, overrides) => {
    const parsed = rejection(parseRequest(buildQuery({ ...base, ...overrides })));
    expect(parsed).toMatchObject({ action: 'respond', reason: 'formerr', rcode: Rcode.FORMERR, questionEnd, edns: null });
  });
});

describe('parseRequest: NOTIMP and BADVERS', () => {
  it.each([[1, 'IQUERY'], [2, 'STATUS'], [4, 'NOTIFY'], [5, 'UPDATE']])('opcode %i (%s) is NOTIMP with the question and OPT kept', (opcode) => {
    const parsed = rejection(parseRequest(buildQuery({ ...base, opcode, edns: {} })));
    expect(parsed).toMatchObject({ reason: 'notimp', rcode: Rcode.NOTIMP, questionEnd: 12 + 20 + 4 });
    expect(parsed.action === 'respond' && parsed.edns).toBeTruthy();
  });

  it('an opcode other than QUERY with no question is NOTIMP too (not FORMERR)', () => {
    expect(rejection(parseRequest(buildQuery({ ...base, opcode: 5, noQuestion: true })))).toMatchObject({ reason: 'notimp', questionEnd: 0 });
  });

  it('EDNS version 1 is BADVERS (RFC 6891 §6.1.3)', () => {
    const parsed = rejection(parseRequest(buildQuery({ ...base, edns: { version: 1 } })));
    expect(parsed).toMatchObject({ reason: 'badvers', rcode: Rcode.BADVERS });
    expect(parsed.action === 'respond' && parsed.edns?.version).toBe(1);
  });
});

describe('verdicts on the wire', () => {
  it('FORMERR for QDCOUNT 0/2: rcode 1, no question, QR set, ID echoed', async () => {
    for (const query of [{ ...base, noQuestion: true }, { ...base, counts: { qd: 2 } }]) {
      const response = await server.ask(query);
      expect(response).toMatchObject({ id: 0xbeef, qr: true, rcode: Rcode.FORMERR, aa: false, counts: { qd: 0, an: 0, ns: 0, ar: 0 } });
      expect(response.size).toBe(12);
    }
  });

  it('FORMERR with no question still carries the OPT when one was readable', async () => {
    const response = await server.ask({ ...base, noQuestion: true, edns: { do: true } });
    expect(response).toMatchObject({ rcode: Rcode.FORMERR, counts: { qd: 0, an: 0, ns: 0, ar: 1 } });
    expect(response.opt).toMatchObject({ udpSize: 1232, version: 0, do: true });
    expect(response.size).toBe(12 + 11);
  });

  it('NOTIMP for STATUS and UPDATE echoes the opcode and the question', async () => {
    for (const opcode of [2, 5]) {
      const query = buildQuery({ ...base, opcode, edns: {} });
      const response = await server.send(query);
      const questionLength = 20 + 4;
      expect(response!.subarray(12, 12 + questionLength).equals(query.subarray(12, 12 + questionLength))).toBe(true);
      const decoded = (await server.ask({ ...base, opcode, edns: {} }));
      expect(decoded).toMatchObject({ opcode, rcode: Rcode.NOTIMP, qr: true, aa: false, counts: { qd: 1, an: 0, ns: 0, ar: 1 } });
    }
  });

  it('BADVERS: header RCODE 0, OPT extended RCODE 1 (= 16), OPT version 0, question kept', async () => {
    const query = buildQuery({ ...base, edns: { version: 1, udpSize: 4096 } });
    const raw = (await server.send(query))!;
    const response = await server.ask({ ...base, edns: { version: 1, udpSize: 4096 } });
    expect(response.headerRcode).toBe(0);
    expect(response.opt).toMatchObject({ extendedRcode: 1, version: 0, udpSize: 1232 });
    expect(response.rcode).toBe(Rcode.BADVERS);
    expect(response.counts).toEqual({ qd: 1, an: 0, ns: 0, ar: 1 });
    // The OPT TTL byte by byte: extended RCODE 1, version 0, flags 0.
    expect([...raw.subarray(raw.length - 6, raw.length - 2)]).toEqual([1, 0, 0, 0]);
  });

  it('malformed options, two OPTs, OPT in ANSWER, trailing bytes: FORMERR on the wire', async () => {
    for (const overrides of [
      { edns: { options: [{ code: 10, data: Buffer.alloc(4), length: 5 }] } },
      { extraRecords: [opt], edns: {} },
      { answerRecords: [opt] },
      { edns: {}, trailing: Buffer.from([0xff]) },
    ]) {
      const response = await server.ask({ ...base, ...overrides });
      expect(response).toMatchObject({ rcode: Rcode.FORMERR, qr: true, counts: { qd: 1, an: 0, ns: 0, ar: 0 } });
    }
  });
});
