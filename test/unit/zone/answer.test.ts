// Authoritative answers on the wire, through the query handler: the NXDOMAIN / NODATA / SOA
// matrix (RFC 2308, RFC 8020), CNAME chasing (RFC 1034 §4.3.2, RFC 6604), ANY (RFC 8482),
// SRV additional data (RFC 2782), TTLs, A/AAAA rotation, and the policy answers around them.

import { describe, expect, it } from 'vitest';
import { EdeCode, Rcode, RRClass, RRType, typeName } from '../../../src/wire/constants.ts';
import { makeHandler, meshInstance, type DecodedMessage, type QueryOptions } from '../../support/dns-messages.ts';

const TTL = 42;
const NEGATIVE_TTL = 17;

const instances = [
  meshInstance({ id: 'weather-a1', name: 'weather', port: 8081, addresses: ['10.0.0.11', 'fd00::11'], capabilities: [{ name: 'weather_forecast', version: '1.2.0' }] }),
  meshInstance({ id: 'weather-b2', name: 'weather', port: 8082, addresses: ['10.0.0.12'], capabilities: [{ name: 'weather_forecast', version: '1.2.0' }] }),
  // IPv4-only agent: AAAA at its names is NODATA.
  meshInstance({ id: 'calc-c3', name: 'calc', addresses: ['10.0.0.13'] }),
  ...[1, 2, 3, 4].map((index) => meshInstance({ id: `pool-${index}`, name: 'pool', addresses: [`10.0.1.${index}`, `fd00::1:${index}`] })),
];
const records = [
  { name: 'www', type: 'CNAME' as const, value: 'weather' },
  { name: 'dangling', type: 'CNAME' as const, value: 'nope' },
  { name: 'to-calc', type: 'CNAME' as const, value: 'calc' },
  { name: 'ext', type: 'CNAME' as const, value: 'example.org.' },
];

const server = makeHandler({ instances, records, ttl: TTL, negativeTtl: NEGATIVE_TTL });

type Outcome = 'positive' | 'nodata' | 'nxdomain';

/** Checks a negative answer: rcode, AA, empty ANSWER, exactly the zone's SOA in AUTHORITY (RFC 2308 §3). */
function expectNegative(response: DecodedMessage, rcode: number, apex: string): void {
  expect(response).toMatchObject({ qr: true, aa: true, tc: false, rcode, counts: { qd: 1, an: 0, ns: 1, ar: 0 } });
  const [soa] = response.authorities;
  expect(soa).toMatchObject({ name: apex, type: RRType.SOA, class: RRClass.IN, primary: 'ns.mesh.local', admin: 'hostmaster.mesh.local' });
  // TTL of the SOA in a negative answer = min(SOA TTL, SOA MINIMUM) = the configured negative TTL.
  expect(soa!.ttl).toBe(Math.min(NEGATIVE_TTL, soa!.minimum!));
  expect(soa!.ttl).toBe(NEGATIVE_TTL);
}

