import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { AnswerCache, cacheKey, cacheKeyForRequest } from '../../../src/cache/answer-cache.ts';
import { createCacheMetrics } from '../../../src/cache/metrics.ts';
import { Flag, Rcode, RRType } from '../../../src/wire/constants.ts';
import { parseRequest } from '../../../src/wire/request.ts';
import { indexUpstreamMessage, type IndexedMessage } from '../../../src/wire/upstream-message.ts';
import { buildQuery, encodeName, encodeRecord } from '../../support/dns-messages.ts';

const T0 = 1_700_000_000_000;

function upstream(name: string, rcode: number, answers: Buffer[], authority: Buffer[] = []): IndexedMessage {
  const indexed = indexUpstreamMessage(buildQuery({ name, flags: Flag.QR | Flag.RD | Flag.RA | rcode, answerRecords: answers, authorityRecords: authority }));
  if ('error' in indexed) throw new Error(indexed.error);
  return indexed;
}

const a = (ttl: number) => encodeRecord({ nameBytes: Buffer.from([0xc0, 0x0c]), type: 'A', ttl, rdata: Buffer.from([192, 0, 2, 1]) });
const soa = encodeRecord({
  name: 'example.com.', type: 'SOA', ttl: 300,
  rdata: Buffer.concat([encodeName('ns1.example.com.'), encodeName('hostmaster.example.com.'), Buffer.alloc(16), Buffer.from([0, 0, 0, 60])]),
});
const key = (label: string) => cacheKey(`${label}.example.com`, RRType.A, 1, false, false);

/** Every sample of the registry as "name{labels}" → value. */
async function samples(register: Registry): Promise<Map<string, number>> {
  const text = await register.metrics();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

describe('cache metrics', () => {
  it('exist with zero values before any traffic, with bounded labels only', async () => {
    const register = new Registry();
    new AnswerCache({}, createCacheMetrics(register));
    expect(Object.fromEntries(await samples(register))).toEqual({
      'meshdns_cache_entries{type="success"}': 0,
      'meshdns_cache_entries{type="denial"}': 0,
      meshdns_cache_servfail_entries: 0,
      meshdns_cache_bytes: 0,
      'meshdns_cache_hits_total{type="success"}': 0,
      'meshdns_cache_hits_total{type="denial"}': 0,
      'meshdns_cache_hits_total{type="servfail"}': 0,
      meshdns_cache_misses_total: 0,
      meshdns_cache_evictions_total: 0,
      meshdns_cache_prefetches_total: 0,
      meshdns_cache_served_stale_total: 0,
    });
  });

  it('follow what the cache does, and agree with stats()', async () => {
    const register = new Registry();
    const cache = new AnswerCache({ maxEntries: 3 }, createCacheMetrics(register));
    cache.store(key('a'), upstream('a.example.com', Rcode.NOERROR, [a(100)]), T0);
    cache.store(key('nx'), upstream('nx.example.com', Rcode.NXDOMAIN, [], [soa]), T0);
    cache.store(key('fail'), upstream('fail.example.com', Rcode.SERVFAIL, []), T0);
    cache.lookup(key('nx'), T0);
    // Four hits on a, the last inside its prefetch window.
    for (const at of [0, 1_000, 2_000, 95_000]) cache.lookup(key('a'), T0 + at);
    cache.lookup(key('fail'), T0);
    cache.lookup(key('unknown'), T0);
    // b and c push the least recently used (nx) out.
    cache.store(key('b'), upstream('b.example.com', Rcode.NOERROR, [a(10)]), T0);
    cache.store(key('c'), upstream('c.example.com', Rcode.NOERROR, [a(10)]), T0);
    // b expired: looked up (a miss), then served stale.
    const request = parseRequest(buildQuery({ name: 'b.example.com' }));
    if (!request.ok) throw new Error('bad request');
    const result = cache.lookup(cacheKeyForRequest(request.request), T0 + 20_000);
    if (result.kind !== 'stale') throw new Error(`expected stale, got ${result.kind}`);
    cache.responseFromEntry(request.request, result.entry, { staleTtl: 30 }, { recursionAvailable: true, udpPayloadSize: 1232, sizeLimit: 512, rotation: 0 });

    const stats = cache.stats();
    expect(stats).toMatchObject({
      entries: { success: 3, denial: 0 }, servfailEntries: 1,
      hits: { success: 4, denial: 1, servfail: 1 }, misses: 2, evictions: 1, prefetches: 1, servedStale: 1,
    });
    expect(Object.fromEntries(await samples(register))).toEqual({
      'meshdns_cache_entries{type="success"}': 3,
      'meshdns_cache_entries{type="denial"}': 0,
      meshdns_cache_servfail_entries: 1,
      meshdns_cache_bytes: stats.bytes,
      'meshdns_cache_hits_total{type="success"}': 4,
      'meshdns_cache_hits_total{type="denial"}': 1,
      'meshdns_cache_hits_total{type="servfail"}': 1,
      meshdns_cache_misses_total: 2,
      meshdns_cache_evictions_total: 1,
      meshdns_cache_prefetches_total: 1,
      meshdns_cache_served_stale_total: 1,
    });
    expect(stats.bytes).toBeGreaterThan(0);
  });
});
