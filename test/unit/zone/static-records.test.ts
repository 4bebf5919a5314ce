import { describe, expect, it } from 'vitest';
import type { StaticRecordSpec } from '../../../src/config/options.ts';
import { ConfigValueError } from '../../../src/config/values.ts';
import { RRType } from '../../../src/wire/constants.ts';
import { compileStaticRecords } from '../../../src/zone/static-records.ts';

const compile = (specs: StaticRecordSpec[], ttl = 5) => compileStaticRecords(specs, 'mesh.local', ttl);

function failure(specs: StaticRecordSpec[]): ConfigValueError {
  try {
    compile(specs);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigValueError);
    return error as ConfigValueError;
  }
  throw new Error('compileStaticRecords accepted the records');
}

describe('compileStaticRecords', () => {
  it('makes relative names absolute under the zone; "@" is the apex; a trailing dot is absolute', () => {
    const records = compile([
      { name: 'hello', type: 'A', value: '192.0.2.10' },
      { name: '@', type: 'TXT', value: 'apex' },
      { name: 'api.mesh.local.', type: 'AAAA', value: '2001:db8::1' },
      { name: 'Deep.Name', type: 'A', value: '192.0.2.11' },
    ]);
    expect(records.map((record) => record.name)).toEqual(['hello.mesh.local', 'mesh.local', 'api.mesh.local', 'deep.name.mesh.local']);
  });

  it('uses the record\'s TTL or the default', () => {
    const records = compile([{ name: 'a', type: 'A', value: '192.0.2.1', ttl: 300 }, { name: 'b', type: 'A', value: '192.0.2.2' }], 9);
    expect(records.map((record) => record.record.ttl)).toEqual([300, 9]);
  });

  it('resolves CNAME and SRV targets: relative under the zone, absolute kept (may be outside)', () => {
    const records = compile([
      { name: 'www', type: 'CNAME', value: 'hello' },
      { name: 'ext', type: 'CNAME', value: 'example.org.' },
      { name: '_mcp._tcp.hello', type: 'SRV', value: '10 20 8080 hello' },
    ]);
    expect(records.map((record) => record.record)).toEqual([
      { type: RRType.CNAME, ttl: 5, target: 'hello.mesh.local' },
      { type: RRType.CNAME, ttl: 5, target: 'example.org' },
      { type: RRType.SRV, ttl: 5, priority: 10, weight: 20, port: 8080, target: 'hello.mesh.local' },
    ]);
  });

  it('splits TXT values over 255 octets into several character-strings (RFC 1035 §3.3.14)', () => {
    const [record] = compile([{ name: 't', type: 'TXT', value: 'x'.repeat(600) }, { name: 'u', type: 'TXT', value: ['a', 'b'] }]);
    expect(record!.record).toEqual({ type: RRType.TXT, ttl: 5, strings: ['x'.repeat(255), 'x'.repeat(255), 'x'.repeat(90)] });
  });

  it('refuses names outside the zone, naming the record', () => {
    expect(failure([{ name: 'other.example.', type: 'A', value: '192.0.2.1' }]).message).toBe('record 1 (other.example. A): other.example is outside the zone mesh.local');
  });

  it('refuses bad addresses, naming the record', () => {
    expect(failure([{ name: 'a', type: 'A', value: '192.0.2.1' }, { name: 'b', type: 'A', value: '2001:db8::1' }]).message)
      .toBe('record 2 (b A): "2001:db8::1" is not an IPv4 address');
    expect(failure([{ name: 'b', type: 'AAAA', value: '192.0.2.1' }]).message).toBe('record 1 (b AAAA): "192.0.2.1" is not an IPv6 address');
  });

  it.each([
    ['three fields', '1 1 8080'],
    ['an extra field', '1 1 8080 hello extra'],
    ['a port over 65535', '1 1 70000 hello'],
    ['a negative priority', '-1 1 80 hello'],
    ['a non-number weight', '1 x 80 hello'],
  ])('refuses an SRV value with %s, naming the record', (_label, value) => {
    const error = failure([{ name: '_x._tcp', type: 'SRV', value }]);
    expect(error.message).toBe(`record 1 (_x._tcp SRV): ${JSON.stringify(value)} is not "priority weight port target"`);
  });

  it('refuses a CNAME next to other data, in either order (RFC 1034 §3.6.2)', () => {
    expect(failure([{ name: 'www', type: 'A', value: '192.0.2.1' }, { name: 'www', type: 'CNAME', value: 'hello' }]).message)
      .toBe('record 2 (www CNAME): www.mesh.local has a CNAME and other records; a CNAME must stand alone');
    expect(failure([{ name: 'www', type: 'CNAME', value: 'hello' }, { name: 'www.mesh.local.', type: 'TXT', value: 'x' }]).message)
      .toBe('record 2 (www.mesh.local. TXT): www.mesh.local has a CNAME and other records; a CNAME must stand alone');
  });

  it('refuses two CNAMEs at one name', () => {
    expect(failure([{ name: 'www', type: 'CNAME', value: 'a' }, { name: 'WWW', type: 'CNAME', value: 'b' }]).message)
      .toBe('record 2 (WWW CNAME): www.mesh.local has two CNAME records');
  });

  it('refuses invalid names', () => {
    expect(failure([{ name: 'bad name', type: 'A', value: '192.0.2.1' }]).message).toMatch(/^record 1 \(bad name A\): .*not a valid domain name/);
  });
});
