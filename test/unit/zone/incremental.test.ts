// IncrementalZone against compileZone (issue 9 item 5): after any sequence of adds, changes and
// removals the incrementally kept zone set must be the one a full compile gives — same owners,
// same RRsets in the same order, same skips (collisions, static shadowing, answer budget), same
// stats — and the memoised answers must be the ones a fresh zone encodes. Pure: no sockets.
import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RRType } from '../../../src/wire/constants.ts';
import { plainNameWireLength } from '../../../src/wire/name.ts';
import { answerFromZone } from '../../../src/zone/answer.ts';
import { compileZone, type MeshInstance, type StaticRecord, type ZoneCompileOptions } from '../../../src/zone/compile.ts';
import { skipHash, SLICED_BUILD_THRESHOLD, ZoneHolder } from '../../../src/zone/holder.ts';
import { IncrementalZone } from '../../../src/zone/incremental.ts';
import { reverseName, reverseZonesForCidr } from '../../../src/zone/reverse.ts';
import { ReverseNodes } from '../../../src/zone/reverse-nodes.ts';
import { compileStaticRecords } from '../../../src/zone/static-records.ts';
import { instancesForView, type NamespacedInstance } from '../../../src/zone/views.ts';
import { deepestMeshName, type ZoneSet } from '../../../src/zone/zone.ts';
import { searchExpandedBareName } from '../../../src/pipeline/stages/autopath.ts';
import { meshInstance, normalisedSections } from '../../support/dns-messages.ts';
import { seededRandom } from '../../support/seeded-random.ts';

const OPTIONS: ZoneCompileOptions = { zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseZones: [...reverseZonesForCidr('10.0.0.0/8'), ...reverseZonesForCidr('fd00::/8'), '9.9.9.10.in-addr.arpa'], serial: 1 };
// Static records that collide with agent labels, shadow PTRs and point CNAME/SRV chains at agents.
const STATIC: StaticRecord[] = compileStaticRecords(
  [
    { name: 'registry', type: 'A', value: '10.0.0.1' },
    { name: 'web', type: 'A', value: '10.0.0.2' },
    { name: 'alias', type: 'CNAME', value: 'api' },
    { name: 'api-2', type: 'CNAME', value: 'db-3' },
    { name: '_lb._tcp', type: 'SRV', value: '1 1 80 worker' },
    { name: 'deep.below.ns', type: 'TXT', value: 'x' },
    // A service name held from config (agents' SRVs there are shadowed), and one under an agent's
    // `_tcp.<name>` (that parent is held; the agent's `_mcp._tcp.<name>` is answered from its name).
    { name: '_mcp._tcp.api', type: 'SRV', value: '1 1 80 web' },
    { name: '_x._tcp.db', type: 'TXT', value: 'y' },
  ],
  'mesh.local',
  5,
);

/** The shared seeded PRNG (mulberry32): a failure names its seed and replays. */
const prng = (seed: number): (() => number) => seededRandom(seed).next;

// Few names, ids and addresses, so collisions, replicas, shared addresses and folded spellings are common.
// 'app' is also a namespace: with views, `_tcp.app.mesh.local` is both the parent of the agent's
// service name and held above namespace app's capability names.
const NAMES = ['web', 'api', 'db', 'worker', 'Worker', 'api-2', 'db-3', 'ns', 'alias', 'bad_name', 'wor\u212Aer', 'registry', 'below', 'app'];
const IDS = ['api', 'db-3', 'Api-1', 'web-1', 'web-2', 'web-3', 'api-2', 'worker-1', 'worker-2', 'db-1', 'x-1', 'x-2', 'x-3', 'ns', 'bad id', 'registry'];
const ADDRESSES = ['10.0.0.10', '10.0.0.11', '10.0.0.2', '10.9.9.9', '10.1.0.1', 'fd00::1', 'fd00::2', '192.0.2.1'];
const CAPS = ['weather', 'search', 'bad.cap', 'lb', 'Search'];
const NAMESPACES = ['dmz', 'app', 'data'];

