import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type dns2 from 'dns2';
import { describe, expect, it } from 'vitest';
import { RRClass, RRType } from '../../../src/wire/constants.ts';
import { encodeRecordTail, RecordTooLargeError, type ZoneRecord } from '../../../src/wire/record-codec.ts';
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

// The encoder replaced dns2's record codec (which kept node:crypto resident, issue 9 item 4). The
// reference for every type we publish: dns2 3.1.1's Packet.Resource.encode with an empty owner
// name, fed the fields the way src/wire/record-codec.ts fed it until then.
const require = createRequire(import.meta.url);
const Packet = require(join(dirname(require.resolve('dns2')), 'packet.js')) as typeof dns2.Packet;

function dns2Tail(record: ZoneRecord): Buffer {
  const base = { name: '', type: record.type, class: RRClass.IN, ttl: record.ttl };
  const fields = (() => {
    switch (record.type) {
      case RRType.A: return { address: record.address };
      case RRType.AAAA: return { address: (ipaddrParts(record.address)) };
      case RRType.CNAME: case RRType.PTR: return { domain: record.target };
      case RRType.NS: return { ns: record.target };
      case RRType.TXT: return { data: record.strings };
      case RRType.SRV: return { priority: record.priority, weight: record.weight, port: record.port, target: record.target };
      case RRType.SOA: return { primary: record.mname, admin: record.rname, serial: record.serial, refresh: record.refresh, retry: record.retry, expiration: record.expire, minimum: record.minimum };
      case RRType.HINFO: {
        const cpu = Buffer.from(record.cpu, 'latin1');
        const os = Buffer.from(record.os, 'latin1');
        return { data: Buffer.concat([Buffer.from([cpu.length]), cpu, Buffer.from([os.length]), os]) };
      }
    }
  })();
  return Packet.Resource.encode({ ...base, ...fields } as unknown as dns2.Packet.Resource).subarray(1);
}

/** dns2's AAAA encoder reads eight hex groups; the old code gave it ipaddr.js's. */
function ipaddrParts(address: string): string {
  return (require('ipaddr.js') as typeof import('ipaddr.js')).IPv6.parse(address).parts.map((part) => part.toString(16)).join(':');
}

describe('encodeRecordTail against dns2 (the codec it replaced), byte for byte', () => {
  const corpus: ZoneRecord[] = [
    { type: RRType.A, ttl: 0, address: '0.0.0.0' },
    { type: RRType.A, ttl: 30, address: '10.0.0.11' },
    { type: RRType.A, ttl: 0x7fffffff, address: '255.255.255.255' },
    { type: RRType.A, ttl: 0x80000000, address: '192.0.2.1' }, // RFC 2181 §8: clamped to 2^31 - 1
    { type: RRType.A, ttl: 0xffffffff, address: '192.0.2.1' },
    { type: RRType.AAAA, ttl: 5, address: '::' },
    { type: RRType.AAAA, ttl: 5, address: 'fd00::12' },
    { type: RRType.AAAA, ttl: 5, address: '2001:db8:0:1:2:3:4:5' },
    { type: RRType.AAAA, ttl: 5, address: '::ffff:192.0.2.1' },
    { type: RRType.AAAA, ttl: 5, address: 'fe80::1%eth0' },
    { type: RRType.CNAME, ttl: 5, target: 'weather-a1.mesh.local' },
    { type: RRType.CNAME, ttl: 5, target: 'trailing.dot.example.' },
    { type: RRType.PTR, ttl: 5, target: 'agent-7.mesh.local' },
    { type: RRType.PTR, ttl: 5, target: '' },
    { type: RRType.NS, ttl: 3600, target: 'ns.mesh.local' },
    { type: RRType.NS, ttl: 3600, target: `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}` },
    { type: RRType.TXT, ttl: 5, strings: [] },
    { type: RRType.TXT, ttl: 5, strings: [''] },
    { type: RRType.TXT, ttl: 5, strings: ['id=x', '', 'é!', 'v=spf1 -all'] },
    { type: RRType.TXT, ttl: 5, strings: ['x'.repeat(255), 'ü'.repeat(127)] },
    { type: RRType.SRV, ttl: 5, priority: 0, weight: 0, port: 0, target: '.' },
    { type: RRType.SRV, ttl: 5, priority: 1, weight: 2, port: 8080, target: 'weather-a1.mesh.local' },
    { type: RRType.SRV, ttl: 5, priority: 65535, weight: 65535, port: 65535, target: 'mesh.local' },
    { type: RRType.SOA, ttl: 7, mname: 'ns.mesh.local', rname: 'hostmaster.mesh.local', serial: 2024010101, refresh: 3600, retry: 600, expire: 86400, minimum: 7 },
    { type: RRType.SOA, ttl: 7, mname: 'ns.mesh.local', rname: 'hostmaster.mesh.local', serial: 0xffffffff, refresh: 0, retry: 0, expire: 0, minimum: 0x80000000 },
    { type: RRType.HINFO, ttl: 0, cpu: 'RFC8482', os: '' },
    { type: RRType.HINFO, ttl: 0, cpu: '', os: 'Linux' },
  ];
  it.each(corpus.map((record) => [JSON.stringify(record).slice(0, 80), record] as const))('%s', (_, record) => {
    expect(encodeRecordTail(record)).toEqual(dns2Tail(record));
  });

  it('refuses what dns2 refused: a malformed IPv4 address, a label over 63 octets, a name over 255', () => {
    const refused: ZoneRecord[] = [
      { type: RRType.A, ttl: 5, address: '10.0.0' },
      { type: RRType.A, ttl: 5, address: '::1' },
      { type: RRType.CNAME, ttl: 5, target: `${'a'.repeat(64)}.mesh.local` },
      { type: RRType.NS, ttl: 5, target: Array.from({ length: 5 }, () => 'n'.repeat(63)).join('.') },
    ];
    for (const record of refused) {
      expect(() => dns2Tail(record), JSON.stringify(record)).toThrow();
      expect(() => encodeRecordTail(record), JSON.stringify(record)).toThrow();
    }
  });
});
