// The autopath stage, direct and through the handler (no sockets): a search-expanded name
// (more labels below the mesh apex than any mesh name) is counted; with autopath it is answered
// as CNAME → bare name + the bare name's records; a failing bare name keeps the NXDOMAIN.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { AnswerCache } from '../../../../src/cache/answer-cache.ts';
import { ShortNameMetrics } from '../../../../src/pipeline/short-name-metrics.ts';
import { createCacheStage } from '../../../../src/pipeline/stages/cache.ts';
import { searchExpandedBareName } from '../../../../src/pipeline/stages/autopath.ts';
import { deepestMeshName } from '../../../../src/zone/zone.ts';
import type { PipelineStage, QueryContext, StageAnswer } from '../../../../src/pipeline/types.ts';
import { Flag, Rcode, RRType } from '../../../../src/wire/constants.ts';
import { rcodeOnly } from '../../../../src/wire/response.ts';
import { indexUpstreamMessage, type IndexedMessage } from '../../../../src/wire/upstream-message.ts';
import { upstreamQuery } from '../../forward/fake-upstream.ts';
import { buildQuery, encodeRecord, makeHandler, meshInstance } from '../../../support/dns-messages.ts';

const instances = [meshInstance({ id: 'weather-1a2b', name: 'weather', addresses: ['10.0.0.7'], capabilities: [{ name: 'forecast', version: '1' }] })];

/** What an upstream would say for the bare names, as relayed bytes (owner pointers into the question). */
function upstreamAnswer(context: QueryContext): StageAnswer {
  // (a StageAnswer: `forwarded` is added by handlerWithUpstream when a cache is in the pipeline)
  const { qname, qtype } = context.request;
  const respond = (rcode: number, answers: Buffer[]) => {
    const message = buildQuery({ name: qname, type: qtype, flags: Flag.QR | Flag.RD | Flag.RA | rcode, answerRecords: answers });
    const indexed = indexUpstreamMessage(message);
    if ('error' in indexed) throw new Error(indexed.error);
    return { kind: 'forwarded' as const, sections: indexed, upstream: indexed };
  };
  const pointer = Buffer.from([0xc0, 0x0c]);
  if ((qname === 'api.example.test' || qname === 'api2.example.test') && qtype === RRType.A) return respond(0, [encodeRecord({ nameBytes: pointer, type: 'A', ttl: 300, rdata: Buffer.from([192, 0, 2, qname === 'api2.example.test' ? 3 : 1]) })]);
  if (qname === 'api.example.test') return respond(0, []);
  if (qname === 'alias.example.test') {
    // CNAME target compressed against the question: `www` + pointer to `example.test` at offset 18.
    const target = Buffer.concat([Buffer.from([3]), Buffer.from('www'), Buffer.from([0xc0, 18])]);
    return respond(0, [
      encodeRecord({ nameBytes: pointer, type: 'CNAME', ttl: 60, rdata: target }),
      encodeRecord({ nameBytes: Buffer.concat([Buffer.from([3]), Buffer.from('www'), Buffer.from([0xc0, 18])]), type: 'A', ttl: 30, rdata: Buffer.from([192, 0, 2, 2]) }),
    ]);
  }
  if (qname === 'mail.example.test') return respond(0, [encodeRecord({ nameBytes: pointer, type: 'MX', ttl: 300, rdata: Buffer.concat([Buffer.from([0, 10]), pointer]) })]);
  if (qname === 'broken.example.test') return { kind: 'upstream_failed', sections: rcodeOnly(Rcode.SERVFAIL) };
  return respond(Rcode.NXDOMAIN, []);
}