describe('the NXDOMAIN / NODATA matrix', () => {
  // [qtype, name, outcome, expected ANSWER count for positives]
  const matrix: Array<[string, string, string, Outcome, number]> = [
    // qtype, case, name, outcome, answers
    ['A', 'has the type', 'weather.mesh.local', 'positive', 2],
    ['A', 'exists without it', '_mcp._tcp.weather.mesh.local', 'nodata', 0],
    ['A', 'empty non-terminal', '_tcp.mesh.local', 'nodata', 0],
    ['A', 'empty non-terminal below a name', '_tcp.weather.mesh.local', 'nodata', 0],
    ['A', 'nonexistent', 'nope.mesh.local', 'nxdomain', 0],
    ['A', 'below an existing name', 'x.weather.mesh.local', 'nxdomain', 0],
    ['AAAA', 'has the type', 'weather.mesh.local', 'positive', 1],
    ['AAAA', 'exists without it (IPv4-only agent)', 'calc.mesh.local', 'nodata', 0],
    ['AAAA', 'exists without it (IPv4-only agent id)', 'calc-c3.mesh.local', 'nodata', 0],
    ['AAAA', 'empty non-terminal', '_tcp.mesh.local', 'nodata', 0],
    ['AAAA', 'nonexistent', 'nope.mesh.local', 'nxdomain', 0],
    ['AAAA', 'below an existing name', 'x.calc.mesh.local', 'nxdomain', 0],
    ['SRV', 'has the type', '_mcp._tcp.weather.mesh.local', 'positive', 2],
    ['SRV', 'has the type (capability)', '_weather_forecast._tcp.mesh.local', 'positive', 2],
    ['SRV', 'exists without it', 'weather.mesh.local', 'nodata', 0],
    ['SRV', 'empty non-terminal', '_tcp.weather.mesh.local', 'nodata', 0],
    ['SRV', 'nonexistent', '_nope._tcp.mesh.local', 'nxdomain', 0],
    ['SRV', 'below an existing name', '_x._mcp._tcp.weather.mesh.local', 'nxdomain', 0],
    ['TXT', 'has the type', 'weather-a1.mesh.local', 'positive', 1],
    ['TXT', 'exists without it', 'weather.mesh.local', 'nodata', 0],
    ['TXT', 'empty non-terminal', '_tcp.mesh.local', 'nodata', 0],
    ['TXT', 'nonexistent', 'nope.mesh.local', 'nxdomain', 0],
    ['TXT', 'below an existing name', 'x.weather-a1.mesh.local', 'nxdomain', 0],
    ['ANY', 'has data (A, AAAA, TXT)', 'weather-a1.mesh.local', 'positive', 3],
    ['ANY', 'empty non-terminal', '_tcp.mesh.local', 'nodata', 0],
    ['ANY', 'nonexistent', 'nope.mesh.local', 'nxdomain', 0],
    ['ANY', 'below an existing name', 'x.weather.mesh.local', 'nxdomain', 0],
    ['PTR', 'has the type', '11.0.0.10.in-addr.arpa', 'positive', 1],
    ['PTR', 'exists without it', 'weather-a1.mesh.local', 'nodata', 0],
    ['PTR', 'empty non-terminal (reverse zone)', '0.0.10.in-addr.arpa', 'nodata', 0],
    ['PTR', 'nonexistent (reverse zone)', '99.0.0.10.in-addr.arpa', 'nxdomain', 0],
    ['PTR', 'below an existing name (reverse zone)', 'x.11.0.0.10.in-addr.arpa', 'nxdomain', 0],
    ['PTR', 'reverse zone apex', '10.in-addr.arpa', 'nodata', 0],
    ['MX', 'exists without it', 'weather.mesh.local', 'nodata', 0],
    ['MX', 'apex without it', 'mesh.local', 'nodata', 0],
    ['MX', 'empty non-terminal', '_tcp.mesh.local', 'nodata', 0],
    ['MX', 'nonexistent', 'nope.mesh.local', 'nxdomain', 0],
    ['MX', 'below an existing name', 'x.weather.mesh.local', 'nxdomain', 0],
  ];

  it.each(matrix)('%s at a name that %s (%s): %s', async (qtype, _case, name, outcome, answers) => {
    const response = await server.ask({ name, type: qtype });
    const apex = name.endsWith('in-addr.arpa') ? '10.in-addr.arpa' : 'mesh.local';
    if (outcome === 'nxdomain') return expectNegative(response, Rcode.NXDOMAIN, apex);
    if (outcome === 'nodata') return expectNegative(response, Rcode.NOERROR, apex);
    expect(response).toMatchObject({ qr: true, aa: true, tc: false, rcode: Rcode.NOERROR, counts: { qd: 1, an: answers, ns: 0 } });
    for (const record of response.answers) {
      expect(record.name).toBe(name);
      if (qtype !== 'ANY') expect(typeName(record.type)).toBe(qtype);
      expect(record.ttl).toBe(TTL);
    }
  });

  it('the same verdicts with EDNS, plus the OPT', async () => {
    for (const [qtype, , name, outcome] of matrix) {
      const plain = await server.ask({ name, type: qtype });
      const withOpt = await server.ask({ name, type: qtype, edns: { udpSize: 4096 } });
      expect({ name, qtype, rcode: withOpt.rcode, an: withOpt.counts.an, ns: withOpt.counts.ns, ar: withOpt.counts.ar })
        .toEqual({ name, qtype, rcode: plain.rcode, an: plain.counts.an, ns: plain.counts.ns, ar: plain.counts.ar + 1 });
      expect(outcome === 'nxdomain').toBe(withOpt.rcode === Rcode.NXDOMAIN);
    }
  });

  it('points the SOA owner into the question whatever its length and case', async () => {
    for (const name of ['a.mesh.local', 'NoPe.MESH.local', `${'x'.repeat(63)}.${'y'.repeat(63)}.mesh.local`]) {
      const response = await server.ask({ name });
      expect(response.errors).toEqual([]);
      expect(response.authorities[0]!.name.toLowerCase()).toBe('mesh.local');
    }
  });

  it('answers SOA and NS at the apex, the SOA with the negative TTL', async () => {
    const soa = await server.ask({ name: 'mesh.local', type: 'SOA' });
    expect(soa).toMatchObject({ rcode: Rcode.NOERROR, aa: true, counts: { an: 1, ns: 0 } });
    expect(soa.answers[0]).toMatchObject({ type: RRType.SOA, ttl: NEGATIVE_TTL, minimum: NEGATIVE_TTL, serial: 2024010101 });
    const ns = await server.ask({ name: 'mesh.local', type: 'NS' });
    expect(ns.answers.map((record) => [record.ns, record.ttl])).toEqual([['ns.mesh.local', TTL]]);
  });
});

