// The forwarded cache hit's fast path against the general path, STYLE.md's differential test.
//
// Fast path: the whole query handler (every stage, the cache stage's reused answer and lookup
// result, the name-alone key of IN A questions, the zone stages' last-label rejection) answering
// a hit. General path: a second AnswerCache, keyed by the full `name type class DOCD` format for
// every question, answered by AnswerCache.responseFromEntry (serve() and assembleResponse with
// its own settings). Both are filled from the same upstream answers at the same (injected) time;
// for a corpus of names, types, DO/CD bits, 0x20 case, IDs and EDNS sizes, asked at several ages,
// the handler must send exactly the bytes the general path builds.

import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AnswerCache } from '../../../src/cache/answer-cache.ts';
import { createResponseBuffers } from '../../../src/listeners/udp-response-buffers.ts';
import type { ClientInfo } from '../../../src/pipeline/query-handler.ts';
import { createCacheStage } from '../../../src/pipeline/stages/cache.ts';
import type { PipelineStage, QueryContext, StageAnswer } from '../../../src/pipeline/types.ts';
import { Flag, Rcode, RRType } from '../../../src/wire/constants.ts';
import { parseRequest, type DnsRequest } from '../../../src/wire/request.ts';
import type { IndexedMessage } from '../../../src/wire/upstream-message.ts';
import { buildQuery, decode, encodeName, encodeRecord, makeHandler, UDP_CLIENT, type QueryOptions } from '../../support/dns-messages.ts';
import { aRecord, QNAME, settingsFor, soaRecord, T0, upstream } from '../cache/fixtures.ts';

/** The key format of every question before IN A got the name alone: the general path's key. */
const generalKey = (request: DnsRequest) =>
  `${request.qname} ${request.qtype} ${request.qclass} ${request.edns?.dnssecOk ? 1 : 0}${(request.flags & Flag.CD) !== 0 ? 1 : 0}`;

const bigTxt = (index: number) => encodeRecord({ nameBytes: QNAME, type: 'TXT', ttl: 200, rdata: Buffer.concat([Buffer.from([250]), Buffer.alloc(250, 0x61 + index)]) });

/** What the upstream answers for each question of the corpus (lowest TTLs from 60 s to 3600 s). */
function upstreamAnswer(request: DnsRequest): IndexedMessage {
  const { qname: name, qtype: type, qclass } = request;
  const flags = (request.flags & Flag.CD) !== 0 ? Flag.AD : 0;
  const edns = request.edns ? { udpSize: 1232, do: request.edns.dnssecOk } : null;
  if (name.startsWith('nx.')) return upstream({ name, type, rcode: Rcode.NXDOMAIN, authority: [soaRecord(900, 300)], edns });
  if (type === RRType.MX && name === 'www.example.com') return upstream({ name, type, authority: [soaRecord(900, 120)], edns });
  if (name === 'big.example.com') return upstream({ name, type: RRType.TXT, answers: [0, 1, 2].map(bigTxt), edns });
  if (type === RRType.AAAA) {
    return upstream({ name, type, flags, answers: [encodeRecord({ nameBytes: QNAME, type: 'AAAA', ttl: 3600, rdata: Buffer.alloc(16, 7) })], edns });
  }
  if (type === RRType.PTR) return upstream({ name, type, answers: [encodeRecord({ nameBytes: QNAME, type: 'PTR', ttl: 600, rdata: encodeName('host.example.net.') })], edns });
  if (type === RRType.MX) {
    const mx = Buffer.concat([Buffer.from([0, 10]), encodeName('mail.example.com.')]);
    return upstream({ name, type, answers: [encodeRecord({ nameBytes: QNAME, type: 'MX', ttl: 300, rdata: mx })], additional: [aRecord(300, 9, encodeName('mail.example.com.'))], edns });
  }
  // A (and anything else): two records with different TTLs, so each TTL field counts down on its own.
  return upstream({ name, type, qclass, flags, answers: [aRecord(60, 1), aRecord(3600, 2)], edns });
}

