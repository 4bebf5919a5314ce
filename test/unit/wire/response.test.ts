import { describe, expect, it } from 'vitest';
import type { StaticRecordSpec } from '../../../src/config/options.ts';
import { EdeCode, Rcode, RRType } from '../../../src/wire/constants.ts';
import { parseRequest } from '../../../src/wire/request.ts';
import { assembleResponse, optRecord, responseSizeLimit, type RecordSections } from '../../../src/wire/response.ts';
import { buildQuery, decode, encodeName, makeHandler, meshInstance, type QueryOptions } from '../../support/dns-messages.ts';

// Sizes every expectation below is derived from (RFC 1035 §4.1): a header is 12 octets, a
// question is its name plus QTYPE and QCLASS, a record is owner + TYPE, CLASS, TTL, RDLENGTH
// (10 octets) + RDATA. Answer owners equal to the question name are a 2-octet pointer.
const HEADER = 12;
const FIXED = 10;
const POINTER = 2;
const OPT = 1 + FIXED; // root owner, no options
const A_RECORD = POINTER + FIXED + 4;
const questionSize = (name: string) => encodeName(name).length + 4;

/** `count` static A records at the absolute name `name`. */
function staticAddresses(name: string, count: number): StaticRecordSpec[] {
  return Array.from({ length: count }, (_, index) => ({ name: `${name}.`, type: 'A' as const, value: `10.200.${index >> 8}.${index & 0xff}` }));
}

/**
 * A name "<label>.mesh.local" and a count of A records that fill `limit` exactly:
 * HEADER + question + extra + count × A_RECORD === limit.
 */
function exactFit(limit: number, extra: number, fill: string): { name: string; count: number } {
  const withoutLabel = HEADER + questionSize('mesh.local') + 1 + extra; // + the new label's length octet
  let labelLength = (limit - withoutLabel) % A_RECORD;
  if (labelLength === 0) labelLength = A_RECORD;
  const name = `${fill.repeat(labelLength)}.mesh.local`;
  const count = (limit - HEADER - questionSize(name) - extra) / A_RECORD;
  expect(HEADER + questionSize(name) + extra + count * A_RECORD).toBe(limit);
  return { name, count };
}

describe('header and question of every response', () => {
  const server = makeHandler({ records: [{ name: 'hello', type: 'A', value: '192.0.2.10' }] });

  // A client whose view has no recursion, so RA is ours to clear (RFC 1035 §4.1.1).
  const noRecursion = makeHandler({
    records: [{ name: 'hello', type: 'A', value: '192.0.2.10' }],
    pipeline: { access: { recursionNetworks: [], meshNetworks: ['127.0.0.0/8'] } },
  });

  it('echoes ID, RD and CD, sets QR, copies none of AA, TC, Z, AD from the query', async () => {
    // Query flags: RD, CD, plus bits a client must not get echoed (AA, TC, Z, AD).
    for (const flags of [0x0110, 0x0000, 0x0100, 0x0010, 0x0100 | 0x0010 | 0x0400 | 0x0200 | 0x0040 | 0x0020]) {
      const query = buildQuery({ id: 0xa5a5, name: 'hello.mesh.local', flags });
      const raw = (await noRecursion.send(query))!;
      const echoed = flags & (0x0100 | 0x0010);
      expect(raw.readUInt16BE(0)).toBe(0xa5a5);
      // QR | AA (ours: authoritative answer) | echoed RD/CD | RCODE 0
      expect(raw.readUInt16BE(2)).toBe(0x8000 | 0x0400 | echoed);
    }
  });

  it('echoes the question byte for byte, in the client\'s case, and compresses answers against it', async () => {
    const query = buildQuery({ name: 'HeLLo.MeSh.LoCaL', type: 'A' });
    const raw = (await server.send(query))!;
    const questionEnd = HEADER + questionSize('HeLLo.MeSh.LoCaL');
    expect(raw.subarray(HEADER, questionEnd).equals(query.subarray(HEADER, questionEnd))).toBe(true);
    // The answer's owner is a pointer to offset 12, i.e. the client's spelling.
    expect([...raw.subarray(questionEnd, questionEnd + 2)]).toEqual([0xc0, 12]);
    const decoded = decode(raw);
    expect(decoded.answers.map((record) => [record.name, record.address])).toEqual([['HeLLo.MeSh.LoCaL', '192.0.2.10']]);
    expect(raw.length).toBe(questionEnd + A_RECORD);
  });

  it('echoes the opcode (visible on NOTIMP, the only non-QUERY answer)', async () => {
    const decoded = await server.ask({ name: 'hello.mesh.local', opcode: 4 });
    expect(decoded).toMatchObject({ opcode: 4, qr: true, rcode: Rcode.NOTIMP });
  });
});