describe('ANY (RFC 8482 §4.3: the name\'s records)', () => {
  it('never answers empty NOERROR at a name that has data', async () => {
    const meshZone = server.zones.byApex.get('mesh.local')!;
    const names = [...meshZone.nodes].filter(([, node]) => node.size > 0);
    expect(names.length).toBeGreaterThan(10);
    for (const [name, node] of names) {
      const response = await server.ask({ name, type: 'ANY' });
      const expected = [...node.values()].reduce((sum, rrset) => sum + rrset.length, 0);
      expect({ name, rcode: response.rcode, an: response.counts.an }).toEqual({ name, rcode: Rcode.NOERROR, an: expected });
      expect(response.answers.every((record) => record.name === name)).toBe(true);
    }
  });

  it('returns SOA and NS at the apex, the records of each type at an agent id', async () => {
    const apex = await server.ask({ name: 'mesh.local', type: 'ANY' });
    expect(apex.answers.map((record) => typeName(record.type)).sort()).toEqual(['NS', 'SOA']);
    const id = await server.ask({ name: 'weather-a1.mesh.local', type: 'ANY' });
    expect(id.answers.map((record) => typeName(record.type)).sort()).toEqual(['A', 'AAAA', 'TXT']);
  });
});

describe('SRV additional data (RFC 2782)', () => {
  it('carries the A and AAAA of every target in ADDITIONAL, with the mesh TTL', async () => {
    const response = await server.ask({ name: '_mcp._tcp.weather.mesh.local', type: 'SRV' });
    expect(response.answers.map((record) => [record.target, record.port, record.priority, record.weight])).toEqual([
      ['weather-a1.mesh.local', 8081, 1, 1],
      ['weather-b2.mesh.local', 8082, 1, 1],
    ]);
    expect(response.additionals.map((record) => [record.name, typeName(record.type), record.address, record.ttl])).toEqual([
      ['weather-a1.mesh.local', 'A', '10.0.0.11', TTL],
      ['weather-a1.mesh.local', 'AAAA', 'fd00::11', TTL],
      ['weather-b2.mesh.local', 'A', '10.0.0.12', TTL],
    ]);
    expect(response.counts.ar).toBe(3);
  });

  it('capability SRV names carry the same additional data', async () => {
    const response = await server.ask({ name: '_weather_forecast._tcp.mesh.local', type: 'SRV' });
    expect(new Set(response.additionals.map((record) => record.address))).toEqual(new Set(['10.0.0.11', 'fd00::11', '10.0.0.12']));
  });
});

