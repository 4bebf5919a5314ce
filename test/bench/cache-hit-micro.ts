/*
 * In-process micro-benchmark of a forwarded cache hit through the whole query handler (parse →
 * every stage up to the cache → assemble): CPU per query (process.cpuUsage over many
 * iterations), as test/bench/handler-micro.ts does for mesh answers. No sockets and no upstream:
 * a stand-in forward stage answers each name once (the warm-up fills the cache), every measured
 * query is a fresh hit. This is the JavaScript the bench's forward-cache scenario adds on top of
 * the bare dgram loop. To compare two versions, run it in both checkouts alternately. B/q: young-
 * generation bytes allocated per query (young-bytes.ts), with the reused response buffers the UDP
 * listener passes (nothing queued).
 *
 *   npx node test/bench/cache-hit-micro.ts [--iterations N] [--rounds R] [--names N]
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { AnswerCache } from '../../src/cache/answer-cache.ts';
import { createCacheMetrics } from '../../src/cache/metrics.ts';
import { Registry } from '../../src/metrics/prom-client.ts';
import { createCacheStage } from '../../src/pipeline/stages/cache.ts';
import type { PipelineStage, QueryContext, StageAnswer } from '../../src/pipeline/types.ts';
import { Flag } from '../../src/wire/constants.ts';
import { indexUpstreamMessage } from '../../src/wire/upstream-message.ts';
import { createResponseBuffers } from '../../src/listeners/udp-response-buffers.ts';
import type { ClientInfo } from '../../src/pipeline/query-handler.ts';
import { buildQuery, encodeRecord, makeHandler, meshInstance, UDP_CLIENT } from '../support/dns-messages.ts';
import { youngBytesPerCall } from './young-bytes.ts';

const { values } = parseArgs({ options: { iterations: { type: 'string' }, rounds: { type: 'string' }, names: { type: 'string' } } });
const iterations = Number(values.iterations ?? 200_000);
const rounds = Number(values.rounds ?? 4);
const nameCount = Number(values.names ?? 100);

/** The forward stage's stand-in: the upstream's answer (one A record, TTL 3600) for any name. */
function upstreamStage(): PipelineStage {
  return {
    name: 'forward',
    resolve(context: QueryContext): Promise<StageAnswer> {
      const { request } = context;
      const message = buildQuery({
        id: 0x4242, name: request.qname, type: request.qtype, flags: Flag.QR | Flag.RD | Flag.RA,
        answerRecords: [encodeRecord({ nameBytes: Buffer.from([0xc0, 0x0c]), type: request.qtype, ttl: 3600, rdata: request.qtype === 1 ? Buffer.from([198, 51, 100, 7]) : Buffer.alloc(16, 7) })],
        edns: { udpSize: 1232, do: request.edns?.dnssecOk === true },
      });
      const indexed = indexUpstreamMessage(message);
      if ('error' in indexed) throw new Error(indexed.error);
      const query = {
        qname: request.qname, question: request.message.subarray(12, request.questionEnd), qtype: request.qtype, qclass: request.qclass,
        recursionDesired: (request.flags & Flag.RD) !== 0, dnssecOk: request.edns?.dnssecOk ?? false, checkingDisabled: (request.flags & Flag.CD) !== 0,
      };
      return Promise.resolve({ kind: 'forwarded', sections: indexed, forwarded: { ok: true, query, message: indexed } } as StageAnswer);
    },
  };
}

const register = new Registry();
const cache = new AnswerCache({}, createCacheMetrics(register));
const { handler } = makeHandler({
  instances: Array.from({ length: 1000 }, (_, i) => meshInstance({ id: `agent-${String(i).padStart(4, '0')}`, name: `svc-${i}`, addresses: [`10.0.${i >> 8}.${i & 0xff}`] })),
  pipeline: { recursion: { cache: createCacheStage({ cache, staleAnswerTimeoutMs: 1800, now: Date.now, logger: pino({ level: 'silent' }) }), forward: upstreamStage() } },
});

const names = Array.from({ length: nameCount }, (_, i) => `svc-${String(i).padStart(4, '0')}.example.test`);
const scenarios: Record<string, Buffer[]> = {
  // What dnsperf sends in the bench's forward-cache scenario: IN A, RD, no EDNS.
  'hit A': names.map((name, i) => buildQuery({ id: i, name, type: 'A' })),
  'hit A, EDNS': names.map((name, i) => buildQuery({ id: i, name, type: 'A', edns: {} })),
  'hit AAAA, EDNS DO': names.map((name, i) => buildQuery({ id: i, name, type: 'AAAA', edns: { do: true } })),
};

// Fill the cache: one miss per name, forwarded to the stand-in and stored.
for (const queries of Object.values(scenarios)) for (const query of queries) await handler(query, UDP_CLIENT);

/** As the UDP listener passes it: reused response buffers, nothing queued. */
const client: ClientInfo = { ...UDP_CLIENT, responseBuffer: createResponseBuffers(() => 0) };

function measure(queries: Buffer[]): number {
  for (let i = 0; i < 20_000; i++) handler(queries[i % queries.length]!, client);
  const start = process.cpuUsage();
  for (let i = 0; i < iterations; i++) {
    const response = handler(queries[i % queries.length]!, client);
    if (response instanceof Promise) throw new Error('a cache hit went asynchronous (a miss?)');
  }
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / iterations; // ns per query
}

for (const [name, queries] of Object.entries(scenarios)) {
  const results: number[] = [];
  for (let round = 0; round < rounds; round++) results.push(measure(queries));
  const median = [...results].sort((a, b) => a - b)[Math.floor((results.length - 1) / 2)]!;
  const bytes = youngBytesPerCall((i) => handler(queries[i % queries.length]!, client));
  console.log(`${name.padEnd(18)} ${median.toFixed(0)} ns/q (${results.map((x) => x.toFixed(0)).join(', ')})  ${bytes.toFixed(0)} B/q`);
}
const hits = cache.stats().hits;
console.log(`cache hits counted: ${hits.success}, misses: ${cache.stats().misses}`);
