import { describe, expect, it } from 'vitest';
import { buildUpstreamQuery, headerRcode, isTruncated, matchUpstreamResponse } from '../../../src/forward/message.ts';
import { RRClass, RRType } from '../../../src/wire/constants.ts';
import { parseRequest } from '../../../src/wire/request.ts';
import { buildQuery, encodeName, type QueryOptions } from '../../support/dns-messages.ts';
import { upstreamQuery } from './fake-upstream.ts';

describe('buildUpstreamQuery', () => {
  it('writes our ID, the client question bytes verbatim (case kept), and our OPT', () => {
    const query = upstreamQuery('WwW.Example.COM');
    const message = buildUpstreamQuery(0xbeef, query);
    expect(message.readUInt16BE(0)).toBe(0xbeef);
    expect(message.readUInt16BE(2)).toBe(0x0100); // QR=0, opcode 0, RD=1, CD=0
    expect([message.readUInt16BE(4), message.readUInt16BE(6), message.readUInt16BE(8), message.readUInt16BE(10)]).toEqual([1, 0, 0, 1]);
    expect(message.subarray(12, 12 + query.question.length)).toEqual(query.question);
    expect(message.subarray(12, 12 + query.question.length).includes(Buffer.from('WwW'))).toBe(true);
    // OPT: root owner, type 41, class = 1232, TTL 0 (DO clear), no options.
    expect(message.subarray(12 + query.question.length)).toEqual(Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]));
    const parsed = parseRequest(message);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.request).toMatchObject({ qname: 'www.example.com', qtype: RRType.A, qclass: RRClass.IN });
    expect(parsed.request.edns).toMatchObject({ udpSize: 1232, version: 0, dnssecOk: false, hasClientSubnet: false });
    expect(parsed.request.edns!.optEnd - parsed.request.edns!.optStart).toBe(11);
  });

  it('passes RD as the client set it, CD and DO on, and advertises the configured buffer size', () => {
    const message = buildUpstreamQuery(1, upstreamQuery('a.example', { recursionDesired: false, checkingDisabled: true, dnssecOk: true }), 4096);
    expect(message.readUInt16BE(2)).toBe(0x0010); // RD=0, CD=1
    const parsed = parseRequest(message);
    expect(parsed.ok && parsed.request.edns).toMatchObject({ udpSize: 4096, dnssecOk: true });
  });

  it('masks the ID to 16 bits', () => {
    expect(buildUpstreamQuery(0x1_0005, upstreamQuery('a.example')).readUInt16BE(0)).toBe(5);
  });
});

describe('matchUpstreamResponse (RFC 5452 §9.1)', () => {
  const query = upstreamQuery('www.example.com');
  const response = (overrides: Partial<QueryOptions> = {}): Buffer =>
    buildQuery({ id: 0x1234, name: 'www.example.com', flags: 0x8180, ...overrides });

  it('accepts a response with our ID and the same question', () => {
    expect(matchUpstreamResponse(response(), 0x1234, query)).toBe('ok');
  });

  it('compares the name case-insensitively (0x20 mixing by either side)', () => {
    expect(matchUpstreamResponse(response({ name: 'WWW.eXample.CoM' }), 0x1234, query)).toBe('ok');
  });

  it('refuses each mismatch with its reason', () => {
    expect(matchUpstreamResponse(Buffer.alloc(11), 0x1234, query)).toBe('short');
    expect(matchUpstreamResponse(response({ id: 0x1235 }), 0x1234, query)).toBe('id');
    expect(matchUpstreamResponse(response({ flags: 0x0100 }), 0x1234, query)).toBe('not_response');
    expect(matchUpstreamResponse(response({ flags: 0x8180 | (2 << 11) }), 0x1234, query)).toBe('opcode');
    expect(matchUpstreamResponse(response({ noQuestion: true }), 0x1234, query)).toBe('qdcount');
    expect(matchUpstreamResponse(response({ counts: { qd: 2 } }), 0x1234, query)).toBe('qdcount');
    expect(matchUpstreamResponse(response({ name: 'www.example.net' }), 0x1234, query)).toBe('question');
    expect(matchUpstreamResponse(response({ name: 'example.com' }), 0x1234, query)).toBe('question');
    expect(matchUpstreamResponse(response({ type: 'AAAA' }), 0x1234, query)).toBe('question');
    expect(matchUpstreamResponse(response({ qclass: RRClass.CH }), 0x1234, query)).toBe('question');
  });

  it('refuses a question that is cut short, overruns, or is a compression pointer', () => {
    const full = response();
    expect(matchUpstreamResponse(full.subarray(0, full.length - 2), 0x1234, query)).toBe('question');
    expect(matchUpstreamResponse(full.subarray(0, 16), 0x1234, query)).toBe('question');
    const pointer = response({ name: Buffer.from([0xc0, 0x0c]) });
    expect(matchUpstreamResponse(pointer, 0x1234, query)).toBe('question');
  });

  it('does not confuse the type bytes with letters: type 0x0041 (HTTPS) is not 0x0061', () => {
    const https = upstreamQuery('www.example.com', { qtype: 65 });
    expect(matchUpstreamResponse(response({ type: 65 }), 0x1234, https)).toBe('ok');
    expect(matchUpstreamResponse(response({ type: 0x61 }), 0x1234, https)).toBe('question');
  });

  it('never throws, whatever the bytes (mutation fuzz of a valid response)', () => {
    const valid = response({ answerRecords: [Buffer.concat([Buffer.from([0xc0, 0x0c]), Buffer.from([0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1])])] });
    let seed = 12345;
    const next = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    const verdicts = new Map<string, number>();
    for (let round = 0; round < 20_000; round++) {
      const mutated = Buffer.from(valid.subarray(0, next() % (valid.length + 1)));
      for (let flips = next() % 4; flips > 0 && mutated.length > 0; flips--) mutated[next() % mutated.length] = next() & 0xff;
      const verdict = matchUpstreamResponse(mutated, 0x1234, query);
      verdicts.set(verdict, (verdicts.get(verdict) ?? 0) + 1);
    }
    const allowed = ['id', 'not_response', 'ok', 'opcode', 'qdcount', 'question', 'short'];
    expect([...verdicts.keys()].filter((verdict) => !allowed.includes(verdict))).toEqual([]);
    expect(verdicts.size).toBeGreaterThanOrEqual(5); // the fuzz reaches most checks
    // Some mutations only touch the answer or the tail and stay acceptable; most do not.
    expect(verdicts.get('ok')).toBeLessThan(20_000 / 2);
  });
});

describe('header helpers', () => {
  it('reads TC and the 4-bit rcode', () => {
    const truncated = buildQuery({ name: 'a.example', flags: 0x8000 | 0x0200 | 3 });
    expect(isTruncated(truncated)).toBe(true);
    expect(headerRcode(truncated)).toBe(3);
    expect(isTruncated(buildQuery({ name: 'a.example', flags: 0x8000 }))).toBe(false);
  });

  it('encodes the test question as the query path would', () => {
    expect(upstreamQuery('A.b').question).toEqual(Buffer.concat([encodeName('A.b'), Buffer.from([0, 1, 0, 1])]));
  });
});