function randomInstance(random: () => number, id: string, namespaces: boolean): NamespacedInstance {
  const pick = <T,>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const addresses = [...new Set(Array.from({ length: Math.floor(random() * 3) }, () => pick(ADDRESSES)))];
  const capabilities = [...new Set(Array.from({ length: Math.floor(random() * 3) }, () => pick(CAPS)))].map((name) => ({ name, version: random() < 0.5 ? '1.0.0' : '' }));
  return {
    ...meshInstance({ id, name: pick(NAMES), addresses, capabilities, port: 8000 + Math.floor(random() * 3) }),
    ...(namespaces ? { namespace: pick(NAMESPACES) } : {}),
  };
}

/** One step: add, change or remove a few agents; the list stays id-sorted like a projection. */
function step(random: () => number, current: NamespacedInstance[], namespaces: boolean): NamespacedInstance[] {
  const byId = new Map(current.map((instance) => [instance.id, instance]));
  const changes = 1 + Math.floor(random() * 3);
  for (let index = 0; index < changes; index++) {
    const id = IDS[Math.floor(random() * IDS.length)]!;
    if (byId.has(id) && random() < 0.35) byId.delete(id);
    else byId.set(id, randomInstance(random, id, namespaces));
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Everything answers depend on: owners, RRsets in order (ANY answers follow it), skips, stats. */
function shape(zones: ZoneSet): unknown {
  return {
    zones: [...zones.byApex.values()].map((zone) => ({
      apex: zone.apex,
      soa: zone.soa,
      negativeSoa: zone.negativeSoa,
      // size and has() beside the RRsets: a derived node answers them from its counts alone.
      nodes: [...zone.nodes].map(([owner, node]) => [owner, [...node], node.size, QTYPES.filter((type) => node.has(type))] as const).sort(([a], [b]) => (a < b ? -1 : 1)),
    })).sort((a, b) => (a.apex < b.apex ? -1 : 1)),
    typesPresent: [...zones.typesPresent].sort(),
    stats: zones.stats,
    skipped: zones.skipped.map((skip) => JSON.stringify(skip)).sort(),
    serial: zones.serial,
  };
}

const QTYPES = [RRType.A, RRType.AAAA, RRType.TXT, RRType.SRV, RRType.PTR, RRType.SOA, RRType.NS, RRType.CNAME, RRType.ANY, 99];

/** Asks every owner of `reference` (and a few absent names) of both zone sets; the bytes must match. */
function sameAnswers(actual: ZoneSet, reference: ZoneSet): void {
  // The autopath stage's bound: never below the deepest name held (raised in place, not lowered).
  expect(actual.deepestName).toBeGreaterThanOrEqual(reference.deepestName);
  expect(reference.deepestName).toBe(deepestMeshName(reference));
  const names = new Set(['nothing.mesh.local', 'x.nothing.mesh.local', '1.2.3.4.in-addr.arpa']);
  for (const zone of [...reference.byApex.values(), ...actual.byApex.values()]) for (const owner of zone.nodes.keys()) names.add(owner);
  for (const name of names) {
    for (const qtype of QTYPES) {
      // Each read as bytes before the next ask: a memoised answer is a view, valid until its memo's next get.
      const got = normalisedSections(answerFromZone(actual, name, qtype, plainNameWireLength(name)));
      const want = normalisedSections(answerFromZone(reference, name, qtype, plainNameWireLength(name)));
      expect({ name, qtype, sections: got }).toEqual({ name, qtype, sections: want });
    }
  }
}

describe('IncrementalZone gives the zone a full compile gives', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`random adds, changes and removals (seed ${seed}), answers memoised between steps`, () => {
      const random = prng(seed);
      const zone = new IncrementalZone(STATIC, OPTIONS);
      let current: NamespacedInstance[] = [];
      for (let serial = 2; serial < 40; serial++) {
        current = step(random, current, false);
        zone.apply(current, serial);
        const reference = compileZone(current, STATIC, { ...OPTIONS, serial });
        expect(shape(zone.zones), `seed ${seed} step ${serial}`).toEqual(shape(reference));
        // The memo was filled at the previous step: stale entries would show here.
        sameAnswers(zone.zones, reference);
      }
    });
  }

  for (const seed of [11, 12, 13]) {
    it(`views: each view's set follows the agents it sees (seed ${seed})`, () => {
      const random = prng(seed);
      const views = [
        { name: 'dmz', namespaces: ['dmz', 'app'], home: 'dmz' },
        { name: 'app', namespaces: ['app', 'data'], home: 'app' },
      ];
      const holder = new ZoneHolder({ zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseCidrs: ['10.0.0.0/8', 'fd00::/8'] }, STATIC, new Registry(), pino({ level: 'silent' }), { list: views, unmatched: 'nxdomain' });
      let current: NamespacedInstance[] = [];
      for (let round = 0; round < 25; round++) {
        current = step(random, current, true);
        holder.setInstances(current);
        const serial = holder.current(0).serial;
        views.forEach((view, index) => {
          const reference = compileZone(instancesForView(current, view), STATIC, { ...OPTIONS, reverseZones: [...reverseZonesForCidr('10.0.0.0/8'), ...reverseZonesForCidr('fd00::/8')], serial });
          expect(shape(holder.current(index)), `seed ${seed} round ${round} view ${view.name}`).toEqual(shape(reference));
          sameAnswers(holder.current(index), reference);
        });
        expect(holder.current(2).serial).toBe(serial);
      }
    });
  }

  for (const seed of [21, 22]) {
    it(`changes handed over as a list of changed agents (RegistrySync's diff) give the same zones (seed ${seed})`, () => {
      const random = prng(seed);
      const views = [
        { name: 'dmz', namespaces: ['dmz', 'app'], home: 'dmz' },
        { name: 'app', namespaces: ['app', 'data'], home: 'app' },
      ];
      const holder = new ZoneHolder({ zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseCidrs: ['10.0.0.0/8', 'fd00::/8'] }, STATIC, new Registry(), pino({ level: 'silent' }), { list: views, unmatched: 'nxdomain' });
      // Every id present, each with an address: changes below keep the members, as the hint requires.
      let current = IDS.map((id) => ({ ...randomInstance(random, id, true), addresses: ['10.0.0.10'] })).sort((a, b) => (a.id < b.id ? -1 : 1));
      holder.setInstances(current);
      for (let round = 0; round < 25; round++) {
        const next = current.map((instance) => {
          if (random() > 0.2) return instance;
          const changed = randomInstance(random, instance.id, true);
          return { ...changed, namespace: instance.namespace, addresses: changed.addresses.length > 0 ? changed.addresses : ['10.0.0.11'] };
        });
        holder.setInstances(next, next.filter((instance, index) => instance !== current[index]));
        current = next;
        const serial = holder.current(0).serial;
        views.forEach((view, index) => {
          const reference = compileZone(instancesForView(current, view), STATIC, { ...OPTIONS, reverseZones: [...reverseZonesForCidr('10.0.0.0/8'), ...reverseZonesForCidr('fd00::/8')], serial });
          expect(shape(holder.current(index)), `seed ${seed} round ${round} view ${view.name}`).toEqual(shape(reference));
          sameAnswers(holder.current(index), reference);
        });
      }
    });
  }

  it('an owner past OWNER_ANSWER_BUDGET keeps the same records and skips as a full compile while its agents come and go', () => {
    const random = prng(99);
    const zone = new IncrementalZone([], OPTIONS);
    // ~41-byte SRV records: about 800 fit under one capability owner.
    let current = Array.from({ length: 1200 }, (_, index) => meshInstance({ id: `agent-${String(index).padStart(4, '0')}`, name: `agent-${index % 400}`, addresses: [`10.1.${index >> 8}.${index & 0xff}`], capabilities: [{ name: 'shared', version: '' }] }));
    for (let serial = 2; serial < 12; serial++) {
      current = current.filter(() => random() > 0.02);
      const index = Math.floor(random() * 1200);
      current = [...current.filter((instance) => instance.id !== `agent-${String(index).padStart(4, '0')}`), meshInstance({ id: `agent-${String(index).padStart(4, '0')}`, name: 'moved', addresses: [`10.2.0.${serial}`], capabilities: [{ name: 'shared', version: '' }] })].sort((a, b) => (a.id < b.id ? -1 : 1));
      zone.apply(current, serial);
      expect(zone.zones.skipped.some((skip) => skip.reason === 'answer_size')).toBe(true);
      expect(shape(zone.zones)).toEqual(shape(compileZone(current, [], { ...OPTIONS, serial })));
    }
  });

  it('a service name past OWNER_ANSWER_BUDGET (1,200 replicas of one name) has the full compile\'s SRVs and skips, answered from its name\'s node', () => {
    const random = prng(98);
    const zone = new IncrementalZone([], OPTIONS);
    let current = Array.from({ length: 1200 }, (_, index) => meshInstance({ id: `replica-${String(index).padStart(4, '0')}`, name: 'many', addresses: [`10.1.${index >> 8}.${index & 0xff}`] }));
    for (let serial = 2; serial < 12; serial++) {
      current = current.filter(() => random() > 0.01);
      zone.apply(current, serial);
      expect(zone.zones.skipped.some((skip) => skip.reason === 'answer_size' && skip.detail.startsWith('_mcp._tcp.many.mesh.local'))).toBe(true);
      const reference = compileZone(current, [], { ...OPTIONS, serial });
      expect(shape(zone.zones)).toEqual(shape(reference));
      expect(normalisedSections(answerFromZone(zone.zones, '_mcp._tcp.many.mesh.local', RRType.SRV, plainNameWireLength('_mcp._tcp.many.mesh.local'))))
        .toEqual(normalisedSections(answerFromZone(reference, '_mcp._tcp.many.mesh.local', RRType.SRV, plainNameWireLength('_mcp._tcp.many.mesh.local'))));
    }
    // Every replica gone: the service name and its parent go with the name.
    zone.apply([], 12);
    expect(zone.zones.byApex.get('mesh.local')!.nodes.has('_mcp._tcp.many.mesh.local')).toBe(false);
    expect(zone.zones.byApex.get('mesh.local')!.nodes.has('_tcp.many.mesh.local')).toBe(false);
    expect(shape(zone.zones)).toEqual(shape(compileZone([], [], { ...OPTIONS, serial: 12 })));
  });

  it('an owner with more records of one type than a derived node counts (70 agents on one address: 70 PTRs) is the full compile\'s, and answers the same', () => {
    const zone = new IncrementalZone([], OPTIONS);
    let current = Array.from({ length: 70 }, (_, index) => meshInstance({ id: `nat-${String(index).padStart(2, '0')}`, name: `nat-${index}`, addresses: ['10.3.0.1'], capabilities: [{ name: 'shared', version: '' }] }));
    zone.apply(current, 2);
    expect(zone.zones.byApex.get('10.in-addr.arpa')!.nodes.get('1.0.3.10.in-addr.arpa')!.get(RRType.PTR)).toHaveLength(70);
    expect(shape(zone.zones)).toEqual(shape(compileZone(current, [], { ...OPTIONS, serial: 2 })));
    sameAnswers(zone.zones, compileZone(current, [], { ...OPTIONS, serial: 2 }));
    // Down to 60 (a derived node again), then back over.
    current = current.slice(0, 60);
    zone.apply(current, 3);
    expect(shape(zone.zones)).toEqual(shape(compileZone(current, [], { ...OPTIONS, serial: 3 })));
    current = [...current, ...Array.from({ length: 10 }, (_, index) => meshInstance({ id: `nat-${70 + index}`, name: `nat-${70 + index}`, addresses: ['10.3.0.1'] }))];
    zone.apply(current, 4);
    expect(shape(zone.zones)).toEqual(shape(compileZone(current, [], { ...OPTIONS, serial: 4 })));
    sameAnswers(zone.zones, compileZone(current, [], { ...OPTIONS, serial: 4 }));
  });

  it('answers the PTR name of an agent alone on its address from the reverse zone\'s index, and holds it again while its address is shared', () => {
    const zone = new IncrementalZone([], OPTIONS);
    const nodes = () => zone.zones.byApex.get('10.in-addr.arpa')!.nodes as ReverseNodes<unknown>;
    const alone = Array.from({ length: 300 }, (_, index) => meshInstance({ id: `solo-${String(index).padStart(3, '0')}`, name: `solo-${index}`, addresses: [`10.4.${index >> 8}.${index & 0xff}`] }));
    const sharer = (index: number) => meshInstance({ id: `zz-${index}`, name: `zz-${index}`, addresses: ['10.4.0.7'] });
    const check = (list: MeshInstance[], serial: number) => {
      zone.apply(list, serial);
      const reference = compileZone(list, [], { ...OPTIONS, serial });
      expect(shape(zone.zones)).toEqual(shape(reference));
      sameAnswers(zone.zones, reference);
    };
    check(alone, 2);
    expect(nodes()).toBeInstanceOf(ReverseNodes);
    // 300 PTR names, their /24 and /16 parents, the zone's apex: only the last four are nodes.
    expect(nodes().size).toBe(304);
    expect([...Map.prototype.keys.call(nodes())].sort()).toEqual(['0.4.10.in-addr.arpa', '1.4.10.in-addr.arpa', '10.in-addr.arpa', '4.10.in-addr.arpa']);
    expect(nodes().held('7.0.4.10.in-addr.arpa')).toBeUndefined();
    expect(nodes().get('7.0.4.10.in-addr.arpa')!.get(RRType.PTR)).toEqual([{ type: RRType.PTR, ttl: 5, target: 'solo-007.mesh.local' }]);
    // Two agents join 10.4.0.7: three PTRs there, a held node; then one of them, then the first, leave.
    check([...alone, sharer(1), sharer(2)], 3);
    expect(nodes().held('7.0.4.10.in-addr.arpa')!.get(RRType.PTR)).toHaveLength(3);
    check([...alone, sharer(2)], 4);
    check([...alone.filter((instance) => instance.id !== 'solo-007'), sharer(2)], 5);
    expect(nodes().held('7.0.4.10.in-addr.arpa')).toBeUndefined();
    expect(nodes().get('7.0.4.10.in-addr.arpa')!.get(RRType.PTR)).toEqual([{ type: RRType.PTR, ttl: 5, target: 'zz-2.mesh.local' }]);
    // An agent moving to another address, one whose id label is lost (its PTR names its name), and all gone.
    const moved = alone.map((instance) => (instance.id === 'solo-001' ? { ...instance, addresses: ['fd00::9'] } : instance.id === 'solo-002' ? { ...instance, id: 'bad id' } : instance));
    check(moved.sort((a, b) => (a.id < b.id ? -1 : 1)), 6);
    expect(zone.zones.byApex.get('d.f.ip6.arpa')!.nodes.get(reverseName('fd00::9'))!.get(RRType.PTR)).toEqual([{ type: RRType.PTR, ttl: 5, target: 'solo-001.mesh.local' }]);
    check([], 7);
    expect(nodes().size).toBe(1);
  });

  it('counts an agent published under its id and under view domains once, as a full compile does', () => {
    const zone = new IncrementalZone([], OPTIONS);
    const plain = meshInstance({ id: 'x-1', name: 'x', addresses: ['10.0.0.10'] });
    const inDmz = { ...plain, domain: 'dmz' };
    const inApp = { ...plain, domain: 'app', ptr: false };
    const other = { ...meshInstance({ id: 'y-1', name: 'y', addresses: ['10.0.0.11'] }), domain: 'dmz' };
    const lists: MeshInstance[][] = [[plain, inDmz, other], [inDmz, other], [plain, inDmz, inApp, other], [inApp], [plain], [], [other, plain]];
    const counts: number[] = [];
    lists.forEach((list, index) => {
      zone.apply(list, index + 2);
      expect(shape(zone.zones)).toEqual(shape(compileZone(list, [], { ...OPTIONS, serial: index + 2 })));
      counts.push(zone.zones.stats.agents);
    });
    expect(counts).toEqual([2, 2, 2, 1, 1, 0, 2]);
  });

  it('a re-ordered list or two instances with one id still give compileZone\'s zone', () => {
    const zone = new IncrementalZone(STATIC, OPTIONS);
    const a = meshInstance({ id: 'web-1', name: 'web', addresses: ['10.0.0.10'] });
    const b = meshInstance({ id: 'web-2', name: 'web', addresses: ['10.0.0.11'] });
    const c = meshInstance({ id: 'web-1', name: 'api', addresses: ['10.0.0.12'] });
    const check = (list: MeshInstance[], serial: number) => {
      zone.apply(list, serial);
      expect(shape(zone.zones)).toEqual(shape(compileZone(list, STATIC, { ...OPTIONS, serial })));
    };
    check([a, b], 2);
    check([b, a], 3);
    expect(zone.lastApply.full).toBe(true);
    check([a, b, c], 4);
  });
});