describe('OPT in responses (RFC 6891 §6.1.1, §7)', () => {
  const big = staticAddresses('big.mesh.local', 100);
  const server = makeHandler({ records: [{ name: 'hello', type: 'A', value: '192.0.2.10' }, ...big], ready: true });
  const notReady = makeHandler({ ready: false });
  const cases: Array<[string, QueryOptions, number, ReturnType<typeof makeHandler>]> = [
    ['positive', { name: 'hello.mesh.local' }, Rcode.NOERROR, server],
    ['NXDOMAIN', { name: 'nope.mesh.local' }, Rcode.NXDOMAIN, server],
    ['NODATA', { name: 'hello.mesh.local', type: 'MX' }, Rcode.NOERROR, server],
    ['REFUSED outside the zone', { name: 'example.org' }, Rcode.REFUSED, server],
    ['FORMERR for qtype OPT', { name: 'hello.mesh.local', type: RRType.OPT }, Rcode.FORMERR, server],
    ['NOTIMP', { name: 'hello.mesh.local', opcode: 2 }, Rcode.NOTIMP, server],
    ['REFUSED AXFR', { name: 'mesh.local', type: 'AXFR' }, Rcode.REFUSED, server],
    ['truncated', { name: 'big.mesh.local' }, Rcode.NOERROR, server],
    ['SERVFAIL not ready', { name: 'nope.mesh.local' }, Rcode.SERVFAIL, notReady],
  ];

  it.each(cases)('%s: OPT iff the query had one', async (_label, query, rcode, handler) => {
    const plain = await handler.ask(query);
    expect(plain.rcode).toBe(rcode);
    expect(plain.opt).toBeNull();
    expect(plain.counts.ar).toBe(plain.additionals.length);

    const withOpt = await handler.ask({ ...query, edns: { udpSize: 512 } });
    expect(withOpt.rcode).toBe(rcode);
    expect(withOpt.opt).toMatchObject({ version: 0, udpSize: 1232 });
    expect(withOpt.counts.ar).toBe(withOpt.additionals.length + 1);
  });

  it('truncated responses keep the OPT and DO: header + question + OPT, zero counts', async () => {
    const decoded = await server.ask({ name: 'big.mesh.local', edns: { udpSize: 512, do: true } });
    expect(decoded).toMatchObject({ tc: true, counts: { qd: 1, an: 0, ns: 0, ar: 1 }, opt: { do: true } });
    expect(decoded.size).toBe(HEADER + questionSize('big.mesh.local') + OPT);
  });

  it('copies DO from the query (RFC 3225 §3)', async () => {
    expect((await server.ask({ name: 'hello.mesh.local', edns: { do: true } })).opt?.do).toBe(true);
    expect((await server.ask({ name: 'hello.mesh.local', edns: { do: false } })).opt?.do).toBe(false);
    expect((await server.ask({ name: 'nope.mesh.local', edns: { do: true } })).opt?.do).toBe(true);
  });

  it('advertises our payload size whatever the client asked for', async () => {
    for (const udpSize of [0, 512, 1232, 4096, 65535]) {
      expect((await server.ask({ name: 'hello.mesh.local', edns: { udpSize } })).opt?.udpSize).toBe(1232);
    }
    const custom = makeHandler({ udpPayloadSize: 1400 });
    expect((await custom.ask({ name: 'mesh.local', type: 'SOA', edns: { udpSize: 4096 } })).opt?.udpSize).toBe(1400);
  });

  it('drops the query\'s own options (cookie, ECS, padding are not echoed)', async () => {
    const decoded = await server.ask({
      name: 'hello.mesh.local',
      edns: { options: [{ code: 10, data: Buffer.alloc(8, 1) }, { code: 8, data: Buffer.from([0, 1, 24, 0, 10, 0, 0]) }, { code: 12, data: Buffer.alloc(32) }] },
    });
    expect(decoded.opt?.optionCodes).toEqual([]);
  });

  it('encodes an Extended DNS Error as option 15: INFO-CODE then UTF-8 text (RFC 8914 §2)', async () => {
    const raw = (await server.send(buildQuery({ name: 'example.org', edns: {} })))!;
    const decoded = decode(raw);
    expect(decoded.opt?.ede).toEqual({ code: EdeCode.NOT_AUTHORITATIVE, text: 'not a mesh name' });
    const text = Buffer.from('not a mesh name');
    const optBytes = raw.subarray(raw.length - (OPT + 4 + 2 + text.length));
    expect(optBytes[0]).toBe(0);
    expect(optBytes.readUInt16BE(1)).toBe(RRType.OPT);
    expect(optBytes.readUInt16BE(9)).toBe(4 + 2 + text.length);
    expect(optBytes.readUInt16BE(11)).toBe(15);
    expect(optBytes.readUInt16BE(13)).toBe(2 + text.length);
    expect(optBytes.readUInt16BE(15)).toBe(EdeCode.NOT_AUTHORITATIVE);
    expect(optBytes.subarray(17).equals(text)).toBe(true);
    // Without EDNS there is nowhere to put it.
    const plain = await server.ask({ name: 'example.org' });
    expect(plain.size).toBe(HEADER + questionSize('example.org'));
  });

  it('optRecord puts the extended RCODE in the TTL\'s top octet and version 0 below it', () => {
    const opt = optRecord(1232, 1, true);
    expect([...opt]).toEqual([0, 0, 41, 0x04, 0xd0, 1, 0, 0x80, 0, 0, 0]);
  });
});

