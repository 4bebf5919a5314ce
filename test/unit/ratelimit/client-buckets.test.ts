// Token-bucket math and the bounded table, with the clock passed in (ms).

import { describe, expect, it } from 'vitest';
import { ClientBucketTable } from '../../../src/ratelimit/client-buckets.ts';
import { compileNetworks, createClientKey, parseIpv4, readIpv6 } from '../../../src/ratelimit/client-prefix.ts';

const notExempt = (): boolean => false;

function takeMany(table: ClientBucketTable, key: string, count: number, now: number, tcp = false): number {
  let allowed = 0;
  for (let index = 0; index < count; index++) {
    if (table.take(table.bucket(key, now, notExempt, key), tcp, now) === 'allow') allowed++;
  }
  return allowed;
}

describe('token bucket', () => {
  it('allows the burst at once, then the rate: 10/s, burst 5', () => {
    const table = new ClientBucketTable({ ratePerSecond: 10, burst: 5, maxClients: 16 });
    expect(takeMany(table, 'a', 8, 0)).toBe(5);
    expect(takeMany(table, 'a', 8, 99)).toBe(0); // 0.99 of a token
    expect(takeMany(table, 'a', 8, 100)).toBe(1); // 100 ms: one token
    expect(takeMany(table, 'a', 8, 350)).toBe(2); // 0.01 left + 2.5 gained
    // Idle for a minute: refilled to the burst, never beyond.
    expect(takeMany(table, 'a', 100, 60_350)).toBe(5);
  });

  it('over any window T from a full bucket, at most burst + rate × T queries pass', () => {
    const table = new ClientBucketTable({ ratePerSecond: 100, burst: 20, maxClients: 16 });
    let allowed = 0;
    for (let now = 0; now <= 10_000; now += 3) allowed += takeMany(table, 'a', 3, now);
    expect(allowed).toBeLessThanOrEqual(20 + 100 * 10);
    expect(allowed).toBeGreaterThanOrEqual(20 + 100 * 10 - 1);
  });

  it('UDP and TCP are counted apart: an emptied UDP allowance leaves TCP (the slip\'s retry) served', () => {
    const table = new ClientBucketTable({ ratePerSecond: 1, burst: 3, maxClients: 16 });
    expect(takeMany(table, 'a', 10, 0)).toBe(3);
    expect(takeMany(table, 'a', 10, 0, true)).toBe(3);
  });

  it('clients have buckets of their own', () => {
    const table = new ClientBucketTable({ ratePerSecond: 1, burst: 2, maxClients: 16 });
    expect(takeMany(table, 'a', 5, 0)).toBe(2);
    expect(takeMany(table, 'b', 5, 0)).toBe(2);
  });

  it('an exempt client is never limited; exemption comes from the callback, asked once per new key', () => {
    const table = new ClientBucketTable({ ratePerSecond: 1, burst: 1, maxClients: 16 });
    let asked = 0;
    const exempt = (): boolean => {
      asked++;
      return true;
    };
    for (let index = 0; index < 100; index++) expect(table.take(table.bucket('x', 0, exempt, 'x'), false, 0)).toBe('allow');
    expect(asked).toBe(1);
  });
});

describe('bounded table under a flood of new sources', () => {
  it('never holds more than maxClients; evicts the least recently used; an active limited client keeps its (empty) bucket', () => {
    const table = new ClientBucketTable({ ratePerSecond: 1, burst: 2, maxClients: 100, touchAfterMs: 0 });
    expect(takeMany(table, 'attacker', 10, 0)).toBe(2); // now limited
    for (let index = 0; index < 10_000; index++) {
      takeMany(table, `spoofed-${index}`, 1, 0);
      // The attacker keeps sending from its real address between the spoofed ones: it stays the
      // most recently used and is never evicted, so it cannot reset its own bucket.
      if (index % 50 === 0) expect(takeMany(table, 'attacker', 1, 0)).toBe(0);
      expect(table.size).toBeLessThanOrEqual(100);
    }
    expect(table.evictions).toBe(10_000 + 1 - 100);
    expect(takeMany(table, 'attacker', 1, 0)).toBe(0);
  });

  it('an evicted client comes back with a full bucket: eviction forgives, never harms', () => {
    const table = new ClientBucketTable({ ratePerSecond: 1, burst: 3, maxClients: 2, touchAfterMs: 0 });
    expect(takeMany(table, 'real', 3, 0)).toBe(3);
    takeMany(table, 'x', 1, 0);
    takeMany(table, 'y', 1, 0); // evicts 'real'
    expect(takeMany(table, 'real', 5, 0)).toBe(3);
  });
});

