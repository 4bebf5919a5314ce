// The single-label stage, direct (no sockets): `weather.` answered from the mesh zone with the
// query's own label as owner, else relayed to the runtime resolver stage, else passed on to the
// local-names NXDOMAIN; never to the public forwarder.
import { describe, expect, it } from 'vitest';
import { ShortNameMetrics } from '../../../../src/pipeline/short-name-metrics.ts';
import { createSingleLabelStage } from '../../../../src/pipeline/stages/single-label.ts';
import type { PipelineStage, QueryContext, StageAnswer } from '../../../../src/pipeline/types.ts';
import { Rcode, RRType } from '../../../../src/wire/constants.ts';
import { parseRequest } from '../../../../src/wire/request.ts';
import { rcodeOnly } from '../../../../src/wire/response.ts';
import { buildQuery, decode, makeHandler, meshInstance } from '../../../support/dns-messages.ts';

const instances = [meshInstance({ id: 'weather-1a2b', name: 'weather', addresses: ['10.0.0.7'] })];
const records = [
  { name: 'hello', type: 'A' as const, value: '192.0.2.10' },
  { name: 'www', type: 'CNAME' as const, value: 'hello' },
];

/** A stand-in for the runtime resolver's forward stage: records what it was asked. */
function runtimeStage(): PipelineStage & { asked: string[] } {
  const asked: string[] = [];
  return {
    name: 'runtime-test',
    asked,
    resolve(context: QueryContext): Promise<StageAnswer> {
      asked.push(context.request.qname);
      return Promise.resolve({ kind: 'forwarded', sections: rcodeOnly(Rcode.NXDOMAIN) });
    },
  };
}

function contextFor(name: string, type: number = RRType.A, views = { recursionAllowed: true, meshAllowed: true, zoneView: 0 }): QueryContext {
  const parsed = parseRequest(buildQuery({ name, type }));
  if (!parsed.ok) throw new Error('bad query');
  return { request: parsed.request, transport: 'udp', family: 'ipv4', clientAddress: '127.0.0.1', ...views };
}

