import { describe, expect, it } from 'vitest';
import { RRType } from '../../../src/wire/constants.ts';
import { encodeRecordTail, RecordTooLargeError } from '../../../src/wire/record-codec.ts';
import { encodeName } from '../../support/dns-messages.ts';

/** TYPE, CLASS IN, TTL, RDLENGTH then RDATA: the tail we expect for a record. */
function tail(type: number, ttl: number, rdata: Buffer | number[]): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(1, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(Buffer.from(rdata).length, 8);
  return Buffer.concat([fixed, Buffer.from(rdata)]);
}

describe('encodeRecordTail', () => {
  it('A', () => {
    expect(encodeRecordTail({ type: RRType.A, ttl: 30, address: '10.0.0.11' })).toEqual(tail(RRType.A, 30, [10, 0, 0, 11]));
  });

  it('AAAA, compressed and full forms', () => {
    const expected = tail(RRType.AAAA, 5, [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12]);
    expect(encodeRecordTail({ type: RRType.AAAA, ttl: 5, address: 'fd00::12' })).toEqual(expected);
    expect(encodeRecordTail({ type: RRType.AAAA, ttl: 5, address: 'fd00:0:0:0:0:0:0:12' })).toEqual(expected);
  });

  it('AAAA in the mixed form "::ffff:192.0.2.1" (RFC 4291 §2.2) is the address it names', () => {
    const expected = tail(RRType.AAAA, 5, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
    expect(encodeRecordTail({ type: RRType.AAAA, ttl: 5, address: '::ffff:192.0.2.1' })).toEqual(expected);
    expect(encodeRecordTail({ type: RRType.AAAA, ttl: 5, address: '::ffff:c000:201' })).toEqual(expected);
  });

  it('CNAME, PTR and NS carry an uncompressed target', () => {
    const target = encodeName('weather-a1.mesh.local');
    expect(encodeRecordTail({ type: RRType.CNAME, ttl: 5, target: 'weather-a1.mesh.local' })).toEqual(tail(RRType.CNAME, 5, target));
    expect(encodeRecordTail({ type: RRType.PTR, ttl: 5, target: 'weather-a1.mesh.local' })).toEqual(tail(RRType.PTR, 5, target));
    expect(encodeRecordTail({ type: RRType.NS, ttl: 5, target: 'weather-a1.mesh.local' })).toEqual(tail(RRType.NS, 5, target));
  });

  it('TXT writes one length-prefixed character-string per string, empty strings included', () => {
    const expected = tail(RRType.TXT, 5, [4, ...Buffer.from('id=x'), 0, 3, ...Buffer.from('é!')]);
    expect(encodeRecordTail({ type: RRType.TXT, ttl: 5, strings: ['id=x', '', 'é!'] })).toEqual(expected);
  });

  it('SRV: priority, weight, port, then the target uncompressed (RFC 2782)', () => {
    const rdata = Buffer.concat([Buffer.from([0, 1, 0, 2, 0x1f, 0x90]), encodeName('weather-a1.mesh.local')]);
    expect(encodeRecordTail({ type: RRType.SRV, ttl: 5, priority: 1, weight: 2, port: 8080, target: 'weather-a1.mesh.local' })).toEqual(tail(RRType.SRV, 5, rdata));
  });

  it('SOA: MNAME, RNAME uncompressed, then the five 32-bit fields', () => {
    const numbers = Buffer.alloc(20);
    [2024010101, 3600, 600, 86400, 7].forEach((value, index) => numbers.writeUInt32BE(value, index * 4));
    const rdata = Buffer.concat([encodeName('ns.mesh.local'), encodeName('hostmaster.mesh.local'), numbers]);
    const record = { type: RRType.SOA, ttl: 7, mname: 'ns.mesh.local', rname: 'hostmaster.mesh.local', serial: 2024010101, refresh: 3600, retry: 600, expire: 86400, minimum: 7 } as const;
    expect(encodeRecordTail(record)).toEqual(tail(RRType.SOA, 7, rdata));
  });

  it('HINFO as raw RDATA: two character-strings', () => {
    expect(encodeRecordTail({ type: RRType.HINFO, ttl: 0, cpu: 'RFC8482', os: '' })).toEqual(tail(RRType.HINFO, 0, [7, ...Buffer.from('RFC8482'), 0]));
  });
});

describe('encodeRecordTail at the wire limits', () => {
  it('encodes a TXT of exactly 65,535 bytes of RDATA, with RDLENGTH 65535', () => {
    // 257 strings of 255 bytes (256 octets each) = 65,792; 255 of them + one of 254 = 65,535.
    const strings = [...Array.from({ length: 255 }, () => 'a'.repeat(255)), 'b'.repeat(254)];
    const encoded = encodeRecordTail({ type: RRType.TXT, ttl: 5, strings });
    expect(encoded.readUInt16BE(8)).toBe(65535);
    expect(encoded.length).toBe(10 + 65535);
  });

  it('refuses a TXT whose RDATA exceeds 65,535 bytes instead of writing RDLENGTH modulo 65536', () => {
    // The reproduction: 76,800 bytes went out as RDLENGTH 11,264.
    const strings = Array.from({ length: 300 }, () => 'y'.repeat(255));
    expect(() => encodeRecordTail({ type: RRType.TXT, ttl: 5, strings })).toThrow(RecordTooLargeError);
    expect(() => encodeRecordTail({ type: RRType.TXT, ttl: 5, strings: [...Array.from({ length: 256 }, () => 'a'.repeat(255))] })).toThrow(/RDATA of 65536 bytes/);
  });

  it('refuses a TXT character-string over 255 bytes instead of writing its length octet modulo 256', () => {
    expect(() => encodeRecordTail({ type: RRType.TXT, ttl: 5, strings: ['x'.repeat(256)] })).toThrow(/TXT string of 256 bytes/);
    expect(() => encodeRecordTail({ type: RRType.TXT, ttl: 5, strings: ['é'.repeat(128)] })).toThrow(RecordTooLargeError);
  });
});
