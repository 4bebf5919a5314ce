// The fast path of the authoritative answer (answerFromZone's name-keyed memo) against the
// general path (answerFromZoneReference), STYLE.md's differential test: for a corpus of names and
// types, asked cold and then warm, both give the same answer; and on the wire, a handler answering
// from its warm memo sends the same bytes as a fresh handler answering through the general path.

import { describe, expect, it } from 'vitest';
import { RRType } from '../../../src/wire/constants.ts';
import { answerFromZone, answerFromZoneReference, findZone } from '../../../src/zone/answer.ts';
import { parentName } from '../../../src/wire/name.ts';
import type { ZoneSet } from '../../../src/zone/zone.ts';
import { buildQuery, makeHandler, meshInstance, normalisedSections, type QueryOptions, type TestHandlerOptions } from '../../support/dns-messages.ts';

const zoneData: TestHandlerOptions = {
  instances: [
    meshInstance({ id: 'weather-a1', name: 'weather', addresses: ['10.0.0.11', 'fd00::11'], capabilities: [{ name: 'weather_forecast', version: '1' }] }),
    meshInstance({ id: 'weather-b2', name: 'weather', addresses: ['10.0.0.12'], capabilities: [{ name: 'weather_forecast', version: '1' }] }),
    meshInstance({ id: 'solo', name: 'solo', addresses: ['10.0.0.20'] }),
  ],
  records: [
    { name: 'www', type: 'CNAME', value: 'solo' },
    { name: 'dangling', type: 'CNAME', value: 'nope' },
    { name: 'hello', type: 'TXT', value: 'hi' },
  ],
};

const names = [
  'solo.mesh.local', 'weather.mesh.local', 'weather-a1.mesh.local', 'weather-b2.mesh.local', '_mcp._tcp.weather.mesh.local',
  '_weather_forecast._tcp.mesh.local', '_tcp.mesh.local', 'www.mesh.local', 'dangling.mesh.local', 'hello.mesh.local',
  'mesh.local', 'nope.mesh.local', 'deep.nope.mesh.local', '20.0.0.10.in-addr.arpa', '99.0.0.10.in-addr.arpa', 'example.com',
  // Names under no apex's last label (rejected by mayBeInZones) and under a shared one (walked).
  'svc-0001.example.test', 'com', 'x.arpa', 'arpa', '4.3.2.1.in-addr.arpa', 'local', 'printer.local', 'alocal', 'mesh.locals',
];
const types = [RRType.A, RRType.AAAA, RRType.SRV, RRType.TXT, RRType.ANY, RRType.CNAME, RRType.SOA, RRType.NS, RRType.PTR, RRType.MX, 4711];

describe('zone answers: name-keyed memo (fast path) against answerFromZoneReference (general path)', () => {
  it('gives the same answer for every name × type of the corpus, cold and warm', () => {
    const { zones } = makeHandler(zoneData);
    let compared = 0;
    for (let round = 0; round < 2; round++) {
      for (const name of names) {
        for (const type of types) {
          const wireLength = name.length + 2;
          const fast = answerFromZone(zones, name, type, wireLength);
          const reference = answerFromZoneReference(zones, name, type, wireLength);
          expect(normalisedSections(fast), `${name} ${type} round ${round}`).toEqual(normalisedSections(reference));
          compared++;
        }
      }
    }
    expect(compared).toBe(2 * names.length * types.length);
  });

  it('on the wire: a warm handler sends the bytes a fresh one sends, for 0x20 case, EDNS, DO, RD/CD and odd IDs, UDP and TCP', async () => {
    const warm = makeHandler(zoneData);
    const corpus: QueryOptions[] = [
      { name: 'solo.mesh.local', type: 'A' },
      { name: 'SoLo.MeSh.LoCaL', type: 'A', edns: {} },
      { name: 'solo.mesh.local', type: 'A', edns: { do: true }, id: 0xffff },
      { name: 'solo.mesh.local', type: 'A', rd: false, cd: true, id: 0 },
      { name: 'weather-a1.mesh.local', type: 'AAAA', edns: { udpSize: 4096 } },
      { name: 'weather-a1.mesh.local', type: 'TXT' },
      { name: 'weather-b2.mesh.local', type: 'ANY', edns: {} },
      { name: '_mcp._tcp.weather.mesh.local', type: 'SRV', id: 1 },
      { name: 'WWW.mesh.local', type: 'A', edns: { do: true } },
      { name: 'dangling.mesh.local', type: 'A' },
      { name: 'solo.mesh.local', type: 'MX', edns: {} }, // NODATA
      { name: 'solo.mesh.local', type: 4711 }, // NODATA, a type no zone holds
      { name: '_tcp.mesh.local', type: 'TXT' }, // empty non-terminal
      { name: 'nope.mesh.local', type: 'A', edns: { do: true } }, // NXDOMAIN
      { name: 'NoPe.Mesh.Local', type: 'AAAA' },
      { name: '20.0.0.10.in-addr.arpa', type: 'PTR', edns: {} },
    ];
    for (const transport of ['udp', 'tcp'] as const) {
      for (const query of corpus) {
        const message = buildQuery({ id: 0x1234, ...query });
        await warm.send(message, transport);
        const fromMemo = await warm.send(message, transport);
        const general = await makeHandler(zoneData).send(message, transport);
        expect(fromMemo!.toString('hex'), `${String(query.name)} ${String(query.type)} ${transport}`).toBe(general!.toString('hex'));
      }
    }
  });

  it('findZone (one suffix compare for mesh names) picks the zone the suffix walk through byApex picks, zones inside the mesh apex included', () => {
    // The walk findZone used for every name: the longest suffix of the name that is an apex.
    const byWalk = (zones: ZoneSet, qname: string) => {
      for (let name = qname; ; name = parentName(name)) {
        const zone = zones.byApex.get(name);
        if (zone || name === '') return zone;
      }
    };
    const corpus = [...names, 'mesh.local.evil', 'xmesh.local', 'local', '', '1.0.10.in-addr.arpa', '10.in-addr.arpa', 'in-addr.arpa', 'x.10.in-addr.arpa', 'arpa', 'x.arpa', 'localhost', 'www.example.org', 'ocal', 'rpa'];
    // The usual layout, then a mesh apex that holds the reverse zones (in-addr.arpa: the mesh
    // zone is not the only zone its names can be in), then a mesh apex at the root.
    for (const zone of ['mesh.local', 'in-addr.arpa', '']) {
      const { zones } = makeHandler({ ...zoneData, zone, reverseCidrs: ['10.0.0.0/8', '10.1.0.0/16'] });
      for (const name of [...corpus, ...corpus.map((n) => (zone === '' ? n : `a.${n}`))]) {
        expect(findZone(zones, name)?.apex, `${name} with mesh apex "${zone}"`).toBe(byWalk(zones, name)?.apex);
      }
    }
  });
});
