// Who owns a DNS name when several claims land on it (README "Names that collide"), labels
// checked on the raw spelling before case folding, and the size bounds of registry-derived
// records (TXT and the whole answer at one owner). Pure: compileZone and answerFromZone only.

import { describe, expect, it } from 'vitest';
import { RRType } from '../../../src/wire/constants.ts';
import { encodeRecordTail, type ZoneRecord } from '../../../src/wire/record-codec.ts';
import { answerFromZone } from '../../../src/zone/answer.ts';
import { agentLabel, capabilityLabel, compileZone, OWNER_ANSWER_BUDGET, TXT_RDATA_MAX, type MeshInstance, type StaticRecord } from '../../../src/zone/compile.ts';
import { reverseZonesForCidr } from '../../../src/zone/reverse.ts';
import type { ZoneSet } from '../../../src/zone/zone.ts';
import { encodeName, meshInstance } from '../../support/dns-messages.ts';

const compile = (instances: readonly MeshInstance[], statics: readonly StaticRecord[] = []) =>
  compileZone(instances, statics, { zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseZones: reverseZonesForCidr('10.0.0.0/8'), serial: 1 });

function records(zones: ZoneSet, owner: string, type: number): ZoneRecord[] {
  for (const zone of zones.byApex.values()) {
    const rrset = zone.nodes.get(owner)?.get(type);
    if (rrset) return rrset;
  }
  return [];
}
const values = (list: ZoneRecord[]) => list.map((record) => ('address' in record ? record.address : 'target' in record ? record.target : JSON.stringify(record))).sort();
const reasons = (zones: ZoneSet) => zones.skipped.map((skip) => `${skip.id}:${skip.reason}`).sort();

describe('labels are checked on the raw spelling, before case folding', () => {
  it('refuses U+212A KELVIN SIGN, which toLowerCase() turns into ASCII k', () => {
    expect('\u212A'.toLowerCase()).toBe('k');
    expect(agentLabel('wor\u212Aer')).toBeNull();
    expect(agentLabel('\u0130stanbul')).toBeNull(); // İ lowercases to i + U+0307
    expect(agentLabel('Worker-1')).toBe('worker-1');
    expect(capabilityLabel('\u212Aelvin')).toBeNull();
    expect(capabilityLabel('Kelvin_Temp')).toBe('_kelvin_temp');
  });

  it('does not let a name spelled with U+212A claim another agent\'s name', () => {
    const zones = compile([
      meshInstance({ id: 'worker-00000001', name: 'worker', addresses: ['10.0.0.1'] }),
      meshInstance({ id: 'evil-00000002', name: 'wor\u212Aer', addresses: ['10.0.0.66'] }),
    ]);
    expect(values(records(zones, 'worker.mesh.local', RRType.A))).toEqual(['10.0.0.1']);
    expect(reasons(zones)).toEqual(['evil-00000002:invalid_name_label']);
    // The impostor keeps its own id name: it is not an attack to exist.
    expect(values(records(zones, 'evil-00000002.mesh.local', RRType.A))).toEqual(['10.0.0.66']);
  });
});