describe('truncation (RFC 1035 §4.2.1, RFC 6891 §6.2.5, RFC 2181 §9)', () => {
  it('responseSizeLimit: 512 without EDNS; min(client, ours) but never below 512 with it; 65535 on TCP', () => {
    const edns = (udpSize: number) => ({ udpSize, version: 0, dnssecOk: false, optStart: 0, optEnd: 0, hasClientSubnet: false });
    expect(responseSizeLimit(null, 'udp', 1232)).toBe(512);
    expect(responseSizeLimit(edns(4096), 'udp', 1232)).toBe(1232);
    expect(responseSizeLimit(edns(1000), 'udp', 1232)).toBe(1000);
    expect(responseSizeLimit(edns(512), 'udp', 1232)).toBe(512);
    expect(responseSizeLimit(edns(4096), 'udp', 1400)).toBe(1400);
    expect(responseSizeLimit(null, 'tcp', 1232)).toBe(65535);
    expect(responseSizeLimit(edns(512), 'tcp', 1232)).toBe(65535);
  });

  const limits: Array<[string, QueryOptions['edns'], number, number]> = [
    // label, EDNS of the query, our payload size, expected limit
    ['no EDNS: 512', null, 1232, 512],
    ['EDNS 4096: our 1232', { udpSize: 4096 }, 1232, 1232],
    ['EDNS 1000: the client\'s 1000', { udpSize: 1000 }, 1232, 1000],
    ['EDNS 100: raised to 512', { udpSize: 100 }, 1232, 512],
    ['EDNS 4096 with ours at 1400: 1400', { udpSize: 4096 }, 1400, 1400],
  ];

  it.each(limits)('%s — an answer of exactly the limit fits, one record more sets TC', async (_label, edns, ours, limit) => {
    const extra = edns ? OPT : 0;
    const fits = exactFit(limit, extra, 'a');
    const over = exactFit(limit, extra, 'b');
    const server = makeHandler({ udpPayloadSize: ours, records: [...staticAddresses(fits.name, fits.count), ...staticAddresses(over.name, over.count + 1)] });

    const full = await server.ask({ name: fits.name, edns });
    expect(full).toMatchObject({ tc: false, rcode: Rcode.NOERROR, counts: { qd: 1, an: fits.count, ns: 0, ar: edns ? 1 : 0 } });
    expect(full.size).toBe(limit);

    const truncated = await server.ask({ name: over.name, edns });
    expect(truncated).toMatchObject({ tc: true, aa: true, rcode: Rcode.NOERROR, counts: { qd: 1, an: 0, ns: 0, ar: edns ? 1 : 0 } });
    expect(truncated.size).toBe(HEADER + questionSize(over.name) + extra);

    // The same query over TCP is never truncated at these sizes.
    const overTcp = await server.ask({ name: over.name, edns }, 'tcp');
    expect(overTcp).toMatchObject({ tc: false, counts: { an: over.count + 1 } });
    expect(overTcp.size).toBe(limit + A_RECORD);
  });

  describe('ADDITIONAL goes first, without TC', () => {
    // N instances of "svc": the SRV answer at _mcp._tcp.svc carries N SRV records and, in
    // ADDITIONAL, each target's A record.
    const qname = '_mcp._tcp.svc.mesh.local';
    const instances = (count: number) => Array.from({ length: count }, (_, index) =>
      meshInstance({ id: `svc-${String(index).padStart(2, '0')}`, name: 'svc', port: 9000 + index, addresses: [`10.9.0.${index + 1}`] }));
    // SRV: pointer owner + fixed + priority, weight, port (6) + uncompressed target (RFC 2782).
    const srvSize = (target: string) => POINTER + FIXED + 6 + encodeName(target).length;
    // A glue: the target's first label + a pointer to "mesh.local" inside the question.
    const glueSize = (target: string) => 1 + target.split('.')[0]!.length + POINTER + FIXED + 4;
    const sizes = (count: number) => {
      const targets = instances(count).map((instance) => `${instance.id}.mesh.local`);
      const answers = targets.reduce((sum, target) => sum + srvSize(target), 0);
      const glue = targets.reduce((sum, target) => sum + glueSize(target), 0);
      return { answers, glue, fixed: HEADER + questionSize(qname) };
    };

    it('keeps ANSWER and drops all of ADDITIONAL when only that fits', async () => {
      const count = 12;
      const { answers, glue, fixed } = sizes(count);
      expect(fixed + answers).toBeLessThanOrEqual(512);
      expect(fixed + answers + glue).toBeGreaterThan(512);
      const server = makeHandler({ instances: instances(count) });
      const decoded = await server.ask({ name: qname, type: 'SRV' });
      expect(decoded).toMatchObject({ tc: false, counts: { qd: 1, an: count, ns: 0, ar: 0 } });
      expect(decoded.size).toBe(fixed + answers);

      // With room (EDNS 1232), the glue is there.
      const roomy = await server.ask({ name: qname, type: 'SRV', edns: { udpSize: 4096 } });
      expect(roomy).toMatchObject({ tc: false, counts: { an: count, ar: count + 1 } });
      expect(roomy.size).toBe(fixed + answers + glue + OPT);
      expect(roomy.additionals.map((record) => record.address).sort()).toEqual(instances(count).map((instance) => instance.addresses[0]).sort());
    });

    it('sets TC once ANSWER alone no longer fits', async () => {
      const count = 13;
      const { answers, fixed } = sizes(count);
      expect(fixed + answers).toBeGreaterThan(512);
      const decoded = await makeHandler({ instances: instances(count) }).ask({ name: qname, type: 'SRV' });
      expect(decoded).toMatchObject({ tc: true, counts: { qd: 1, an: 0, ns: 0, ar: 0 } });
      expect(decoded.size).toBe(fixed);
    });
  });

  it('TCP is bounded by the 16-bit length: 65535 octets fit, 65536 set TC', async () => {
    // One TXT record at t.mesh.local (no EDNS): HEADER + question + POINTER + FIXED + rdata.
    const name = 't.mesh.local';
    const rdataForLimit = 65535 - HEADER - questionSize(name) - POINTER - FIXED;
    const strings = (rdata: number) => {
      const out: string[] = [];
      for (let left = rdata; left > 0; left -= Math.min(256, left)) out.push('x'.repeat(Math.min(256, left) - 1));
      return out;
    };
    expect(strings(rdataForLimit).reduce((sum, text) => sum + text.length + 1, 0)).toBe(rdataForLimit);
    const server = makeHandler({
      records: [
        { name: 't', type: 'TXT', value: strings(rdataForLimit) },
        { name: 'u', type: 'TXT', value: strings(rdataForLimit + 1) },
      ],
    });
    const fits = await server.ask({ name, type: 'TXT' }, 'tcp');
    expect(fits).toMatchObject({ tc: false, counts: { an: 1 } });
    expect(fits.size).toBe(65535);
    const over = await server.ask({ name: 'u.mesh.local', type: 'TXT' }, 'tcp');
    expect(over).toMatchObject({ tc: true, counts: { an: 0 } });
    expect(over.size).toBe(HEADER + questionSize('u.mesh.local'));
  });
});

