import { describe, expect, it } from 'vitest';
import type { AgentProjection } from '../../../src/registry/types.ts';
import { RRType } from '../../../src/wire/constants.ts';
import type { ZoneRecord } from '../../../src/wire/record-codec.ts';
import { capabilityLabel, compileZone, flatOwnerName, instanceTxt, isValidLabel, type MeshInstance, type StaticRecord, type ZoneCompileOptions } from '../../../src/zone/compile.ts';
import { reverseZonesForCidr } from '../../../src/zone/reverse.ts';
import type { ZoneSet } from '../../../src/zone/zone.ts';
import { meshInstance } from '../../support/dns-messages.ts';

const options: ZoneCompileOptions = {
  zone: 'mesh.local',
  ttl: 5,
  negativeTtl: 7,
  reverseZones: ['10.0.0.0/8', 'fc00::/7'].flatMap(reverseZonesForCidr),
  serial: 42,
};

function compile(instances: readonly MeshInstance[], staticRecords: readonly StaticRecord[] = [], overrides: Partial<ZoneCompileOptions> = {}): ZoneSet {
  return compileZone(instances, staticRecords, { ...options, ...overrides });
}

/** The records at `owner` of `type`, from whichever zone holds the owner. */
function rrset(zones: ZoneSet, owner: string, type: number): ZoneRecord[] | undefined {
  for (const zone of zones.byApex.values()) {
    const node = zone.nodes.get(owner);
    if (node) return node.get(type);
  }
  return undefined;
}

function node(zones: ZoneSet, owner: string) {
  for (const zone of [...zones.byApex.values()].sort((a, b) => b.apex.length - a.apex.length)) {
    if (owner === zone.apex || owner.endsWith(`.${zone.apex}`)) return zone.nodes.get(owner);
  }
  return undefined;
}

const addresses = (records: ZoneRecord[] | undefined) => (records ?? []).map((record) => ('address' in record ? record.address : '?'));
const targets = (records: ZoneRecord[] | undefined) => (records ?? []).map((record) => ('target' in record ? record.target : '?'));

const weatherA = meshInstance({
  id: 'weather-a1b2c3d4', name: 'weather', port: 8081, addresses: ['10.0.0.11', 'fd00::11'], version: '1.2.0',
  capabilities: [{ name: 'weather_forecast', version: '1.2.0' }, { name: 'geo.geocode', version: '' }],
});
const weatherB = meshInstance({ id: 'weather-e5f6a7b8', name: 'weather', port: 8082, addresses: ['10.0.0.12'], capabilities: [{ name: 'weather_forecast', version: '1.3.0' }] });