describe('IncrementalZone re-encodes only what changed', () => {
  const agents = (count: number, moved = -1): MeshInstance[] =>
    Array.from({ length: count }, (_, index) => meshInstance({
      id: `agent-${String(index).padStart(5, '0')}-0000`,
      name: `agent-${index}`,
      addresses: [index === moved ? '10.200.0.1' : `10.${(index >> 16) & 0xff}.${(index >> 8) & 0xff}.${index & 0xff}`],
      capabilities: [{ name: `cap_${index % 50}`, version: '' }, { name: `tool_${index % 7}`, version: '' }],
    }));

  // The autopath stage reads the bound from the zone set the holder hands out, which this object
  // updates in place: a bound cached per object stayed at 1, and a missing name under a namespace
  // that arrived later was taken for a search-expanded one and forwarded (as `missing.prod`).
  it('raises the deepest-name bound in place as a namespaced agent arrives, and keeps it a bound after it leaves', () => {
    const plain = meshInstance({ id: 'web-1', name: 'web', addresses: ['10.0.0.1'] });
    const namespaced = { ...meshInstance({ id: 'api-1', name: 'api', addresses: ['10.0.0.2'] }), domain: 'prod' };
    const zone = new IncrementalZone([], OPTIONS);
    zone.apply([plain], 2);
    const zones = zone.zones;
    expect(zones.deepestName).toBe(1);
    expect(searchExpandedBareName(zones, 'missing.prod.mesh.local', zones.deepestName)).toBe('missing.prod');
    zone.apply([plain, namespaced], 3);
    expect(zone.zones).toBe(zones);
    expect(zones.deepestName).toBe(2);
    expect(searchExpandedBareName(zones, 'missing.prod.mesh.local', zones.deepestName)).toBeNull();
    expect(searchExpandedBareName(zones, 'api.example.test.mesh.local', zones.deepestName)).toBe('api.example.test');
    zone.apply([plain], 4);
    expect(zones.deepestName).toBeGreaterThanOrEqual(deepestMeshName(zones));
  });

  it('one agent moving among 5,000 re-derives that agent and rebuilds only the owners it touches', () => {
    const zone = new IncrementalZone([], OPTIONS);
    zone.apply(agents(5000), 2);
    expect(zone.lastApply).toMatchObject({ reencodedInstances: 5000, full: true });
    const untouched = 'agent-4000.mesh.local';
    const moved = 'agent-1234.mesh.local';
    for (const name of [untouched, moved]) answerFromZone(zone.zones, name, RRType.A, plainNameWireLength(name));
    expect(zone.zones.answerMemo.get(RRType.A, untouched)).toBeDefined();
    expect(zone.zones.answerMemo.get(RRType.A, moved)).toBeDefined();

    zone.apply(agents(5000, 1234), 3);
    // name (its _mcp._tcp.<name> with it: service-nodes.ts), id, two capability owners, the old and the new PTR.
    expect(zone.lastApply).toEqual({ reencodedInstances: 1, rebuiltOwners: 6, full: false });
    // An untouched agent's encoded answer survives the change; the moved one's is re-encoded.
    expect(zone.zones.answerMemo.get(RRType.A, untouched)).toBeDefined();
    expect(zone.zones.answerMemo.get(RRType.A, moved)).toBeUndefined();
    expect(shape(zone.zones)).toEqual(shape(compileZone(agents(5000, 1234), [], { ...OPTIONS, serial: 3 })));
  });

  it('an unchanged poll re-derives nothing', () => {
    const zone = new IncrementalZone([], OPTIONS);
    zone.apply(agents(100), 2);
    zone.apply(agents(100), 3);
    expect(zone.lastApply).toEqual({ reencodedInstances: 0, rebuiltOwners: 0, full: false });
    expect(zone.zones.serial).toBe(3);
    expect(zone.zones.byApex.get('mesh.local')!.soa.serial).toBe(3);
  });

  it('a label won back re-derives the agent whose claim it decides', () => {
    const zone = new IncrementalZone([], OPTIONS);
    const owner = meshInstance({ id: 'web-1', name: 'web', addresses: ['10.0.0.10'] });
    const rival = meshInstance({ id: 'web-2', name: 'Web', addresses: ['10.0.0.11'] });
    zone.apply([owner, rival], 2);
    expect(zone.zones.skipped.map((skip) => skip.reason)).toEqual(['name_collision']);
    zone.apply([rival], 3);
    // web-1 left; web-2's folded "Web" now owns web.mesh.local: two instances derived (one gone).
    expect(zone.lastApply.reencodedInstances).toBe(1);
    expect(zone.zones.byApex.get('mesh.local')!.nodes.get('web.mesh.local')!.get(RRType.A)).toEqual([{ type: RRType.A, ttl: 5, address: '10.0.0.11' }]);
  });
});