describe('CNAME inside the zone (RFC 1034 §4.3.2)', () => {
  it('follows the CNAME to the target\'s records', async () => {
    const response = await server.ask({ name: 'www.mesh.local', type: 'A' });
    expect(response).toMatchObject({ rcode: Rcode.NOERROR, aa: true, counts: { an: 3, ns: 0 } });
    expect(response.answers.map((record) => [record.name, typeName(record.type), record.domain ?? record.address, record.ttl])).toEqual([
      ['www.mesh.local', 'CNAME', 'weather.mesh.local', TTL],
      ['weather.mesh.local', 'A', '10.0.0.11', TTL],
      ['weather.mesh.local', 'A', '10.0.0.12', TTL],
    ]);
  });

  it('answers the CNAME alone for qtype CNAME and ANY', async () => {
    for (const type of ['CNAME', 'ANY']) {
      const response = await server.ask({ name: 'www.mesh.local', type });
      expect(response.answers.map((record) => [typeName(record.type), record.domain])).toEqual([['CNAME', 'weather.mesh.local']]);
    }
  });

  it('ends in NODATA with the SOA when the target lacks the type', async () => {
    const response = await server.ask({ name: 'to-calc.mesh.local', type: 'AAAA' });
    expect(response).toMatchObject({ rcode: Rcode.NOERROR, aa: true, counts: { an: 1, ns: 1 } });
    expect(response.authorities[0]).toMatchObject({ type: RRType.SOA, ttl: NEGATIVE_TTL });
  });

  it('ends in NXDOMAIN with the CNAME when the target does not exist (RFC 6604 §3)', async () => {
    const response = await server.ask({ name: 'dangling.mesh.local', type: 'A' });
    expect(response).toMatchObject({ rcode: Rcode.NXDOMAIN, aa: true, counts: { an: 1, ns: 1 } });
    expect(response.answers[0]).toMatchObject({ type: RRType.CNAME, domain: 'nope.mesh.local' });
    expect(response.authorities[0]).toMatchObject({ type: RRType.SOA, name: 'mesh.local', ttl: NEGATIVE_TTL });
  });

  it('stops at a target outside our zones (the client resolves it)', async () => {
    const response = await server.ask({ name: 'ext.mesh.local', type: 'A' });
    expect(response).toMatchObject({ rcode: Rcode.NOERROR, aa: true, counts: { an: 1, ns: 0, ar: 0 } });
    expect(response.answers[0]).toMatchObject({ type: RRType.CNAME, domain: 'example.org' });
  });

  it('does not loop on a CNAME cycle', async () => {
    const looping = makeHandler({ records: [{ name: 'a', type: 'CNAME', value: 'b' }, { name: 'b', type: 'CNAME', value: 'a' }] });
    const response = await looping.ask({ name: 'a.mesh.local', type: 'A' });
    expect(response.rcode).toBe(Rcode.NOERROR);
    expect(response.counts.an).toBeGreaterThan(1);
    expect(response.answers.every((record) => record.type === RRType.CNAME)).toBe(true);
  });
});

describe('A/AAAA rotation', () => {
  const canonical = { A: ['10.0.1.1', '10.0.1.2', '10.0.1.3', '10.0.1.4'], AAAA: ['fd00::1:1', 'fd00::1:2', 'fd00::1:3', 'fd00::1:4'] };

  it.each(['A', 'AAAA'] as const)('%s: consecutive responses show every rotation of the same set', async (type) => {
    const rotating = makeHandler({ instances, ttl: TTL });
    const orders: string[][] = [];
    for (let index = 0; index < 8; index++) {
      const response = await rotating.ask({ name: 'pool.mesh.local', type });
      orders.push(response.answers.map((record) => record.address!));
      expect(response.answers.every((record) => record.ttl === TTL && record.name === 'pool.mesh.local')).toBe(true);
    }
    const rotations = canonical[type].map((_, shift) => [...canonical[type].slice(shift), ...canonical[type].slice(0, shift)]);
    for (const order of orders) {
      expect([...order].sort()).toEqual([...canonical[type]].sort());
      expect(rotations).toContainEqual(order);
    }
    expect(new Set(orders.slice(0, 4).map((order) => order.join()))).toHaveLength(4);
    // One step per response: the fifth response repeats the first.
    expect(orders[4]).toEqual(orders[0]);
  });

  it('does not rotate a CNAME chain: the CNAME stays first', async () => {
    for (let index = 0; index < 3; index++) {
      expect((await server.ask({ name: 'www.mesh.local', type: 'A' })).answers[0]!.type).toBe(RRType.CNAME);
    }
  });
});