describe('one owner name, one claim', () => {
  it('ids differing only in case: the lowercase one wins, the other loses its id name, TXT, SRV and PTR', () => {
    const zones = compile([
      meshInstance({ id: 'Web-1', name: 'web', addresses: ['10.0.0.2'], capabilities: [{ name: 'http', version: '' }] }),
      meshInstance({ id: 'web-1', name: 'web', addresses: ['10.0.0.1'], capabilities: [{ name: 'http', version: '' }] }),
    ]);
    expect(values(records(zones, 'web-1.mesh.local', RRType.A))).toEqual(['10.0.0.1']);
    expect(records(zones, 'web-1.mesh.local', RRType.TXT)).toHaveLength(1);
    expect((records(zones, 'web-1.mesh.local', RRType.TXT)[0] as { strings: string[] }).strings[0]).toBe('id=web-1');
    expect(values(records(zones, '_mcp._tcp.web.mesh.local', RRType.SRV))).toEqual(['web-1.mesh.local']);
    expect(values(records(zones, '_http._tcp.mesh.local', RRType.SRV))).toEqual(['web-1.mesh.local']);
    // Both are instances of `web`; the loser's PTR points at the name it still holds.
    expect(values(records(zones, 'web.mesh.local', RRType.A))).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(values(records(zones, '2.0.0.10.in-addr.arpa', RRType.PTR))).toEqual(['web.mesh.local']);
    expect(reasons(zones)).toEqual(['Web-1:id_collision']);
  });

  it('an agent name equal to another agent\'s id: the name wins, the id\'s records go (not merged)', () => {
    const zones = compile([
      meshInstance({ id: 'weather-a1b2c3d4', name: 'weather', addresses: ['10.0.0.11'], capabilities: [{ name: 'forecast', version: '' }] }),
      meshInstance({ id: 'other-00000001', name: 'weather-a1b2c3d4', addresses: ['10.0.0.99'] }),
    ]);
    expect(values(records(zones, 'weather-a1b2c3d4.mesh.local', RRType.A))).toEqual(['10.0.0.99']);
    expect(records(zones, 'weather-a1b2c3d4.mesh.local', RRType.TXT)).toEqual([]);
    // No SRV may point at a name that now answers for someone else.
    expect(records(zones, '_forecast._tcp.mesh.local', RRType.SRV)).toEqual([]);
    expect(values(records(zones, 'weather.mesh.local', RRType.A))).toEqual(['10.0.0.11']);
    expect(reasons(zones)).toEqual(['weather-a1b2c3d4:id_collision']);
  });

  it('an agent id equal to another agent\'s name (a service every client asks for): the name wins', () => {
    const zones = compile([
      meshInstance({ id: 'weather-a1b2c3d4', name: 'weather', addresses: ['10.0.0.11'] }),
      meshInstance({ id: 'weather', name: 'squatter', addresses: ['10.0.0.66'] }),
    ]);
    expect(values(records(zones, 'weather.mesh.local', RRType.A))).toEqual(['10.0.0.11']);
    expect(values(records(zones, 'squatter.mesh.local', RRType.A))).toEqual(['10.0.0.66']);
    expect(reasons(zones)).toEqual(['weather:id_collision']);
  });

  it('names differing only in case: the lowercase spelling keeps the name, a renamed `Weather` loses it', () => {
    const zones = compile([
      meshInstance({ id: 'weather-1', name: 'weather', addresses: ['10.0.0.1'] }),
      meshInstance({ id: 'weather-2', name: 'weather', addresses: ['10.0.0.2'] }),
      meshInstance({ id: 'rename-3', name: 'Weather', addresses: ['10.0.0.3'] }),
    ]);
    expect(values(records(zones, 'weather.mesh.local', RRType.A))).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(reasons(zones)).toEqual(['rename-3:name_collision']);
  });

  it('a capitalised name alone is folded and served', () => {
    const zones = compile([meshInstance({ id: 'chat-abcd', name: 'Chat', addresses: ['10.0.0.5'] })]);
    expect(values(records(zones, 'chat.mesh.local', RRType.A))).toEqual(['10.0.0.5']);
    expect(zones.skipped).toEqual([]);
  });

  it('static records win over agents at their name, whatever their type', () => {
    const statics: StaticRecord[] = [{ name: 'weather.mesh.local', record: { type: RRType.A, ttl: 60, address: '10.9.9.9' } }];
    const zones = compile([meshInstance({ id: 'weather-1', name: 'weather', addresses: ['10.0.0.1'] })], statics);
    expect(values(records(zones, 'weather.mesh.local', RRType.A))).toEqual(['10.9.9.9']);
    expect(values(records(zones, 'weather-1.mesh.local', RRType.A))).toEqual(['10.0.0.1']);
    expect(zones.skipped).toEqual([expect.objectContaining({ id: 'weather.mesh.local', reason: 'shadowed_by_static' })]);
  });

  it('does not depend on the order the registry lists agents in', () => {
    const agents = [
      meshInstance({ id: 'Web-1', name: 'web', addresses: ['10.0.0.2'] }),
      meshInstance({ id: 'web-1', name: 'web', addresses: ['10.0.0.1'] }),
      meshInstance({ id: 'web', name: 'x', addresses: ['10.0.0.3'] }),
      meshInstance({ id: 'y-1', name: 'web-1', addresses: ['10.0.0.4'] }),
    ];
    const dump = (zones: ZoneSet) => [...zones.byApex.get('mesh.local')!.nodes].map(([owner, node]) => `${owner}=${[...node.values()].flat().map((r) => JSON.stringify(r)).sort().join()}`).sort();
    const forward = compile(agents);
    expect(dump(compile([...agents].reverse()))).toEqual(dump(forward));
    expect(values(records(forward, 'web-1.mesh.local', RRType.A))).toEqual(['10.0.0.4']);
    expect(values(records(forward, 'web.mesh.local', RRType.A))).toEqual(['10.0.0.1', '10.0.0.2']);
  });
});