describe('compileZone: agents', () => {
  const zones = compile([weatherA, weatherB]);

  it('gives a name the addresses of all its instances, A and AAAA apart', () => {
    expect(addresses(rrset(zones, 'weather.mesh.local', RRType.A))).toEqual(['10.0.0.11', '10.0.0.12']);
    expect(addresses(rrset(zones, 'weather.mesh.local', RRType.AAAA))).toEqual(['fd00::11']);
  });

  it('publishes each instance under its id, with its own addresses and TXT metadata', () => {
    expect(addresses(rrset(zones, 'weather-a1b2c3d4.mesh.local', RRType.A))).toEqual(['10.0.0.11']);
    expect(addresses(rrset(zones, 'weather-a1b2c3d4.mesh.local', RRType.AAAA))).toEqual(['fd00::11']);
    expect(addresses(rrset(zones, 'weather-e5f6a7b8.mesh.local', RRType.A))).toEqual(['10.0.0.12']);
    expect(rrset(zones, 'weather-e5f6a7b8.mesh.local', RRType.AAAA)).toBeUndefined();
    expect(rrset(zones, 'weather-a1b2c3d4.mesh.local', RRType.TXT)).toEqual([{
      type: RRType.TXT,
      ttl: 5,
      strings: ['id=weather-a1b2c3d4', 'name=weather', 'version=1.2.0', 'runtime=python', 'type=mcp_agent', 'scheme=http', 'port=8081', 'cap=weather_forecast@1.2.0', 'cap=geo.geocode'],
    }]);
  });

  it('publishes _mcp._tcp.<name> SRV per instance, targeting the id name and port', () => {
    expect(rrset(zones, '_mcp._tcp.weather.mesh.local', RRType.SRV)).toEqual([
      { type: RRType.SRV, ttl: 5, priority: 1, weight: 1, port: 8081, target: 'weather-a1b2c3d4.mesh.local' },
      { type: RRType.SRV, ttl: 5, priority: 1, weight: 1, port: 8082, target: 'weather-e5f6a7b8.mesh.local' },
    ]);
  });

  it('publishes _<capability>._tcp.<zone> SRV for every instance that provides it', () => {
    expect(targets(rrset(zones, '_weather_forecast._tcp.mesh.local', RRType.SRV))).toEqual(['weather-a1b2c3d4.mesh.local', 'weather-e5f6a7b8.mesh.local']);
  });

  it('does not publish a dotted capability as SRV (it is not one label), keeps it in TXT, reports it', () => {
    expect(node(zones, '_geo.geocode._tcp.mesh.local')).toBeUndefined();
    expect([...zones.byApex.get('mesh.local')!.nodes.keys()].filter((name) => name.includes('geo'))).toEqual([]);
    expect(zones.skipped).toEqual([{ id: 'weather-a1b2c3d4', reason: 'invalid_capability_label', detail: 'geo.geocode' }]);
  });

  it('creates the empty non-terminals between the SRV owners and the apex (RFC 8020)', () => {
    expect(node(zones, '_tcp.mesh.local')?.size).toBe(0);
    expect(node(zones, '_tcp.weather.mesh.local')?.size).toBe(0);
    expect(node(zones, 'weather.mesh.local')?.size).toBeGreaterThan(0);
  });

  it('has SOA and NS at the apex, the SOA carrying the negative TTL as TTL and MINIMUM', () => {
    const apex = zones.byApex.get('mesh.local')!;
    expect(apex.soa).toEqual({ type: RRType.SOA, ttl: 7, mname: 'ns.mesh.local', rname: 'hostmaster.mesh.local', serial: 42, refresh: 3600, retry: 600, expire: 86400, minimum: 7 });
    expect(apex.negativeSoa.ttl).toBe(Math.min(apex.soa.ttl, 7));
    expect(rrset(zones, 'mesh.local', RRType.NS)).toEqual([{ type: RRType.NS, ttl: 5, target: 'ns.mesh.local' }]);
  });

  it('publishes PTR for every agent address in a configured reverse zone, to the id name', () => {
    expect(targets(rrset(zones, '11.0.0.10.in-addr.arpa', RRType.PTR))).toEqual(['weather-a1b2c3d4.mesh.local']);
    expect(targets(rrset(zones, '12.0.0.10.in-addr.arpa', RRType.PTR))).toEqual(['weather-e5f6a7b8.mesh.local']);
    const v6 = '1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa';
    expect(targets(rrset(zones, v6, RRType.PTR))).toEqual(['weather-a1b2c3d4.mesh.local']);
    // The reverse zones have their own SOA; ancestors of a PTR name are empty non-terminals.
    expect(zones.byApex.get('10.in-addr.arpa')?.soa.mname).toBe('ns.mesh.local');
    expect(node(zones, '0.0.10.in-addr.arpa')?.size).toBe(0);
  });

  it('uses the configured TTL for every mesh record', () => {
    const zoneTtl = compile([weatherA], [], { ttl: 31 });
    for (const zone of zoneTtl.byApex.values()) {
      for (const [owner, rrsets] of zone.nodes) {
        for (const records of rrsets.values()) {
          for (const record of records) if (record.type !== RRType.SOA) expect({ owner, ttl: record.ttl }).toEqual({ owner, ttl: 31 });
        }
      }
    }
  });

  it('counts names, records and agents', () => {
    expect(zones.stats.agents).toBe(2);
    expect(zones.stats.zones).toBe(1 + reverseZonesForCidr('10.0.0.0/8').length + reverseZonesForCidr('fc00::/7').length);
    expect(zones.serial).toBe(42);
  });
});