/** The names and question shapes of the corpus; every one is asked in each variant below. */
const questions: QueryOptions[] = [
  { name: 'www.example.com', type: 'A' },
  { name: 'svc-0001.example.test', type: 'A' },
  { name: 'a.b.c.example.org', type: 'A' },
  { name: 'www.example.com', type: 'A', edns: { do: true } },
  { name: 'www.example.com', type: 'A', cd: true },
  { name: 'www.example.com', type: 'A', cd: true, edns: { do: true } },
  { name: 'www.example.com', type: 'A', qclass: 255 },
  { name: 'www.example.com', type: 'AAAA' },
  { name: 'www.example.com', type: 'AAAA', edns: { do: true }, cd: true },
  { name: 'www.example.com', type: 'MX' },
  { name: 'mx.example.com', type: 'MX' },
  { name: 'nx.example.com', type: 'A' },
  { name: 'big.example.com', type: 'TXT', edns: {} },
  // Under `arpa`, a tail our reverse zones share: past the zone stages' first check, not ours.
  { name: '4.3.2.1.in-addr.arpa', type: 'PTR' },
  // Longer than the names readQuestionNameString keeps for reuse (64 characters): a new string each time.
  { name: `${'long-label-'.repeat(3)}a.${'long-label-'.repeat(3)}b.example.com`, type: 'A' },
];

/** Variants of one question that share its cache entry: case, ID, RD, EDNS presence and size. */
function variants(question: QueryOptions): QueryOptions[] {
  const name = String(question.name);
  const mixed = [...name].map((char, index) => (index % 2 === 0 ? char.toUpperCase() : char)).join('');
  const dnssecOk = question.edns?.do === true;
  const out: QueryOptions[] = [
    { ...question, id: 0 },
    { ...question, name: mixed, id: 0xffff },
    { ...question, name: name.toUpperCase(), id: 0x1234, rd: false },
    { ...question, id: 7, edns: { udpSize: 512, do: dnssecOk } },
    { ...question, id: 8, edns: { udpSize: 4096, do: dnssecOk } },
  ];
  // Without EDNS only when the question has no DO (DO needs an OPT).
  if (!dnssecOk) out.push({ ...question, id: 9, edns: null });
  return out;
}

function parsed(message: Buffer): DnsRequest {
  const result = parseRequest(message);
  if (!result.ok) throw new Error(`bad test query: ${result.reason}`);
  return result.request;
}

function setup() {
  const clock = { now: T0 };
  let forwards = 0;
  const fast = new AnswerCache();
  const general = new AnswerCache();
  // The forward stage's stand-in: the upstream's answer, stored under the general key at once too.
  const forward: PipelineStage = {
    name: 'forward',
    resolve(context: QueryContext): Promise<StageAnswer> {
      forwards++;
      const { request } = context;
      const message = upstreamAnswer(request);
      const query = {
        qname: request.qname, question: request.message.subarray(12, request.questionEnd), qtype: request.qtype, qclass: request.qclass,
        recursionDesired: (request.flags & Flag.RD) !== 0, dnssecOk: request.edns?.dnssecOk ?? false, checkingDisabled: (request.flags & Flag.CD) !== 0,
      };
      expect(general.storeForwarded(generalKey(request), { query, message }, clock.now)).toMatch(/^(success|denial)$/);
      return Promise.resolve({ kind: 'forwarded', sections: message, forwarded: { query, message } });
    },
  };
  const { handler } = makeHandler({
    pipeline: { recursion: { cache: createCacheStage({ cache: fast, staleAnswerTimeoutMs: 1800, now: () => clock.now, logger: pino({ level: 'silent' }) }), forward } },
  });
  /** The general path's bytes for a query, or null when its entry is not fresh. */
  const reference = (message: Buffer): Buffer | null => {
    const request = parsed(message);
    const found = general.lookup(generalKey(request), clock.now);
    if (found.kind !== 'fresh') return null;
    return general.responseFromEntry(request, found.entry, { ageSeconds: found.ageSeconds }, settingsFor(request));
  };
  return { clock, handler, reference, forwards: () => forwards, fast };
}