describe('size bounds of registry-derived records', () => {
  it('keeps an agent\'s TXT within TXT_RDATA_MAX with 300 capabilities, says how many are left out, and counts it', () => {
    const capabilities = Array.from({ length: 300 }, (_, i) => ({ name: `capability_${String(i).padStart(3, '0')}_${'x'.repeat(220)}`, version: '1.0.0' }));
    const zones = compile([meshInstance({ id: 'big-1', name: 'big', capabilities })]);
    const [txt] = records(zones, 'big-1.mesh.local', RRType.TXT) as [{ type: 16; ttl: number; strings: string[] }];
    const rdata = encodeRecordTail(txt).length - 10;
    expect(rdata).toBeLessThanOrEqual(TXT_RDATA_MAX);
    for (const text of txt.strings) expect(Buffer.byteLength(text)).toBeLessThanOrEqual(255);
    const kept = txt.strings.filter((text) => text.startsWith('cap=')).length;
    expect(txt.strings.at(-1)).toBe(`caps_omitted=${300 - kept}`);
    expect(kept).toBeGreaterThan(10);
    expect(reasons(zones)).toContain('big-1:txt_truncated');
  });

  it('bounds every owner so its answer (ANY included) fits a 65,535-byte TCP message with room to spare', () => {
    const instances = Array.from({ length: 3000 }, (_, i) => meshInstance({
      id: `replica-${String(i).padStart(5, '0')}`, name: 'replica', addresses: [`10.2.${i >> 8}.${i & 0xff}`, `fd00::2:${i.toString(16)}`],
      capabilities: [{ name: 'work', version: '' }],
    }));
    const zones = compile(instances);
    for (const [owner, type] of [['replica.mesh.local', RRType.ANY], ['replica.mesh.local', RRType.AAAA], ['_mcp._tcp.replica.mesh.local', RRType.SRV], ['_work._tcp.mesh.local', RRType.SRV]] as const) {
      const answer = answerFromZone(zones, owner, type, encodeName(owner).length)!;
      expect(answer.withoutAdditionalLength, `${owner} ${type}`).toBeLessThanOrEqual(OWNER_ANSWER_BUDGET + 2048);
      expect(answer.answerCount).toBeGreaterThan(100);
    }
    const counted = zones.skipped.filter((skip) => skip.reason === 'answer_size');
    expect(counted.length).toBeGreaterThan(0);
    // Deterministic: instances are taken in projection order, so the last ids are the ones left out.
    expect(records(zones, 'replica.mesh.local', RRType.A).map((record) => 'address' in record && record.address)).toContain('10.2.0.0');
  });
});
