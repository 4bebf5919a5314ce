// The fast path (src/pipeline/fast-path.ts: answers served from precompiled response bytes)
// against the general path (assembleResponse), STYLE.md's differential test: two handlers over the
// same zone and the same cache traffic, one with the fast path and one without, must send the
// same bytes for every query of the corpus, each query asked several times (the first answer of
// a shape builds the template, the later ones are served from it).

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AnswerCache } from '../../../src/cache/answer-cache.ts';
import { createCacheStage } from '../../../src/pipeline/stages/cache.ts';
import type { PipelineStage, StageAnswer } from '../../../src/pipeline/types.ts';
import { Flag, Rcode, RRType } from '../../../src/wire/constants.ts';
import { buildQuery, decode, makeHandler, meshInstance, type QueryOptions, type TestHandlerOptions } from '../../support/dns-messages.ts';
import { aRecord, soaRecord, T0, upstream } from '../cache/fixtures.ts';
import { forwardedAnswer } from './cache-stage-harness.ts';

const zoneData: TestHandlerOptions = {
  instances: [
    meshInstance({ id: 'weather-a1', name: 'weather', addresses: ['10.0.0.11', 'fd00::11'], capabilities: [{ name: 'weather_forecast', version: '1' }] }),
    meshInstance({ id: 'weather-b2', name: 'weather', addresses: ['10.0.0.12'], capabilities: [{ name: 'weather_forecast', version: '1' }] }),
    meshInstance({ id: 'solo', name: 'solo', addresses: ['10.0.0.20'] }),
  ],
  records: [{ name: 'www', type: 'CNAME', value: 'solo' }],
};

/** A handler with cache + a scripted forwarder (what a real upstream would answer, from fixtures). */
function handlerWith(fastPath: boolean, clock: { now: number }) {
  const forward: PipelineStage = {
    name: 'forward',
    resolve(context): Promise<StageAnswer> {
      const { request } = context;
      const negative = request.qname.startsWith('nx.');
      const message = upstream({
        name: request.qname,
        type: request.qtype,
        rcode: negative ? Rcode.NXDOMAIN : Rcode.NOERROR,
        answers: negative ? [] : [aRecord(300, 1), aRecord(200, 2)],
        authority: negative ? [soaRecord(900, 60)] : [],
        flags: request.qname.startsWith('signed.') ? Flag.AD : 0,
      });
      return Promise.resolve(forwardedAnswer(request, message));
    },
  };
  const cache = createCacheStage({ cache: new AnswerCache(), staleAnswerTimeoutMs: 1_800, now: () => clock.now, logger: pino({ level: 'silent' }) });
  return makeHandler({ ...zoneData, fastPath, pipeline: { recursion: { cache, forward } } });
}

const mesh: QueryOptions[] = [
  { name: 'solo.mesh.local', type: 'A' },
  { name: 'solo.mesh.local', type: 'A', edns: {} },
  { name: 'solo.mesh.local', type: 'A', edns: { do: true } },
  { name: 'SoLo.MeSh.LoCaL', type: 'A', edns: {} }, // 0x20: echoed as sent
  { name: 'solo.mesh.local', type: 'A', rd: false, cd: true },
  { name: 'solo.mesh.local', type: 'A', id: 0xffff, edns: { udpSize: 4096 } },
  { name: 'solo.mesh.local', type: 'A', id: 0 },
  { name: 'weather-a1.mesh.local', type: 'AAAA', edns: {} },
  { name: 'weather-a1.mesh.local', type: 'TXT' },
  { name: 'weather-a1.mesh.local', type: 'ANY', edns: { udpSize: 1232 } },
  { name: 'weather.mesh.local', type: 'A' }, // two A records: rotated, general path
  { name: '_mcp._tcp.weather.mesh.local', type: 'SRV', edns: {} },
  { name: '_weather_forecast._tcp.mesh.local', type: 'SRV' },
  { name: 'www.mesh.local', type: 'A', edns: { do: true } },
  { name: 'solo.mesh.local', type: 'MX' }, // NODATA
  { name: 'solo.mesh.local', type: 'AAAA', edns: {} }, // NODATA
  { name: 'nope.mesh.local', type: 'A' }, // NXDOMAIN
  { name: 'NoPe.mesh.local', type: 'A', edns: { do: true } },
  { name: 'another-nope.mesh.local', type: 'TXT', edns: {} },
  { name: '10.0.0.10.in-addr.arpa', type: 'PTR', edns: {} },
];
const forwarded: QueryOptions[] = [
  { name: 'www.example.com', type: 'A' },
  { name: 'www.example.com', type: 'A', edns: {} },
  { name: 'WWW.Example.COM', type: 'A', edns: { do: true } },
  { name: 'www.example.com', type: 'A', rd: false },
  { name: 'signed.example.com', type: 'A', edns: { do: true } }, // AD relayed to DO clients only
  { name: 'signed.example.com', type: 'A' },
  { name: 'nx.example.com', type: 'A', edns: {} },
];

describe('fast path (precompiled responses) against the general path', () => {
  it('gives byte-identical responses for mesh A/AAAA/SRV/TXT/ANY, NODATA, NXDOMAIN, 0x20, EDNS/DO, odd IDs and cache hits, UDP and TCP', async () => {
    const clock = { now: T0 };
    const fast = handlerWith(true, clock);
    const general = handlerWith(false, clock);
    let compared = 0;
    let cacheHits = 0;
    const ask = async (query: QueryOptions, transport: 'udp' | 'tcp') => {
      const message = buildQuery(query);
      const [a, b] = [await fast.send(message, transport), await general.send(message, transport)];
      expect(a, `${String(query.name)} ${String(query.type)} ${transport}`).not.toBeNull();
      expect(a!.equals(b!), `${String(query.name)} ${String(query.type)} ${transport}: fast ${a!.toString('hex')} general ${b!.toString('hex')}`).toBe(true);
      compared++;
      return a!;
    };
    for (const transport of ['udp', 'tcp'] as const) {
      for (let round = 0; round < 3; round++) for (const query of mesh) await ask(query, transport);
      // First ask forwards (and stores), the later ones are cache hits with TTLs counted down.
      for (let round = 0; round < 3; round++) {
        for (const query of forwarded) {
          const response = await ask(query, transport);
          if (round > 0 && response.readUInt16BE(6) > 0) cacheHits++;
        }
        clock.now += 7_000;
      }
    }
    expect(compared).toBe(2 * 3 * (mesh.length + forwarded.length));
    expect(cacheHits).toBeGreaterThan(10);
    // The metrics of both agree too: the fast path counts as the general path does.
    const metric = async (h: typeof fast) => JSON.stringify((await h.metrics.getSingleMetric('meshdns_dns_responses_total')!.get()).values);
    expect(await metric(fast)).toBe(await metric(general));
  });

  it('counts a cached answer down on the copy, never in the template', async () => {
    const clock = { now: T0 };
    const fast = handlerWith(true, clock);
    const query = buildQuery({ name: 'www.example.com', type: RRType.A });
    await fast.send(query);
    const ttlAt = (response: Buffer) => decode(response).answers[0]!.ttl;
    clock.now += 10_000;
    const first = (await fast.send(query))!;
    const again = (await fast.send(query))!;
    clock.now += 5_000;
    const later = (await fast.send(query))!;
    expect([ttlAt(first), ttlAt(again), ttlAt(later)]).toEqual([190, 190, 185]); // stored at the RRset's lowest TTL (200);
  });
});