describe('forwarded cache hits: the handler (fast path) against responseFromEntry under the full key (general path)', () => {
  it.each([
    ['a new buffer per answer', UDP_CLIENT],
    // As the UDP listener passes it (nothing queued): one reused buffer per length.
    ['the UDP listener\'s reused buffers', { ...UDP_CLIENT, responseBuffer: createResponseBuffers(() => 0) }],
  ])('sends the same bytes for every question × variant, at every age while fresh (%s)', async (_how, client: ClientInfo) => {
    const { clock, handler, reference, forwards } = setup();
    // Fill both caches: one forward per distinct question.
    for (const question of questions) await handler(buildQuery({ ...question, id: 1 }), UDP_CLIENT);
    expect(forwards()).toBe(questions.length);

    let compared = 0;
    // Ages in ms since the store: TTLs count down by whole seconds elapsed (RFC 1035 §3.2.1).
    for (const age of [0, 999, 1_000, 1_001, 30_500, 59_999]) {
      clock.now = T0 + age;
      for (const question of questions) {
        for (const variant of variants(question)) {
          const message = buildQuery(variant);
          const expected = reference(message);
          expect(expected, `${String(variant.name)} fresh at ${age} ms`).not.toBeNull();
          const response = handler(message, client);
          // A hit answers synchronously: nothing is forwarded.
          expect(response).toBeInstanceOf(Buffer);
          expect((response as Buffer).equals(expected!), `${String(variant.name)} ${String(variant.type)} id ${variant.id} at ${age} ms`).toBe(true);
          compared++;
        }
      }
    }
    expect(forwards()).toBe(questions.length);
    expect(compared).toBeGreaterThan(300);
  });

  it('restores the client ID and question case, and counts TTLs down with the injected clock', async () => {
    const { clock, handler } = setup();
    await handler(buildQuery({ name: 'www.example.com', id: 1 }), UDP_CLIENT);
    clock.now = T0 + 12_345;
    const response = handler(buildQuery({ name: 'WwW.eXaMpLe.CoM', id: 0xbeef }), UDP_CLIENT) as Buffer;
    const decoded = decode(response);
    expect(decoded.id).toBe(0xbeef);
    expect(decoded.questions[0]!.name).toBe('WwW.eXaMpLe.CoM');
    // Stored TTLs are capped at the entry's lifetime (the lowest, 60 s), then 12 whole seconds pass.
    expect(decoded.answers.map((record) => record.ttl)).toEqual([60 - 12, 60 - 12]);
  });

  it('expires at the same moment on both paths: past the lowest TTL neither answers fresh', async () => {
    const { clock, handler, reference, forwards } = setup();
    const message = buildQuery({ name: 'www.example.com', id: 3 });
    await handler(message, UDP_CLIENT);
    clock.now = T0 + 59_999;
    expect(reference(message)).not.toBeNull();
    expect(handler(message, UDP_CLIENT)).toBeInstanceOf(Buffer);
    clock.now = T0 + 60_000;
    expect(reference(message)).toBeNull();
    // Expired: the handler goes upstream (asynchronously) instead of answering from the entry.
    const refreshed = handler(message, UDP_CLIENT);
    expect(refreshed).toBeInstanceOf(Promise);
    await refreshed;
    expect(forwards()).toBe(2);
  });

  it('keeps questions that differ in type, class, DO or CD apart under the name-alone key of IN A', async () => {
    const { handler, forwards } = setup();
    const shapes: QueryOptions[] = [
      { name: 'www.example.com', type: 'A' },
      { name: 'www.example.com', type: 'A', edns: { do: true } },
      { name: 'www.example.com', type: 'A', cd: true },
      { name: 'www.example.com', type: 'A', qclass: 255 },
      { name: 'www.example.com', type: 'AAAA' },
    ];
    for (const shape of shapes) await handler(buildQuery(shape), UDP_CLIENT);
    // Each shape was a miss of its own: one forward each, then all hits.
    expect(forwards()).toBe(shapes.length);
    for (const shape of shapes) expect(handler(buildQuery(shape), UDP_CLIENT)).toBeInstanceOf(Buffer);
    expect(forwards()).toBe(shapes.length);
  });
});