function handlerWithUpstream(autopath: boolean, withCache = false) {
  const asked: string[] = [];
  const forward: PipelineStage = {
    name: 'forward-test',
    resolve(context) {
      asked.push(`${context.request.qname}/${context.request.qtype}`);
      const answer = upstreamAnswer(context);
      // With a cache, the typed seam it stores from: the forwarded message and the query sent.
      if (withCache && answer.kind === 'forwarded') {
        const message = answer.sections as IndexedMessage;
        answer.forwarded = { query: upstreamQuery(context.request.qname, { qtype: context.request.qtype, recursionDesired: true }), message };
      }
      return Promise.resolve(answer);
    },
  };
  const shortNameMetrics = new ShortNameMetrics();
  const cache = withCache ? createCacheStage({ cache: new AnswerCache({ prefetch: false }), staleAnswerTimeoutMs: 800, now: () => 1_700_000_000_000, logger: pino({ level: 'silent' }) }) : null;
  const handler = makeHandler({ instances, pipeline: { autopath, shortNameMetrics, recursion: { cache, forward } } });
  return { ...handler, asked, shortNameMetrics };
}

describe('search-expanded names', () => {
  it('are the names below the apex deeper than any mesh name (service names aside) and not in the zone', () => {
    const { zones } = makeHandler({ instances, records: [{ name: 'a.b', type: 'A', value: '192.0.2.5' }] });
    expect(deepestMeshName(makeHandler({ instances }).zones)).toBe(1);
    expect(deepestMeshName(zones)).toBe(2);
    const plain = makeHandler({ instances }).zones;
    expect(searchExpandedBareName(plain, 'api.example.test.mesh.local', 1)).toBe('api.example.test');
    expect(searchExpandedBareName(plain, 'x.weather.mesh.local', 1)).toBe('x.weather');
    expect(searchExpandedBareName(plain, 'weather.mesh.local', 1)).toBeNull();
    expect(searchExpandedBareName(plain, 'nobody.mesh.local', 1)).toBeNull();
    expect(searchExpandedBareName(plain, '_forecast._tcp.mesh.local', 1)).toBeNull(); // in the zone
    expect(searchExpandedBareName(plain, 'api.example.test', 1)).toBeNull();
    expect(searchExpandedBareName(plain, 'xmesh.local', 1)).toBeNull();
    expect(searchExpandedBareName(zones, 'x.a.mesh.local', 2)).toBeNull();
    expect(searchExpandedBareName(zones, 'y.x.a.mesh.local', 2)).toBe('y.x.a');
    // Deep enough but not under the apex (label-exact): passed on.
    expect(searchExpandedBareName(plain, 'x.y.evilmesh.local', 1)).toBeNull();
    expect(searchExpandedBareName(plain, 'x.y.mesh.localx', 1)).toBeNull();
    expect(searchExpandedBareName(plain, 'x.y.z.mesh', 1)).toBeNull();
  });
});