describe('ZoneHolder applies a registry change in place', () => {
  it('keeps the encoded answers of agents the change did not touch, re-encodes the moved one, bumps the serial', () => {
    const holder = new ZoneHolder({ zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseCidrs: ['10.0.0.0/8'] }, STATIC, new Registry(), pino({ level: 'silent' }));
    const fleet = (movedTo: string) => Array.from({ length: 50 }, (_, index) => meshInstance({ id: `agent-${String(index).padStart(3, '0')}`, name: `agent-${index}`, addresses: [index === 7 ? movedTo : `10.3.0.${index}`] }));
    holder.setInstances(fleet('10.3.1.7'));
    const ask = (name: string) => normalisedSections(answerFromZone(holder.current(), name, RRType.A, plainNameWireLength(name)))!;
    const memoised = (name: string) => holder.current().answerMemo.get(RRType.A, name) !== undefined;
    const untouched = ask('agent-20.mesh.local');
    ask('agent-7.mesh.local');
    expect([memoised('agent-20.mesh.local'), memoised('agent-7.mesh.local')]).toEqual([true, true]);
    const serial = holder.current().serial;
    holder.setInstances(fleet('10.3.2.7'));
    // agent-20's encoded answer was kept (nothing about it is encoded again); agent-7's was forgotten.
    expect([memoised('agent-20.mesh.local'), memoised('agent-7.mesh.local')]).toEqual([true, false]);
    expect(ask('agent-20.mesh.local')).toEqual(untouched);
    expect(ask('agent-7.mesh.local').body.subarray(-4)).toEqual(Buffer.from([10, 3, 2, 7]));
    expect(holder.current().serial).toBeGreaterThan(serial);
    // agent-7 (and with it _mcp._tcp.agent-7), its id owner and the old and the new PTR owner.
    expect(holder.lastApply()).toEqual([{ reencodedInstances: 1, rebuiltOwners: 4, full: false }]);
  });
});