describe('compileZone: labels that cannot be published', () => {
  it('lowercases names and ids', () => {
    const zones = compile([meshInstance({ id: 'Chat-ABCD', name: 'Chat', addresses: ['10.0.0.5'] })]);
    expect(addresses(rrset(zones, 'chat.mesh.local', RRType.A))).toEqual(['10.0.0.5']);
    expect(addresses(rrset(zones, 'chat-abcd.mesh.local', RRType.A))).toEqual(['10.0.0.5']);
  });

  it('skips an invalid name label but keeps the id names (and reports it)', () => {
    const zones = compile([meshInstance({ id: 'ok-1', name: 'bad name!', addresses: ['10.0.0.5'], capabilities: [{ name: 'cap', version: '' }] })]);
    expect(zones.skipped).toEqual([{ id: 'ok-1', reason: 'invalid_name_label', detail: 'bad name!' }]);
    expect(addresses(rrset(zones, 'ok-1.mesh.local', RRType.A))).toEqual(['10.0.0.5']);
    expect(rrset(zones, 'ok-1.mesh.local', RRType.TXT)).toHaveLength(1);
    expect(targets(rrset(zones, '_cap._tcp.mesh.local', RRType.SRV))).toEqual(['ok-1.mesh.local']);
    expect([...zones.byApex.get('mesh.local')!.nodes.keys()].some((name) => name.includes('bad'))).toBe(false);
  });

  it('with an invalid id label, publishes only the name\'s addresses and PTRs to the name: no TXT, no SRV', () => {
    const zones = compile([meshInstance({ id: 'a.b', name: 'solo', addresses: ['10.0.0.6'], capabilities: [{ name: 'cap', version: '' }] })]);
    expect(zones.skipped).toEqual([{ id: 'a.b', reason: 'invalid_id_label', detail: 'a.b' }]);
    expect(addresses(rrset(zones, 'solo.mesh.local', RRType.A))).toEqual(['10.0.0.6']);
    expect(targets(rrset(zones, '6.0.0.10.in-addr.arpa', RRType.PTR))).toEqual(['solo.mesh.local']);
    expect(node(zones, '_mcp._tcp.solo.mesh.local')).toBeUndefined();
    expect(node(zones, '_cap._tcp.mesh.local')).toBeUndefined();
    expect(node(zones, 'a.b.mesh.local')).toBeUndefined();
  });

  it('reports both when name and id are invalid, and publishes nothing for it', () => {
    const zones = compile([meshInstance({ id: '-x', name: 'y-', addresses: ['10.0.0.7'] })]);
    expect(zones.skipped.map((skip) => skip.reason)).toEqual(['invalid_name_label', 'invalid_id_label']);
    expect(node(zones, '7.0.0.10.in-addr.arpa')).toBeUndefined();
    expect([...zones.byApex.get('mesh.local')!.nodes.keys()].sort()).toEqual(['mesh.local', 'ns.mesh.local']);
  });

  it('isValidLabel and capabilityLabel follow RFC 1035 §2.3.4 lengths', () => {
    expect(isValidLabel('a'.repeat(63))).toBe(true);
    expect(isValidLabel('a'.repeat(64))).toBe(false);
    // RFC 1035 §2.3.1 LDH only for agent labels (the registry's own rule for new agents).
    expect(isValidLabel('under_score')).toBe(false);
    expect(isValidLabel('-lead')).toBe(false);
    expect(isValidLabel('')).toBe(false);
    expect(capabilityLabel('Weather_Forecast')).toBe('_weather_forecast');
    expect(capabilityLabel('c'.repeat(62))).toBe(`_${'c'.repeat(62)}`);
    expect(capabilityLabel('c'.repeat(63))).toBeNull();
    expect(capabilityLabel('geo.geocode')).toBeNull();
  });
});

describe('compileZone: TXT strings', () => {
  it('keeps every TXT character-string within 255 octets, cutting at a UTF-8 boundary', () => {
    const instance = meshInstance({ id: 'long-1', name: 'long', version: 'v'.repeat(300), runtime: `${'r'.repeat(245)}ééééé`, capabilities: [{ name: 'x'.repeat(400), version: '1' }] });
    const strings = instanceTxt(instance);
    for (const text of strings) expect(Buffer.byteLength(text)).toBeLessThanOrEqual(255);
    expect(strings[2]).toBe(`version=${'v'.repeat(255 - 'version='.length)}`);
    // "runtime=" (8) + 245 + "é" (2) = 255; the next "é" would not fit.
    expect(strings[3]).toBe(`runtime=${'r'.repeat(245)}é`);
    expect(strings[7]).toHaveLength(255);
  });
});

