// Zone sets per view: which names each view's zone holds, compiled from one projection.
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RRType } from '../../../src/wire/constants.ts';
import { answerFromZone } from '../../../src/zone/answer.ts';
import { NO_VIEW, ZoneHolder } from '../../../src/zone/holder.ts';
import { instancesForView, type NamespacedInstance } from '../../../src/zone/views.ts';
import type { ZoneSet } from '../../../src/zone/zone.ts';
import { meshInstance } from '../../support/dns-messages.ts';
import { compileStaticRecords } from '../../../src/zone/static-records.ts';
import { plainNameWireLength as nameWireLength } from '../../../src/wire/name.ts';

const agents: NamespacedInstance[] = [
  { ...meshInstance({ id: 'web-aaaa0001', name: 'web', addresses: ['10.10.1.5'], capabilities: [{ name: 'frontend', version: '1.0.0' }] }), namespace: 'dmz' },
  { ...meshInstance({ id: 'api-aaaa0002', name: 'api', addresses: ['10.10.2.5'] }), namespace: 'app' },
  { ...meshInstance({ id: 'db-aaaa0003', name: 'db', addresses: ['10.10.3.5'] }), namespace: 'data' },
];
const THREE_TIER = [
  { name: 'dmz', namespaces: ['dmz', 'app'], home: 'dmz' },
  { name: 'app', namespaces: ['app', 'data'], home: 'app' },
  { name: 'data', namespaces: ['data'], home: 'data' },
];

function holder(unmatched: 'refused' | 'nxdomain' = 'refused'): ZoneHolder {
  const records = compileStaticRecords([{ name: 'registry', type: 'A', value: '10.10.0.2' }], 'mesh.local', 5);
  const zone = new ZoneHolder({ zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseCidrs: ['10.0.0.0/8'] }, records, new Registry(), pino({ level: 'silent' }), { list: THREE_TIER, unmatched });
  zone.setInstances(agents);
  return zone;
}

function lookup(zones: ZoneSet, name: string, type: number = RRType.A): string {
  const sections = answerFromZone(zones, name, type, nameWireLength(name));
  if (sections === null) return 'not ours';
  if (sections.answerCount > 0 && sections.authorityCount === 0) return `answer(${sections.answerCount})`;
  return sections.rcode === 3 ? 'NXDOMAIN' : 'NODATA';
}

describe('zone sets per view', () => {
  it('instancesForView: every visible namespace under its label, the home namespace also at the apex (one PTR)', () => {
    const dmz = instancesForView(agents, THREE_TIER[0]!);
    expect(dmz.map((instance) => [instance.id, instance.domain, instance.ptr ?? true])).toEqual([
      ['web-aaaa0001', 'dmz', true],
      ['web-aaaa0001', '', false],
      ['api-aaaa0002', 'app', true],
    ]);
  });

  it('the three-tier matrix: visible names answer, hidden names are NXDOMAIN, the static registry answers everywhere', () => {
    const zone = holder();
    const names = ['web.dmz.mesh.local', 'api.app.mesh.local', 'db.data.mesh.local', 'web.mesh.local', 'api.mesh.local', 'db.mesh.local', 'registry.mesh.local'];
    const matrix = Object.fromEntries(THREE_TIER.map((view, index) => [view.name, names.map((name) => lookup(zone.current(index), name))]));
    expect(matrix).toEqual({
      dmz: ['answer(1)', 'answer(1)', 'NXDOMAIN', 'answer(1)', 'NXDOMAIN', 'NXDOMAIN', 'answer(1)'],
      app: ['NXDOMAIN', 'answer(1)', 'answer(1)', 'NXDOMAIN', 'answer(1)', 'NXDOMAIN', 'answer(1)'],
      data: ['NXDOMAIN', 'NXDOMAIN', 'answer(1)', 'NXDOMAIN', 'NXDOMAIN', 'answer(1)', 'answer(1)'],
    });
  });

  it('SRV, TXT and capability names live under the namespace; PTR points at the namespaced id; hidden agents have no PTR', () => {
    const dmz = holder().current(0);
    expect(lookup(dmz, '_mcp._tcp.web.dmz.mesh.local', RRType.SRV)).toBe('answer(1)');
    expect(lookup(dmz, '_frontend._tcp.dmz.mesh.local', RRType.SRV)).toBe('answer(1)');
    expect(lookup(dmz, 'web-aaaa0001.dmz.mesh.local', RRType.TXT)).toBe('answer(1)');
    expect(lookup(dmz, 'web-aaaa0001.mesh.local', RRType.TXT)).toBe('answer(1)');
    const ptr = answerFromZone(dmz, '5.1.10.10.in-addr.arpa', RRType.PTR, nameWireLength('5.1.10.10.in-addr.arpa'));
    expect(ptr?.answerCount).toBe(1);
    expect(lookup(dmz, '5.3.10.10.in-addr.arpa', RRType.PTR)).toBe('NXDOMAIN');
  });

  it('unmatched: refused gives NO_VIEW; nxdomain gives a set with static records only', () => {
    expect(holder('refused').unmatchedView()).toBe(NO_VIEW);
    const zone = holder('nxdomain');
    expect(zone.unmatchedView()).toBe(3);
    expect(lookup(zone.current(3), 'registry.mesh.local')).toBe('answer(1)');
    expect(lookup(zone.current(3), 'web.dmz.mesh.local')).toBe('NXDOMAIN');
    expect(lookup(zone.current(3), 'web.mesh.local')).toBe('NXDOMAIN');
  });

  it('without views: one zone set of every agent by its plain name, as before', () => {
    const zone = new ZoneHolder({ zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseCidrs: [] }, [], new Registry(), pino({ level: 'silent' }));
    zone.setInstances(agents);
    expect(zone.unmatchedView()).toBe(0);
    expect(['web', 'api', 'db'].map((name) => lookup(zone.current(), `${name}.mesh.local`))).toEqual(['answer(1)', 'answer(1)', 'answer(1)']);
    expect(lookup(zone.current(), 'web.dmz.mesh.local')).toBe('NXDOMAIN');
  });
});