describe('ZoneHolder warns once per skip', () => {
  it('logs a name collision once, not again on later changes, and a new skip when it appears', () => {
    const lines: { msg: string; agent: string; reason: string; value: string }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const holder = new ZoneHolder({ zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseCidrs: ['10.0.0.0/8'] }, [], new Registry(), logger);
    // Two spellings of one label (README "Names that collide"): "Web" loses web.mesh.local to "web".
    const web1 = meshInstance({ id: 'web-1', name: 'web', addresses: ['10.0.0.10'] });
    const web2 = meshInstance({ id: 'web-2', name: 'Web', addresses: ['10.0.0.11'] });
    holder.setInstances([web1, web2]);
    const collisions = () => lines.filter((line) => line.reason === 'name_collision').map((line) => [line.agent, line.value]);
    expect(collisions()).toEqual([['web-2', 'name "Web" lost web.mesh.local to the name "web" of web-1']]);
    // Changes that leave the collision as it was: no second line.
    holder.setInstances([web1, { ...web2, addresses: ['10.0.0.12'] }]);
    holder.setInstances([web1, web2]);
    expect(collisions()).toHaveLength(1);
    // A third spelling: its own skip is a new line.
    holder.setInstances([web1, web2, meshInstance({ id: 'web-3', name: 'WEB', addresses: ['10.0.0.13'] })]);
    expect(collisions()).toEqual([
      ['web-2', 'name "Web" lost web.mesh.local to the name "web" of web-1'],
      ['web-3', 'name "WEB" lost web.mesh.local to the name "web" of web-1'],
    ]);
  });

  it('hashes skip texts to distinct integers below 2^53', () => {
    const seen = new Set<number>();
    for (let index = 0; index < 200_000; index++) {
      const hash = skipHash(`agent-${index}|answer_size|_cap_${index % 50}._tcp.mesh.local holds 32768 bytes of records`);
      expect(Number.isSafeInteger(hash) && hash >= 0).toBe(true);
      seen.add(hash);
    }
    expect(seen.size).toBe(200_000);
    expect(skipHash('a|b|c')).toBe(skipHash('a|b|c'));
    expect(skipHash('a|b|c')).not.toBe(skipHash('a|b|d'));
  });
});