describe('autopath stage', () => {
  it('off (default): NXDOMAIN with the zone SOA, counted as search-expanded, nothing forwarded', async () => {
    const { ask, asked, shortNameMetrics } = handlerWithUpstream(false);
    const response = await ask({ name: 'api.example.test.mesh.local', type: 'A' });
    expect([response.rcode, response.aa, response.answers.length, response.authorities[0]?.type]).toEqual([Rcode.NXDOMAIN, true, 0, RRType.SOA]);
    expect(asked).toEqual([]);
    expect([shortNameMetrics.searchExpanded, shortNameMetrics.autopathAnswers]).toEqual([1, 0]);
  });

  it('on: CNAME to the bare name, then its records, in one answer (TTL of the CNAME ≤ the negative TTL)', async () => {
    const { ask, asked, shortNameMetrics } = handlerWithUpstream(true);
    const response = await ask({ name: 'Api.Example.Test.mesh.local', type: 'A' });
    expect([response.rcode, response.aa, response.errors]).toEqual([Rcode.NOERROR, true, []]);
    expect(response.answers.map((record) => [record.name, record.type, record.ttl, record.domain ?? record.address])).toEqual([
      ['Api.Example.Test.mesh.local', RRType.CNAME, 7, 'Api.Example.Test'],
      ['Api.Example.Test', RRType.A, 300, '192.0.2.1'],
    ]);
    expect(asked).toEqual([`api.example.test/${RRType.A}`]);
    // NODATA for the bare name: still NOERROR with the CNAME, so the stub stops its walk.
    const aaaa = await ask({ name: 'api.example.test.mesh.local', type: 'AAAA' });
    expect([aaaa.rcode, aaaa.answers.map((record) => record.type)]).toEqual([Rcode.NOERROR, [RRType.CNAME]]);
    expect([shortNameMetrics.searchExpanded, shortNameMetrics.autopathAnswers]).toEqual([2, 2]);
  });

  it('on: a bare name answered from the cache (its records in a shared slab) gives the same answer as forwarded', async () => {
    const { ask, asked } = handlerWithUpstream(true, true);
    // (TTLs aside: the cache caps every record's TTL at the entry's lifetime, the lowest of them.)
    const answers = async (name: string) => (await ask({ name, type: 'A' })).answers.map((record) => [record.name, record.type, record.domain ?? record.address]);
    // api2 first: api's records then sit after another entry's in the same slab, not at offset 0.
    const names = ['api2.example.test.mesh.local', 'api.example.test.mesh.local', 'alias.example.test.mesh.local'];
    const forwarded = [];
    for (const name of names) forwarded.push(await answers(name));
    expect(asked).toHaveLength(3);
    const cached = [];
    for (const name of names) cached.push(await answers(name));
    expect(cached).toEqual(forwarded);
    expect(asked).toHaveLength(3); // the second round came from the cache
  });

  it('on: a compressed CNAME chain from the upstream is re-homed with its names intact', async () => {
    const { ask } = handlerWithUpstream(true);
    const response = await ask({ name: 'alias.example.test.mesh.local', type: 'A' });
    expect(response.errors).toEqual([]);
    expect(response.answers.map((record) => [record.name, record.type, record.ttl, record.domain ?? record.address])).toEqual([
      ['alias.example.test.mesh.local', RRType.CNAME, 7, 'alias.example.test'],
      ['alias.example.test', RRType.CNAME, 60, 'www.example.test'],
      ['www.example.test', RRType.A, 30, '192.0.2.2'],
    ]);
  });

  it('on: the bare name failing (NXDOMAIN, SERVFAIL) or not re-homeable (MX) answers the original NXDOMAIN', async () => {
    const { ask, shortNameMetrics } = handlerWithUpstream(true);
    for (const name of ['missing.example.test.mesh.local', 'broken.example.test.mesh.local']) {
      const response = await ask({ name, type: 'A' });
      expect([name, response.rcode, response.answers.length, response.authorities[0]?.name]).toEqual([name, Rcode.NXDOMAIN, 0, 'mesh.local']);
    }
    expect((await ask({ name: 'mail.example.test.mesh.local', type: 'MX' })).rcode).toBe(Rcode.NXDOMAIN);
    expect(shortNameMetrics.autopathAnswers).toBe(0);
  });

  it('on: a mesh name searched twice (weather.mesh.local.mesh.local) resolves through the mesh zone, not upstream', async () => {
    const { ask, asked } = handlerWithUpstream(true);
    const response = await ask({ name: 'weather.mesh.local.mesh.local', type: 'A' });
    expect(response.answers.map((record) => [record.name, record.type, record.domain ?? record.address])).toEqual([
      ['weather.mesh.local.mesh.local', RRType.CNAME, 'weather.mesh.local'],
      ['weather.mesh.local', RRType.A, '10.0.0.7'],
    ]);
    expect(asked).toEqual([]);
  });

  it('on: mesh names and single labels are untouched; a client without recursion keeps the NXDOMAIN', async () => {
    const { ask, asked, handler } = handlerWithUpstream(true);
    expect((await ask({ name: 'weather.mesh.local', type: 'A' })).answers[0]?.address).toBe('10.0.0.7');
    expect((await ask({ name: 'nobody.mesh.local', type: 'A' })).rcode).toBe(Rcode.NXDOMAIN);
    const outsider = await handler(buildQuery({ name: 'api.example.test.mesh.local' }), { transport: 'udp', family: 'ipv4', address: '203.0.113.9' });
    expect((outsider!.readUInt16BE(2) & 0xf)).toBe(Rcode.REFUSED);
    expect(asked).toEqual([]);
  });
});