describe('single-label stage', () => {
  it('answers an agent name and a static name as `<label>.` with the zone TTL and AA, both A and AAAA', async () => {
    const { ask } = makeHandler({ instances, records });
    const a = await ask({ name: 'Weather', type: 'A' });
    expect(a.rcode).toBe(Rcode.NOERROR);
    expect(a.aa).toBe(true);
    expect(a.answers.map((record) => [record.name, record.type, record.ttl, record.address])).toEqual([['Weather', RRType.A, 5, '10.0.0.7']]);
    const hello = await ask({ name: 'hello', type: 'A' });
    expect(hello.answers.map((record) => [record.name, record.address])).toEqual([['hello', '192.0.2.10']]);
    // A missing type: NODATA (NOERROR, no answer), not NXDOMAIN (RFC 8020 / reference §5 #4).
    const aaaa = await ask({ name: 'weather', type: 'AAAA' });
    expect([aaaa.rcode, aaaa.answers.length, aaaa.aa]).toEqual([Rcode.NOERROR, 0, true]);
  });

  it('follows a static CNAME: owner is the single label, the chain continues in the zone', async () => {
    const { ask } = makeHandler({ instances, records });
    const www = await ask({ name: 'www', type: 'A' });
    expect(www.answers.map((record) => [record.name, record.type])).toEqual([['www', RRType.CNAME], ['hello.mesh.local', RRType.A]]);
  });

  it('answers a single label it cannot find SERVFAIL + EDE 14 until the zone is ready, not a cacheable NXDOMAIN; a static name answers meanwhile', async () => {
    const { ask, setReady } = makeHandler({ instances: [], records, ready: false });
    const early = await ask({ name: 'weather', type: 'A', edns: {} });
    expect([early.rcode, early.opt?.ede]).toEqual([Rcode.SERVFAIL, { code: 14, text: 'registry not synced yet' }]);
    expect((await ask({ name: 'hello', type: 'A' })).answers.map((record) => record.address)).toEqual(['192.0.2.10']);
    setReady(true);
    expect((await ask({ name: 'weather', type: 'A' })).rcode).toBe(Rcode.NXDOMAIN);
  });

  it('keeps NXDOMAIN for a single label nobody has (domain-needed), and forwards TLD infrastructure types as before', async () => {
    const { ask } = makeHandler({ instances, records });
    expect((await ask({ name: 'nobody', type: 'A' })).rcode).toBe(Rcode.NXDOMAIN);
    const stage = createSingleLabelStage({ zone: { current: () => makeHandler({ instances }).zones, ready: () => true }, runtime: null, domainNeeded: true, metrics: new ShortNameMetrics() });
    expect(stage.resolve(contextFor('com', RRType.NS), () => { throw new Error('unused'); })).toBeNull();
  });

  it('relays a single label that is not a mesh name to the runtime resolver only, and counts each source', async () => {
    const { zones } = makeHandler({ instances });
    const runtime = runtimeStage();
    const metrics = new ShortNameMetrics();
    const stage = createSingleLabelStage({ zone: { current: () => zones, ready: () => true }, runtime, domainNeeded: true, metrics });
    const next = () => {
      throw new Error('never the rest of the pipeline');
    };
    const zoneAnswer = stage.resolve(contextFor('weather'), next) as StageAnswer;
    expect(zoneAnswer.kind).toBe('authoritative');
    expect(runtime.asked).toEqual([]);
    const relayed = await stage.resolve(contextFor('registry'), next);
    expect(relayed?.kind).toBe('forwarded');
    expect(runtime.asked).toEqual(['registry']);
    // Multi-label names are not this stage's: passed on, runtime not asked.
    expect(stage.resolve(contextFor('registry.example.test'), next)).toBeNull();
    // A client without recursion is not relayed anywhere.
    expect(stage.resolve(contextFor('postgres', RRType.A, { recursionAllowed: false, meshAllowed: true, zoneView: 0 }), next)).toBeNull();
    expect(runtime.asked).toEqual(['registry']);
    expect(metrics.singleLabel).toEqual({ zone: 1, runtime: 1, nxdomain: 1 });
  });

  it('does not show mesh names to a client whose view excludes the mesh', () => {
    const { zones } = makeHandler({ instances });
    const stage = createSingleLabelStage({ zone: { current: () => zones, ready: () => true }, runtime: null, domainNeeded: true, metrics: new ShortNameMetrics() });
    expect(stage.resolve(contextFor('weather', RRType.A, { recursionAllowed: true, meshAllowed: false, zoneView: 0 }), () => { throw new Error('unused'); })).toBeNull();
  });

  it('shows a client only the agents of its own view (the zone set of context.zoneView); none in no view', () => {
    const withWeather = makeHandler({ instances }).zones;
    const withoutWeather = makeHandler({ instances: [meshInstance({ id: 'db-1', name: 'db' })] }).zones;
    const stage = createSingleLabelStage({ zone: { current: (view = 0) => (view === 0 ? withWeather : withoutWeather), ready: () => true }, runtime: null, domainNeeded: true, metrics: new ShortNameMetrics() });
    const next = () => {
      throw new Error('unused');
    };
    const views = (zoneView: number) => ({ recursionAllowed: true, meshAllowed: true, zoneView });
    expect((stage.resolve(contextFor('weather', RRType.A, views(0)), next) as StageAnswer).kind).toBe('authoritative');
    expect(stage.resolve(contextFor('weather', RRType.A, views(1)), next)).toBeNull();
    expect((stage.resolve(contextFor('db', RRType.A, views(1)), next) as StageAnswer).kind).toBe('authoritative');
    expect(stage.resolve(contextFor('weather', RRType.A, views(-1)), next)).toBeNull();
  });

  it('keeps its memo entries apart from the zone\'s own: a NODATA of the same question length stays well-formed', async () => {
    // `x.mesh.local` and the label `abcdefghijkl` both take 14 octets on the wire; the zone's
    // negative answers are memoised by length, with the SOA owner as a pointer into the question.
    const { send } = makeHandler({ instances: [meshInstance({ id: 'x', name: 'x' }), meshInstance({ id: 'abcdefghijkl', name: 'abcdefghijkl' })] });
    const meshNodata = decode((await send(buildQuery({ name: 'x.mesh.local', type: 'AAAA' })))!);
    expect(meshNodata.authorities[0]?.name).toBe('mesh.local');
    const labelNodata = decode((await send(buildQuery({ name: 'abcdefghijkl', type: 'AAAA' })))!);
    expect([labelNodata.rcode, labelNodata.answers.length, labelNodata.authorities[0]?.name, labelNodata.errors]).toEqual([Rcode.NOERROR, 0, 'mesh.local', []]);
  });
});