describe('assembleResponse: record splicing', () => {
  // Synthetic sections: three 16-octet A answers, one 20-octet authority record, one 16-octet
  // additional; bytes are tagged so their order is visible.
  const answer = (tag: number) => Buffer.concat([Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4]), Buffer.from([10, 0, 0, tag])]);
  const authority = Buffer.concat([Buffer.from([0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 5, 0, 8, 7]), Buffer.from('authori')]);
  const additional = answer(99);
  const sections: RecordSections = {
    rcode: Rcode.NOERROR,
    authoritative: true,
    body: Buffer.concat([answer(1), answer(2), answer(3), authority, additional]),
    answerCount: 3,
    authorityCount: 1,
    additionalCount: 1,
    withoutAdditionalLength: 3 * 16 + authority.length,
    rotationUnit: 16,
  };
  const query = buildQuery({ name: 'r.mesh.local' });
  const parsed = parseRequest(query);
  if (!parsed.ok) throw new Error('query did not parse');
  const settings = (rotation: number, sizeLimit = 512) => ({ recursionAvailable: false, udpPayloadSize: 1232, sizeLimit, rotation });
  const answerTags = (raw: Buffer) => decode(raw).answers.map((record) => record.address);

  it('rotates the ANSWER set by whole records and leaves AUTHORITY and ADDITIONAL in place', () => {
    expect(answerTags(assembleResponse(parsed.request, sections, settings(0)))).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    expect(answerTags(assembleResponse(parsed.request, sections, settings(1)))).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.1']);
    expect(answerTags(assembleResponse(parsed.request, sections, settings(5)))).toEqual(['10.0.0.3', '10.0.0.1', '10.0.0.2']);
    expect(answerTags(assembleResponse(parsed.request, sections, settings(-1)))).toEqual(['10.0.0.3', '10.0.0.1', '10.0.0.2']);
    const decoded = decode(assembleResponse(parsed.request, sections, settings(1)));
    expect(decoded.errors).toEqual([]);
    expect(decoded.authorities.map((record) => record.data)).toEqual([['authori']]);
    expect(decoded.additionals.map((record) => record.address)).toEqual(['10.0.0.99']);
  });

  it('drops ADDITIONAL but keeps AUTHORITY (rotated answers included) when only that fits', () => {
    const fixed = HEADER + questionSize('r.mesh.local');
    const raw = assembleResponse(parsed.request, sections, settings(2, fixed + sections.withoutAdditionalLength));
    const decoded = decode(raw);
    expect(decoded).toMatchObject({ tc: false, counts: { an: 3, ns: 1, ar: 0 } });
    expect(answerTags(raw)).toEqual(['10.0.0.3', '10.0.0.1', '10.0.0.2']);
    expect(raw.subarray(raw.length - authority.length).equals(authority)).toBe(true);
    const truncated = decode(assembleResponse(parsed.request, sections, settings(2, fixed + sections.withoutAdditionalLength - 1)));
    expect(truncated).toMatchObject({ tc: true, counts: { an: 0, ns: 0, ar: 0 } });
  });
});