describe('client prefixes and the allow-list', () => {
  it('reads IPv4 without allocation helpers, rejecting anything else', () => {
    expect(parseIpv4('127.0.0.2')).toBe(0x7f000002);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '::1', '::ffff:1.2.3.4', '', '1..2.3', '1.2.3.4 ']) expect(parseIpv4(bad)).toBe(-1);
  });

  it('keys IPv4 by /32 (the address itself) and IPv6 by /56 by default; other lengths mask', () => {
    const byDefault = createClientKey({ ipv4: 32, ipv6: 56 });
    expect(byDefault.key('10.1.2.3', 'ipv4')).toBe('10.1.2.3');
    expect(byDefault.key('2001:db8:aa:bb00::1', 'ipv6')).toBe(byDefault.key('2001:db8:aa:bbff:1::9', 'ipv6'));
    expect(byDefault.key('2001:db8:aa:bb00::1', 'ipv6')).not.toBe(byDefault.key('2001:db8:aa:bc00::1', 'ipv6'));
    const by24 = createClientKey({ ipv4: 24, ipv6: 128 });
    expect(by24.key('10.1.2.3', 'ipv4')).toBe(by24.key('10.1.2.200', 'ipv4'));
    expect(by24.key('10.1.2.3', 'ipv4')).not.toBe(by24.key('10.1.3.3', 'ipv4'));
    expect(by24.key('2001:db8::1', 'ipv6')).toBe('2001:db8::1');
  });

  it('reads IPv6 like ipaddr.js does (compression, zone, case), and the /56 key is the masked prefix', async () => {
    const ipaddr = (await import('ipaddr.js')).default;
    const byDefault = createClientKey({ ipv4: 32, ipv6: 56 });
    for (const address of ['::1', '::', '2001:db8::', '2001:DB8:0:1ff::2', 'fe80::1%eth0', '1:2:3:4:5:6:7:8', '1::8', '1:2:3:4:5:6::', 'fd00:0:0:ab12:0:0:0:1']) {
      expect(readIpv6(address)).toBe(true);
      const parts = ipaddr.IPv6.parse(address.split('%')[0]!).parts;
      expect(byDefault.key(address, 'ipv6')).toBe(`${parts.slice(0, 3).map((part) => part.toString(16)).join(':')}:${(parts[3]! & 0xff00).toString(16)}/56`);
    }
    for (const bad of [':1', '1:::2', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', 'g::1', '1:2:3:4:5:6:7']) expect(readIpv6(bad)).toBe(false);
    // An embedded IPv4 tail falls back to ipaddr.js and still keys by the prefix.
    expect(byDefault.key('64:ff9b::192.0.2.1', 'ipv6')).toBe('64:ff9b:0:0/56');
  });

  it('compiles CIDRs once and matches addresses of both families', () => {
    const allow = compileNetworks(['10.0.0.0/8', '192.168.1.0/24', 'fd00::/8', '203.0.113.7/32']);
    expect(['10.255.0.1', '192.168.1.9', 'fd12::1', '203.0.113.7', '::ffff:10.0.0.1'].map((address) => allow.contains(address))).toEqual([true, true, true, true, true]);
    expect(['11.0.0.1', '192.168.2.1', 'fe80::1', '203.0.113.8', 'garbage'].map((address) => allow.contains(address))).toEqual([false, false, false, false, false]);
  });
});