describe('compileZone: hostname agents', () => {
  it('publishes the resolved addresses of a hostname agent like literal ones', () => {
    const agent: AgentProjection = {
      id: 'calc-0001', name: 'calc', status: 'healthy', scheme: 'http', host: 'calc.internal', hostKind: 'hostname', port: 9000,
      capabilities: [], version: '', runtime: 'typescript', agentType: 'mcp_agent', addresses: ['10.0.0.21', '10.0.0.22', 'fd00::21'],
    };
    const zones = compile([agent]);
    expect(addresses(rrset(zones, 'calc.mesh.local', RRType.A))).toEqual(['10.0.0.21', '10.0.0.22']);
    expect(addresses(rrset(zones, 'calc-0001.mesh.local', RRType.AAAA))).toEqual(['fd00::21']);
    expect(targets(rrset(zones, '22.0.0.10.in-addr.arpa', RRType.PTR))).toEqual(['calc-0001.mesh.local']);
  });

  it('leaves out an agent with no addresses (hostname resolution off), not counting it', () => {
    const zones = compile([meshInstance({ id: 'calc-0001', name: 'calc', addresses: [] })]);
    expect(node(zones, 'calc.mesh.local')).toBeUndefined();
    expect(node(zones, 'calc-0001.mesh.local')).toBeUndefined();
    expect(zones.stats.agents).toBe(0);
  });

  it('does not publish the same record twice when a hostname resolves to one address twice', () => {
    const zones = compile([meshInstance({ id: 'dup-1', name: 'dup', addresses: ['10.0.0.9', '10.0.0.9'] })]);
    expect(addresses(rrset(zones, 'dup.mesh.local', RRType.A))).toEqual(['10.0.0.9']);
  });
});

describe('compileZone: static records and reverse zones', () => {
  it('merges static records and gives their addresses PTRs', () => {
    const zones = compile([], [
      { name: 'hello.mesh.local', record: { type: RRType.A, ttl: 60, address: '10.0.0.99' } },
      { name: 'www.mesh.local', record: { type: RRType.CNAME, ttl: 60, target: 'hello.mesh.local' } },
    ]);
    expect(rrset(zones, 'hello.mesh.local', RRType.A)).toEqual([{ type: RRType.A, ttl: 60, address: '10.0.0.99' }]);
    expect(targets(rrset(zones, '99.0.0.10.in-addr.arpa', RRType.PTR))).toEqual(['hello.mesh.local']);
    expect(rrset(zones, 'www.mesh.local', RRType.CNAME)).toHaveLength(1);
  });

  it('publishes no PTR for addresses outside the configured reverse zones', () => {
    const zones = compile([meshInstance({ id: 'pub-1', name: 'pub', addresses: ['192.0.2.1'] })]);
    expect(zones.byApex.has('2.0.192.in-addr.arpa')).toBe(false);
    expect(node(zones, '1.2.0.192.in-addr.arpa')).toBeUndefined();
  });

  it('files a PTR in the most specific zone when configured zones overlap', () => {
    const zones = compile([meshInstance({ id: 'a-1', name: 'a', addresses: ['10.1.2.3'] })], [], {
      reverseZones: ['10.0.0.0/8', '10.1.0.0/16'].flatMap(reverseZonesForCidr),
    });
    expect(zones.byApex.get('1.10.in-addr.arpa')?.nodes.get('3.2.1.10.in-addr.arpa')?.get(RRType.PTR)).toHaveLength(1);
  });

  it('serves PTRs when the same reverse zone is configured twice', () => {
    const zones = compile([meshInstance({ id: 'a-1', name: 'a', addresses: ['10.1.2.3'] })], [], {
      reverseZones: ['10.0.0.0/8', '10.0.0.0/8'].flatMap(reverseZonesForCidr),
    });
    expect(zones.byApex.get('10.in-addr.arpa')?.nodes.get('3.2.1.10.in-addr.arpa')?.get(RRType.PTR)).toHaveLength(1);
    expect(zones.stats.zones).toBe(2);
  });
});

describe('flatOwnerName', () => {
  it('joins a label and its suffix with one dot', () => {
    expect(flatOwnerName('agent-1', 'mesh.local')).toBe('agent-1.mesh.local');
    expect(flatOwnerName('_mcp._tcp', 'weather.team-a.mesh.local')).toBe('_mcp._tcp.weather.team-a.mesh.local');
  });
});
