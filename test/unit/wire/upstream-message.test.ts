import dns2 from 'dns2';
import { describe, expect, it } from 'vitest';
import { Flag, Rcode, RRType } from '../../../src/wire/constants.ts';
import { countDownTtls, patchTtls } from '../../../src/wire/ttl.ts';
import {
  indexUpstreamMessage, questionMatches, type IndexedMessage, type IndexResult,
} from '../../../src/wire/upstream-message.ts';
import { buildQuery, encodeName, encodeOpt, encodeRecord } from '../../support/dns-messages.ts';
import { seededRandom } from '../../support/seeded-random.ts';

const RESPONSE_FLAGS = Flag.QR | Flag.RD | Flag.RA;
const QUESTION_POINTER = Buffer.from([0xc0, 0x0c]);

function indexed(message: Buffer): IndexedMessage {
  const result = indexUpstreamMessage(message);
  if ('error' in result) throw new Error(`unexpected error: ${result.error}`);
  return result;
}

function errorOf(message: Buffer): string {
  const result = indexUpstreamMessage(message);
  if (!('error' in result)) throw new Error('expected an error, got an index');
  return result.error;
}

/** TTL values read back through the index, in record order. */
function ttlsAt(message: Buffer, index: IndexedMessage): number[] {
  return Array.from(index.ttlOffsets, (offset) => message.readUInt32BE(index.questionEnd + offset));
}

function a(address: number[], ttl: number, nameBytes: Buffer = QUESTION_POINTER): Buffer {
  return encodeRecord({ nameBytes, type: RRType.A, ttl, rdata: Buffer.from(address) });
}

function u32(...values: number[]): Buffer {
  const out = Buffer.alloc(values.length * 4);
  values.forEach((value, index) => out.writeUInt32BE(value >>> 0, index * 4));
  return out;
}

/** SOA RDATA: MNAME, RNAME, SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM. */
function soaRdata(minimum: number, mname = encodeName('ns1.example.com.'), rname = encodeName('hostmaster.example.com.')): Buffer {
  return Buffer.concat([mname, rname, u32(2024010101, 7200, 900, 1209600, minimum)]);
}

/** The message dns2 writes for a CNAME chain with glue, an EDE and DO: compressed as real servers do. */
function dns2Response(): Buffer {
  const packet = new dns2.Packet();
  Object.assign(packet.header, { id: 0x4242, qr: 1, rd: 1, ra: 1 });
  packet.questions.push({ name: 'WwW.Example.COM', type: RRType.A, class: 1 } as dns2.Packet.Question);
  // dns2 defaults a record's class to ANY: class 1 is set explicitly.
  packet.answers.push({ name: 'WwW.Example.COM', type: RRType.CNAME, class: 1, ttl: 300, domain: 'cdn.example.com' } as dns2.Packet.Resource);
  packet.answers.push({ name: 'cdn.example.com', type: RRType.A, class: 1, ttl: 60, address: '192.0.2.7' } as dns2.Packet.Resource);
  packet.authorities.push({ name: 'example.com', type: RRType.NS, class: 1, ttl: 3600, ns: 'ns1.example.com' } as dns2.Packet.Resource);
  packet.additionals.push({ name: 'ns1.example.com', type: RRType.A, class: 1, ttl: 7200, address: '192.0.2.53' } as dns2.Packet.Resource);
  packet.additionals.push(dns2.Packet.Resource.EDNS([dns2.Packet.Resource.EDNS.EDE(3, 'from cache')], { udpPayloadSize: 1232, doFlag: true }));
  return packet.toBuffer();
}