describe('ZoneHolder builds a large zone in slices beside the served one', () => {
  const fleet = (count: number, namespace?: string) => Array.from({ length: count }, (_, index) => ({
    ...meshInstance({ id: `agent-${String(index).padStart(5, '0')}`, name: `agent-${index % 1500}`, addresses: [`10.4.${index >> 8}.${index & 0xff}`], capabilities: [{ name: 'shared', version: '' }] }),
    ...(namespace === undefined ? {} : { namespace }),
  }));

  it(`over ${SLICED_BUILD_THRESHOLD} agents: the old zone answers until the new one is whole, timers run in between, the result is compileZone's`, async () => {
    const holder = new ZoneHolder({ zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseCidrs: ['10.0.0.0/8'] }, STATIC, new Registry(), pino({ level: 'silent' }));
    const before = holder.current();
    const instances = fleet(SLICED_BUILD_THRESHOLD + 1500);
    holder.setInstances(instances);
    expect(holder.current()).toBe(before);
    expect(answerFromZone(holder.current(), 'agent-1.mesh.local', RRType.A, plainNameWireLength('agent-1.mesh.local'))!.rcode).toBe(3);
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    await holder.settled();
    clearInterval(ticker);
    expect(turns).toBeGreaterThan(3);
    expect(shape(holder.current())).toEqual(shape(compileZone(instances, STATIC, { ...OPTIONS, reverseZones: reverseZonesForCidr('10.0.0.0/8'), serial: holder.current().serial })));
  });

  it('says it serves a projection only once the first one is swapped in, and keeps saying so through a rebuild', async () => {
    const holder = new ZoneHolder({ zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseCidrs: ['10.0.0.0/8'] }, STATIC, new Registry(), pino({ level: 'silent' }));
    expect(holder.servesProjection()).toBe(false);
    // New static records before any projection rebuild the static zone: still no projection.
    holder.setStatic({ zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseCidrs: ['10.0.0.0/8'] }, STATIC);
    expect(holder.servesProjection()).toBe(false);
    holder.setInstances(fleet(SLICED_BUILD_THRESHOLD + 1000));
    expect(holder.buildingInSlices()).toBe(true);
    expect(holder.servesProjection()).toBe(false);
    await holder.settled();
    expect(holder.buildingInSlices()).toBe(false);
    expect(holder.servesProjection()).toBe(true);
    // A rebuild beside the served zone (new static records) keeps the served projection.
    holder.setStatic({ zone: 'mesh.local', ttl: 6, negativeTtl: 5, reverseCidrs: ['10.0.0.0/8'] }, STATIC);
    expect(holder.buildingInSlices()).toBe(true);
    expect(holder.servesProjection()).toBe(true);
    await holder.settled();
  });

  it(`serves a projection of at most ${SLICED_BUILD_THRESHOLD} agents, or of none, at once`, () => {
    for (const count of [0, SLICED_BUILD_THRESHOLD]) {
      const holder = new ZoneHolder({ zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseCidrs: ['10.0.0.0/8'] }, STATIC, new Registry(), pino({ level: 'silent' }));
      holder.setInstances(fleet(count));
      expect(holder.buildingInSlices()).toBe(false);
      expect(holder.servesProjection()).toBe(true);
    }
  });

  it('a newer list arriving during the build is the one swapped in; later changes are incremental', async () => {
    const views = [{ name: 'app', namespaces: ['app'], home: 'app' }];
    const holder = new ZoneHolder({ zone: 'mesh.local', ttl: 5, negativeTtl: 5, reverseCidrs: ['10.0.0.0/8'] }, STATIC, new Registry(), pino({ level: 'silent' }), { list: views, unmatched: 'refused' });
    holder.setInstances(fleet(3000, 'app'));
    await new Promise((resolve) => setImmediate(resolve));
    const newer = fleet(3200, 'app');
    holder.setInstances(newer);
    await holder.settled();
    const reference = () => compileZone(instancesForView(newer, views[0]!), STATIC, { ...OPTIONS, reverseZones: reverseZonesForCidr('10.0.0.0/8'), serial: holder.current().serial });
    expect(shape(holder.current())).toEqual(shape(reference()));
    newer[5] = { ...newer[5]!, addresses: ['10.5.0.5'] };
    holder.setInstances([...newer]);
    expect(holder.lastApply()[0]).toMatchObject({ reencodedInstances: 2, full: false });
    expect(shape(holder.current())).toEqual(shape(reference()));
  });
});