describe('policy answers', () => {
  // Names no stage owns (special-use and single-label names belong to the local-names stage).
  it.each(['example.org', 'mesh.local.example.org', 'in-addr.arpa', '1.0.0.11.in-addr.arpa', ''])('%j (outside our zones) is REFUSED without AA', async (name) => {
    const response = await server.ask({ name, edns: {} });
    expect(response).toMatchObject({ rcode: Rcode.REFUSED, aa: false, counts: { an: 0, ns: 0, ar: 1 } });
    expect(response.opt?.ede).toEqual({ code: EdeCode.NOT_AUTHORITATIVE, text: 'not a mesh name' });
  });

  it('AXFR and IXFR are REFUSED, no AA, even for the apex', async () => {
    for (const type of ['AXFR', 'IXFR']) {
      expect(await server.ask({ name: 'mesh.local', type }, 'tcp')).toMatchObject({ rcode: Rcode.REFUSED, aa: false, counts: { an: 0 } });
    }
  });

  it('qtype OPT is FORMERR (RFC 6891 §6.1.1)', async () => {
    expect(await server.ask({ name: 'weather.mesh.local', type: RRType.OPT })).toMatchObject({ rcode: Rcode.FORMERR, aa: false, counts: { an: 0 } });
  });

  it('class HS is REFUSED; class ANY is answered from IN data', async () => {
    expect(await server.ask({ name: 'weather.mesh.local', qclass: 4 })).toMatchObject({ rcode: Rcode.REFUSED, counts: { an: 0 } });
    expect(await server.ask({ name: 'weather.mesh.local', qclass: RRClass.ANY })).toMatchObject({ rcode: Rcode.NOERROR, aa: true, counts: { an: 2 } });
  });

  describe('CHAOS', () => {
    it('version.bind is REFUSED when no version is configured', async () => {
      expect(await server.ask({ name: 'version.bind', type: 'TXT', qclass: RRClass.CH })).toMatchObject({ rcode: Rcode.REFUSED, aa: false, counts: { an: 0 } });
    });

    it('version.bind and version.server answer TXT CH when configured; other CHAOS names are REFUSED', async () => {
      const versioned = makeHandler({ chaosVersion: 'mesh-dns 0.1.0' });
      for (const name of ['version.bind', 'VERSION.BIND', 'version.server']) {
        const response = await versioned.ask({ name, type: 'TXT', qclass: RRClass.CH });
        expect(response).toMatchObject({ rcode: Rcode.NOERROR, aa: true, counts: { an: 1 } });
        expect(response.answers[0]).toMatchObject({ class: RRClass.CH, type: RRType.TXT, data: ['mesh-dns 0.1.0'] });
      }
      expect(await versioned.ask({ name: 'version.bind', type: 'ANY', qclass: RRClass.CH })).toMatchObject({ rcode: Rcode.NOERROR, counts: { an: 1 } });
      expect(await versioned.ask({ name: 'version.bind', type: 'A', qclass: RRClass.CH })).toMatchObject({ rcode: Rcode.REFUSED });
      expect(await versioned.ask({ name: 'hostname.bind', type: 'TXT', qclass: RRClass.CH })).toMatchObject({ rcode: Rcode.REFUSED });
      expect(await versioned.ask({ name: 'weather.mesh.local', type: 'TXT', qclass: RRClass.CH })).toMatchObject({ rcode: Rcode.REFUSED });
    });
  });
});

describe('before the first registry sync', () => {
  const staticOnly = [{ name: 'hello', type: 'A' as const, value: '192.0.2.10' }, ...records];
  const ask = (handler: ReturnType<typeof makeHandler>, query: QueryOptions) => handler.ask({ ...query, edns: {} });

  it('answers a negative mesh answer with SERVFAIL + EDE 14 (Not Ready), no SOA', async () => {
    const waiting = makeHandler({ records: staticOnly, ready: false });
    for (const query of [
      { name: 'weather.mesh.local' },
      { name: 'hello.mesh.local', type: 'AAAA' },
      { name: '_tcp.mesh.local' },
      { name: '11.0.0.10.in-addr.arpa', type: 'PTR' },
      // A static CNAME to an agent name not known yet: the chain ends in NXDOMAIN, still negative.
      { name: 'www.mesh.local', type: 'A' },
    ]) {
      const response = await ask(waiting, query);
      expect({ name: query.name, rcode: response.rcode, aa: response.aa, an: response.counts.an, ns: response.counts.ns })
        .toEqual({ name: query.name, rcode: Rcode.SERVFAIL, aa: false, an: 0, ns: 0 });
      expect(response.opt?.ede).toEqual({ code: EdeCode.NOT_READY, text: 'registry not synced yet' });
    }
  });

  it('still serves static positive answers, the apex SOA, and REFUSED outside the zone', async () => {
    const waiting = makeHandler({ records: staticOnly, ready: false, ttl: TTL });
    expect(await ask(waiting, { name: 'hello.mesh.local' })).toMatchObject({ rcode: Rcode.NOERROR, aa: true, counts: { an: 1 } });
    expect(await ask(waiting, { name: 'mesh.local', type: 'SOA' })).toMatchObject({ rcode: Rcode.NOERROR, counts: { an: 1 } });
    expect(await ask(waiting, { name: 'example.org' })).toMatchObject({ rcode: Rcode.REFUSED });
  });

  it('gives real negative answers once ready', async () => {
    const waiting = makeHandler({ records: staticOnly, ready: false, negativeTtl: NEGATIVE_TTL });
    expect((await waiting.ask({ name: 'weather.mesh.local' })).rcode).toBe(Rcode.SERVFAIL);
    waiting.setReady(true);
    expectNegative(await waiting.ask({ name: 'weather.mesh.local' }), Rcode.NXDOMAIN, 'mesh.local');
  });
});