describe('indexUpstreamMessage on a compressed response written by dns2', () => {
  const message = dns2Response();
  const index = indexed(message);

  it('reads the header, the question (lowercased) and the counts without the OPT', () => {
    expect(index).toMatchObject({
      id: 0x4242, rcode: Rcode.NOERROR, truncated: false, authoritative: false, rotationUnit: 0,
      qname: 'www.example.com', qnameWireLength: 17, qtype: RRType.A, qclass: 1, questionEnd: 12 + 17 + 4,
      answerCount: 2, authorityCount: 1, additionalCount: 1, droppedAdditional: 0,
    });
    expect(index.flags).toBe(message.readUInt16BE(2));
  });

  it('keeps the compressed bytes as sent: the body is everything between the question and the OPT', () => {
    const optStart = index.opt!.start;
    expect(index.opt!.end).toBe(message.length);
    expect(index.body.equals(message.subarray(index.questionEnd, optStart))).toBe(true);
    // The CNAME target and later owners point into the question: that is what lets the body follow
    // any client question for the same name.
    expect(index.body.includes(Buffer.from([0xc0, 0x10]))).toBe(true);
  });

  it('locates every TTL field and the end of AUTHORITY', () => {
    expect(ttlsAt(message, index)).toEqual([300, 60, 3600, 7200]);
    expect(index.minTtl).toBe(60);
    // The glue A record: a 2-octet pointer owner, 10 fixed octets, 4 octets of address.
    expect(index.body.length - index.withoutAdditionalLength).toBe(16);
  });

  it('reads the OPT: payload size, DO, version and the Extended DNS Error', () => {
    expect(index.opt).toMatchObject({ udpSize: 1232, dnssecOk: true, version: 0, extendedRcode: 0, ede: [{ code: 3, text: 'from cache' }] });
  });

  it('has no SOA, so no negative TTL', () => {
    expect(index.negativeTtl).toBeNull();
  });
});