describe('relayed flags and rcodes (issue 6 item 7)', () => {
  const parse = (options: Omit<QueryOptions, 'name'> = {}) => {
    const parsed = parseRequest(buildQuery({ name: 'x.example.com', ...options }));
    if (!parsed.ok) throw new Error('query did not parse');
    return parsed.request;
  };
  const settings = { recursionAvailable: true, udpPayloadSize: 1232, sizeLimit: 512, rotation: 0 };
  const record = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 192, 0, 2, 1]);
  const sections = (rcode: number, truncated?: boolean): RecordSections => ({
    ...{ rcode, authoritative: false, body: record, answerCount: 1, authorityCount: 0, additionalCount: 0, withoutAdditionalLength: record.length, rotationUnit: 0 },
    ...(truncated === undefined ? {} : { truncated }),
  });

  it('keeps the TC bit of a truncated upstream answer (RecordSections.truncated), and only then', () => {
    expect(decode(assembleResponse(parse(), sections(Rcode.NOERROR, true), settings))).toMatchObject({ tc: true, counts: { an: 1 } });
    expect(decode(assembleResponse(parse(), sections(Rcode.NOERROR, false), settings)).tc).toBe(false);
    expect(decode(assembleResponse(parse(), sections(Rcode.NOERROR), settings)).tc).toBe(false);
  });

  it('answers SERVFAIL, not rcode & 0xF, to a client without OPT when the rcode is extended (RFC 6891 §6.1.3)', () => {
    // BADCOOKIE 23 would read as YXDOMAIN 7; BADVERS 16 as NOERROR 0.
    for (const rcode of [23, 16]) {
      const decoded = decode(assembleResponse(parse(), sections(rcode), settings));
      expect(decoded).toMatchObject({ rcode: Rcode.SERVFAIL, counts: { an: 0, ar: 0 } });
      expect(decoded.opt).toBeNull();
    }
  });

  it('keeps an extended rcode for a client with OPT: low bits in the header, high bits in the OPT', () => {
    const raw = assembleResponse(parse({ edns: {} }), sections(23), settings);
    expect(raw.readUInt16BE(2) & 0xf).toBe(7);
    expect(decode(raw).opt).not.toBeNull();
    expect(raw[raw.length - 11 + 5]).toBe(1);
  });
});