describe('indexUpstreamMessage: the OPT', () => {
  it('cuts ADDITIONAL at an OPT that is not last, keeping every byte before it in place (RFC 2181 §9)', () => {
    const answer = a([192, 0, 2, 1], 300);
    const glue = a([192, 0, 2, 53], 600, encodeName('ns1.example.com.'));
    const questionEnd = 12 + 13 + 4;
    // The record after the OPT compresses against the glue's owner: splicing the OPT out would move
    // bytes under that pointer; cutting moves nothing that is kept.
    const afterOpt = encodeRecord({ nameBytes: Buffer.from([0xc0, questionEnd + answer.length]), type: 'AAAA', ttl: 5, rdata: Buffer.alloc(16, 1) });
    const message = buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', answerRecords: [answer], extraRecords: [glue, encodeOpt({ udpSize: 4096 }), afterOpt] });
    const index = indexed(message);
    expect(index).toMatchObject({ answerCount: 1, additionalCount: 1, droppedAdditional: 1, questionEnd });
    expect(index.body.equals(Buffer.concat([answer, glue]))).toBe(true);
    expect(index.withoutAdditionalLength).toBe(answer.length);
    expect(ttlsAt(message, index)).toEqual([300, 600]);
    expect(index.minTtl).toBe(300); // the cut AAAA's TTL 5 is not served, so it does not count
    expect(index.opt).toMatchObject({ udpSize: 4096, start: questionEnd + answer.length + glue.length });
  });

  it('merges the extended RCODE from the OPT TTL (RFC 6891 §6.1.3) and reads several EDEs beside other options', () => {
    const edeOption = (code: number, text: string) => ({ code: 15, data: Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(text)]) });
    const message = buildQuery({
      flags: RESPONSE_FLAGS | 7, name: 'example.com',
      edns: { extendedRcode: 1, version: 0, options: [{ code: 10, data: Buffer.alloc(24, 7) }, edeOption(18, 'blocked'), edeOption(22, '')] },
    });
    const index = indexed(message);
    expect(index.rcode).toBe(23); // BADCOOKIE = (1 << 4) | 7
    expect(index.opt).toMatchObject({ extendedRcode: 1, ede: [{ code: 18, text: 'blocked' }, { code: 22, text: '' }] });
    expect(index.body.length).toBe(0);
    expect(index.minTtl).toBeNull();
  });

  it('ignores an EDE too short to hold an INFO-CODE rather than failing the answer', () => {
    const message = buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', edns: { options: [{ code: 15, data: Buffer.from([3]) }] } });
    expect(indexed(message).opt!.ede).toEqual([]);
  });

  it('refuses an OPT outside ADDITIONAL, a second OPT, an OPT with an owner, options overrunning the RDATA', () => {
    expect(errorOf(buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', answerRecords: [encodeOpt()] }))).toBe('answer[0] OPT outside ADDITIONAL');
    expect(errorOf(buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', authorityRecords: [encodeOpt()] }))).toBe('authority[0] OPT outside ADDITIONAL');
    expect(errorOf(buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', extraRecords: [encodeOpt()], edns: {} }))).toBe('additional[1] second OPT');
    expect(errorOf(buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', edns: { ownerBytes: QUESTION_POINTER } }))).toBe('additional[0] OPT owner is not the root');
    expect(errorOf(buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', edns: { options: [{ code: 10, data: Buffer.alloc(4), length: 9 }] } })))
      .toBe('additional[0] OPT options overrun the RDATA');
  });

  it('still finds a second OPT after a cut (the records after the first OPT are walked, not kept)', () => {
    const message = buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', extraRecords: [encodeOpt(), a([1, 2, 3, 4], 1)], edns: {} });
    expect(errorOf(message)).toBe('additional[2] second OPT');
  });
});

describe('indexUpstreamMessage: negative answers (RFC 2308)', () => {
  function negative(rcode: number, soaTtl: number, minimum: number, soa = soaRdata(minimum)): IndexResult {
    const soaRecord = encodeRecord({ nameBytes: Buffer.from([0xc0, 0x11]), type: 'SOA', ttl: soaTtl, rdata: soa });
    return indexUpstreamMessage(buildQuery({ flags: RESPONSE_FLAGS | rcode, name: 'nope.example.com', authorityRecords: [soaRecord] }));
  }

  it('takes min(SOA TTL, SOA MINIMUM) from the SOA in AUTHORITY (§5)', () => {
    expect(negative(Rcode.NXDOMAIN, 3600, 300)).toMatchObject({ rcode: Rcode.NXDOMAIN, negativeTtl: 300, minTtl: 3600, answerCount: 0, authorityCount: 1 });
    expect(negative(Rcode.NOERROR, 60, 300)).toMatchObject({ rcode: Rcode.NOERROR, negativeTtl: 60, minTtl: 60 });
  });

  it('reads MINIMUM behind compressed MNAME and RNAME', () => {
    // "ns1" + pointer to "example.com" in the question, and a bare pointer for RNAME.
    const soa = soaRdata(42, Buffer.from([3, 0x6e, 0x73, 0x31, 0xc0, 0x11]), Buffer.from([0xc0, 0x11]));
    expect(negative(Rcode.NXDOMAIN, 900, 42, soa)).toMatchObject({ negativeTtl: 42 });
  });

  it('treats a TTL or MINIMUM with the high bit set as 0 (RFC 2181 §8)', () => {
    expect(negative(Rcode.NXDOMAIN, 0x80000000, 300)).toMatchObject({ negativeTtl: 0, minTtl: 0 });
    expect(negative(Rcode.NXDOMAIN, 300, 0xffffffff)).toMatchObject({ negativeTtl: 0, minTtl: 300 });
  });

  it('uses the first SOA and ignores a SOA outside AUTHORITY', () => {
    const soa = (ttl: number, minimum: number) => encodeRecord({ nameBytes: Buffer.from([0xc0, 0x11]), type: 'SOA', ttl, rdata: soaRdata(minimum) });
    const message = buildQuery({ flags: RESPONSE_FLAGS, name: 'nope.example.com', answerRecords: [soa(10, 10)], authorityRecords: [soa(600, 120), soa(5, 5)] });
    expect(indexed(message).negativeTtl).toBe(120);
  });

  it('refuses a SOA whose RDATA does not end exactly after the five counters', () => {
    const short = soaRdata(300).subarray(0, -1);
    expect('error' in negative(Rcode.NXDOMAIN, 300, 300, short)).toBe(true);
    const long = Buffer.concat([soaRdata(300), Buffer.from([0])]);
    expect(negative(Rcode.NXDOMAIN, 300, 300, long)).toEqual({ error: 'authority[0] malformed SOA RDATA' });
    const forwardPointer = soaRdata(300, Buffer.from([0xc0, 0xff]));
    expect(negative(Rcode.NXDOMAIN, 300, 300, forwardPointer)).toEqual({ error: 'authority[0] malformed SOA RDATA' });
  });
});

describe('indexUpstreamMessage: truncation, trailing bytes, malformed input', () => {
  const answers = [a([192, 0, 2, 1], 30), a([192, 0, 2, 2], 20), a([192, 0, 2, 3], 10)];
  const full = buildQuery({ flags: RESPONSE_FLAGS | Flag.TC, name: 'big.example.com', answerRecords: answers });

  it('reports TC and keeps the complete records of a message cut mid-record', () => {
    const cut = full.subarray(0, full.length - 3);
    const index = indexed(cut);
    expect(index).toMatchObject({ truncated: true, answerCount: 2, authorityCount: 0, additionalCount: 0 });
    expect(index.body.equals(Buffer.concat(answers.slice(0, 2)))).toBe(true);
    expect(index.withoutAdditionalLength).toBe(index.body.length);
    expect(ttlsAt(cut, index)).toEqual([30, 20]);
  });

  it('accepts a TC answer with no records at all (header + question, as most servers send)', () => {
    const bare = buildQuery({ flags: RESPONSE_FLAGS | Flag.TC, name: 'big.example.com' });
    expect(indexed(bare)).toMatchObject({ truncated: true, answerCount: 0, minTtl: null });
  });

  it('refuses the same cut without TC: the counts promise records that are not there', () => {
    const cut = Buffer.from(full.subarray(0, full.length - 3));
    cut.writeUInt16BE(RESPONSE_FLAGS, 2);
    expect(errorOf(cut)).toBe('answer[2] RDATA overruns the message');
  });

  it('ignores bytes after the last record (as miekg/dns does); they are not part of the body', () => {
    const message = Buffer.concat([buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', answerRecords: answers }), Buffer.from([0xde, 0xad])]);
    expect(indexed(message).body.equals(Buffer.concat(answers))).toBe(true);
  });

  it.each([
    ['shorter than a header', Buffer.alloc(11), 'shorter than a DNS header'],
    ['a query (QR=0)', buildQuery({ name: 'example.com' }), 'not a response (QR=0)'],
    ['no question', buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', noQuestion: true }), 'QDCOUNT 0, expected 1'],
    ['two questions', buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', counts: { qd: 2 } }), 'QDCOUNT 2, expected 1'],
    ['a pointer in the question', buildQuery({ flags: RESPONSE_FLAGS, name: QUESTION_POINTER }), 'question name: pointer_in_question'],
    ['a question without type and class', buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com' }).subarray(0, 12 + 13 + 2), 'question overruns the message'],
    ['a forward pointer in an owner', buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', answerRecords: [a([1, 1, 1, 1], 1, Buffer.from([0xc0, 0x40]))] }), 'answer[0] owner has a pointer that does not point backwards'],
    ['a pointer into the header', buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', answerRecords: [a([1, 1, 1, 1], 1, Buffer.from([0xc0, 0x02]))] }), 'answer[0] owner has a pointer that does not point backwards'],
    ['an extended label type', buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', answerRecords: [a([1, 1, 1, 1], 1, Buffer.from([0x41, 0]))] }), 'answer[0] owner uses an extended label type'],
    ['a count beyond the records', buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', answerRecords: [a([1, 1, 1, 1], 1)], counts: { an: 2 } }), 'answer[1] owner overruns the message'],
    ['fixed fields cut short', Buffer.concat([buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', counts: { ns: 1 } }), Buffer.from([0, 0, 1, 0, 1])]), 'authority[0] fixed fields overrun the message'],
  ])('refuses %s', (_label, message, error) => {
    expect(indexUpstreamMessage(message)).toEqual({ error });
  });
});

describe('questionMatches (RFC 5452 §9.1)', () => {
  const index = indexed(buildQuery({ flags: RESPONSE_FLAGS, name: 'WwW.Example.COM', type: 'AAAA' }));

  it('compares the name case-insensitively and type and class exactly', () => {
    expect(questionMatches(index, 'www.example.com', RRType.AAAA, 1)).toBe(true);
    expect(questionMatches(index, 'WWW.EXAMPLE.COM', RRType.AAAA, 1)).toBe(true);
    expect(questionMatches(index, 'www.example.org', RRType.AAAA, 1)).toBe(false);
    expect(questionMatches(index, 'www.example.com', RRType.A, 1)).toBe(false);
    expect(questionMatches(index, 'www.example.com', RRType.AAAA, 3)).toBe(false);
  });
});

describe('patchTtls and countDownTtls', () => {
  const answers = [a([192, 0, 2, 1], 300), a([192, 0, 2, 2], 100)];
  const glue = a([192, 0, 2, 53], 50, encodeName('ns.example.com.'));
  const message = buildQuery({ flags: RESPONSE_FLAGS, name: 'example.com', answerRecords: answers, extraRecords: [glue] });
  const index = indexed(message);

  it('rewrites every TTL through the transform and clamps the result to [0, 2^31-1]', () => {
    const copy = Buffer.from(message);
    const seen: number[] = [];
    patchTtls(copy, index.questionEnd, index.ttlOffsets, index.body.length, (ttl) => (seen.push(ttl), ttl === 300 ? -5 : ttl === 100 ? 2 ** 32 : ttl + 0.7));
    expect(seen).toEqual([300, 100, 50]);
    expect(ttlsAt(copy, index)).toEqual([0, 0x7fffffff, 50]);
    // Nothing but the TTL fields changed.
    for (const offset of index.ttlOffsets) copy.writeUInt32BE(message.readUInt32BE(index.questionEnd + offset), index.questionEnd + offset);
    expect(copy.equals(message)).toBe(true);
  });

  it('touches only TTLs inside the bytes present (ADDITIONAL dropped from a response)', () => {
    const withoutAdditional = Buffer.from(message.subarray(0, index.questionEnd + index.withoutAdditionalLength));
    patchTtls(withoutAdditional, index.questionEnd, index.ttlOffsets, index.withoutAdditionalLength, () => 7);
    expect([0, 1].map((i) => withoutAdditional.readUInt32BE(index.questionEnd + index.ttlOffsets[i]!))).toEqual([7, 7]);
    expect(withoutAdditional.length).toBe(index.questionEnd + index.withoutAdditionalLength); // no write past the end
    const none = Buffer.from(message);
    patchTtls(none, index.questionEnd, index.ttlOffsets, 0, () => 7);
    expect(none.equals(message)).toBe(true);
  });

  it('counts TTLs down by whole seconds and stops at 0', () => {
    const copy = Buffer.from(message);
    countDownTtls(copy, index.questionEnd, index.ttlOffsets, index.body.length, 60);
    expect(ttlsAt(copy, index)).toEqual([240, 40, 0]);
  });
});

describe('indexUpstreamMessage under random mutation', () => {
  /** The shared seeded PRNG (mulberry32), so a failure can be replayed. */
  const random = (seed: number): (() => number) => seededRandom(seed).next;

  const negative = buildQuery({
    flags: RESPONSE_FLAGS | Rcode.NXDOMAIN, name: 'nope.example.com',
    authorityRecords: [encodeRecord({ nameBytes: Buffer.from([0xc0, 0x11]), type: 'SOA', ttl: 900, rdata: soaRdata(60, Buffer.from([3, 0x6e, 0x73, 0x31, 0xc0, 0x11]), Buffer.from([0xc0, 0x11])) })],
    edns: { do: true, options: [{ code: 15, data: Buffer.from([0, 3, 0x61]) }] },
  });
  const bases = [dns2Response(), negative, buildQuery({ flags: RESPONSE_FLAGS | Flag.TC, name: 'big.example.com', answerRecords: [a([1, 2, 3, 4], 9), a([5, 6, 7, 8], 8)] })];

  function mutate(base: Buffer, next: () => number): Buffer {
    const pick = (n: number) => Math.floor(next() * n);
    let message = Buffer.from(base);
    const edits = 1 + pick(4);
    for (let edit = 0; edit < edits; edit++) {
      const at = pick(message.length);
      switch (pick(6)) {
        case 0: message[at] = pick(256); break;
        case 1: message[at] = message[at]! ^ (1 << pick(8)); break;
        case 2: message = message.subarray(0, at); break;
        case 3: message = Buffer.concat([message.subarray(0, at), Buffer.from([pick(256)]), message.subarray(at)]); break;
        case 4: message = Buffer.concat([message.subarray(0, at), message.subarray(at + 1 + pick(8))]); break;
        default: if (message.length >= 12) message.writeUInt16BE(pick(4), 4 + 2 * pick(4)); // counts
      }
    }
    return message;
  }

  it('returns an index or an error for 20,000 mutated responses, never throws, and every index is self-consistent', () => {
    const next = random(0x5eed);
    let accepted = 0;
    let refused = 0;
    for (let iteration = 0; iteration < 20_000; iteration++) {
      const message = mutate(bases[iteration % bases.length]!, next);
      let result: IndexResult;
      try {
        result = indexUpstreamMessage(message);
      } catch (error) {
        throw new Error(`threw on ${message.toString('hex')}: ${String(error)}`);
      }
      if ('error' in result) {
        refused++;
        expect(typeof result.error).toBe('string');
        continue;
      }
      accepted++;
      const { body, ttlOffsets } = result;
      // The body is a view of the message right after the question.
      expect(body.buffer).toBe(message.buffer);
      expect(body.byteOffset).toBe(message.byteOffset + result.questionEnd);
      expect(result.questionEnd + body.length).toBeLessThanOrEqual(message.length);
      expect(ttlOffsets.length).toBe(result.answerCount + result.authorityCount + result.additionalCount);
      for (let i = 0; i < ttlOffsets.length; i++) {
        expect(ttlOffsets[i]! + 4).toBeLessThanOrEqual(body.length);
        if (i > 0) expect(ttlOffsets[i]!).toBeGreaterThan(ttlOffsets[i - 1]!);
      }
      expect(result.withoutAdditionalLength).toBeLessThanOrEqual(body.length);
      expect(result.minTtl === null).toBe(ttlOffsets.length === 0);
      if (result.minTtl !== null) expect(result.minTtl).toBeLessThanOrEqual(0x7fffffff);
      if (result.opt) expect(result.opt.start).toBe(result.questionEnd + body.length);
      // Re-indexing header + question + body (the shape a cached response has) finds the same records.
      const header = Buffer.alloc(12);
      header.writeUInt16BE(Flag.QR, 2);
      header.writeUInt16BE(1, 4);
      header.writeUInt16BE(result.answerCount, 6);
      header.writeUInt16BE(result.authorityCount, 8);
      header.writeUInt16BE(result.additionalCount, 10);
      const again = indexUpstreamMessage(Buffer.concat([header, message.subarray(12, result.questionEnd), body]));
      expect(again).toMatchObject({ answerCount: result.answerCount, authorityCount: result.authorityCount, withoutAdditionalLength: result.withoutAdditionalLength });
      expect(Array.from((again as IndexedMessage).ttlOffsets)).toEqual(Array.from(ttlOffsets));
    }
    // Both outcomes are exercised, or the oracle above proves little.
    expect(accepted).toBeGreaterThan(2_000);
    expect(refused).toBeGreaterThan(2_000);
  });
});

describe('answerHasQuestionType (RFC 2308 §2.2: CNAME→NODATA)', () => {
  const cname = encodeRecord({ nameBytes: QUESTION_POINTER, type: RRType.CNAME, ttl: 300, rdata: encodeName('target.example.com.') });
  const target = a([192, 0, 2, 1], 300, encodeName('target.example.com.'));
  const soa = encodeRecord({ name: 'example.com.', type: RRType.SOA, ttl: 3600, rdata: soaRdata(60) });
  const response = (type: string, answers: Buffer[], authority: Buffer[] = []) =>
    indexed(buildQuery({ name: 'www.example.com', type, flags: RESPONSE_FLAGS, answerRecords: answers, authorityRecords: authority }));

  it('is false for a CNAME chain that ends without a record of the asked type', () => {
    expect(response('AAAA', [cname], [soa])).toMatchObject({ answerHasQuestionType: false, answerCount: 1, negativeTtl: 60 });
    expect(response('A', [], [soa]).answerHasQuestionType).toBe(false);
  });

  it('is true when the chain reaches the asked type, or the question is for the CNAME itself', () => {
    expect(response('A', [cname, target]).answerHasQuestionType).toBe(true);
    expect(response('CNAME', [cname]).answerHasQuestionType).toBe(true);
  });

  it('looks at ANSWER only: a record of the type in AUTHORITY or ADDITIONAL does not count', () => {
    const glue = a([192, 0, 2, 53], 300, encodeName('ns1.example.com.'));
    const message = indexed(buildQuery({ name: 'www.example.com', type: 'A', flags: RESPONSE_FLAGS, answerRecords: [cname], authorityRecords: [soa], extraRecords: [glue] }));
    expect(message.answerHasQuestionType).toBe(false);
  });
});
