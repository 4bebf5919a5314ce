// The cache stage on its own (it was reached only through the whole handler before): a real
// AnswerCache, a fake clock, and a scripted `next` standing in for the forward stage, returning
// forwarded answers as the forward stage builds them (typed ForwardedAnswer with the query sent).
// Responses are assembled as the query handler does, and asserted on the wire bytes
// (cache-stage-harness.ts).

import { describe, expect, it } from 'vitest';
import type { StageAnswer } from '../../../src/pipeline/types.ts';
import { EdeCode, Flag, Rcode, RRType } from '../../../src/wire/constants.ts';
import type { DnsRequest } from '../../../src/wire/request.ts';
import { rcodeOnly } from '../../../src/wire/response.ts';
import { decode, encodeName, encodeRecord } from '../../support/dns-messages.ts';
import { aRecord, QNAME, request, soaRecord, ttlsOf, upstream } from '../cache/fixtures.ts';
import { forwardedAnswer, stageHarness } from './cache-stage-harness.ts';

const cname = (target: string) => encodeRecord({ nameBytes: QNAME, type: 'CNAME', ttl: 300, rdata: encodeName(target) });
/** A recursive upstream's +norec answer for a name it has half cached: the CNAME without its target. */
const cnameOnly = () => upstream({ answers: [cname('cdn.example.net.')] });
const fullChain = () => upstream({ answers: [cname('cdn.example.net.'), aRecord(300, 7, encodeName('cdn.example.net.'))] });
const types = (response: Buffer) => decode(response).answers.map((record) => record.type);
const edeOf = (response: Buffer) => decode(response).opt?.ede ?? null;

describe('cache stage: RD=0 answers (issue 6 item 2)', () => {
  const byRd = (req: DnsRequest) => forwardedAnswer(req, (req.flags & Flag.RD) !== 0 ? fullChain() : cnameOnly());

  it('RD=0 then RD=1: the +norec CNAME-only answer is relayed to its client, never to the RD=1 one', async () => {
    const harness = stageHarness(byRd);
    const norec = await harness.ask(request('www.example.com', { rd: false, edns: {} }));
    expect(types(norec.response)).toEqual([RRType.CNAME]);
    expect(decode(norec.response).rd).toBe(false);
    harness.clock.now += 1_000;
    const rec = await harness.ask(request('www.example.com', { edns: {} }));
    expect(rec.answer.kind).toBe('forwarded');
    expect(types(rec.response)).toEqual([RRType.CNAME, RRType.A]);
    // And the complete answer is the one cached.
    harness.clock.now += 1_000;
    const again = await harness.ask(request('www.example.com', { edns: {} }));
    expect(again.answer.kind).toBe('cached');
    expect(types(again.response)).toEqual([RRType.CNAME, RRType.A]);
    expect(harness.forwards()).toBe(2);
  });

  it('RD=1 then RD=0: the RD=0 client reads the complete cached answer, and its own query changes nothing', async () => {
    const harness = stageHarness(byRd);
    await harness.ask(request('www.example.com', { edns: {} }));
    const norec = await harness.ask(request('www.example.com', { rd: false, edns: {} }));
    expect(norec.answer.kind).toBe('cached');
    expect(types(norec.response)).toEqual([RRType.CNAME, RRType.A]);
    expect(decode(norec.response).rd).toBe(false);
    expect(harness.forwards()).toBe(1);
  });

  it('an RD=0 client near expiry starts no prefetch (its refresh could not be stored)', async () => {
    const harness = stageHarness(byRd);
    await harness.ask(request('www.example.com'));
    for (let i = 0; i < 3; i++) await harness.ask(request('www.example.com', { rd: false }));
    harness.clock.now += 299_500;
    await harness.ask(request('www.example.com', { rd: false }));
    expect(harness.forwards()).toBe(1);
  });
});

describe('cache stage: serve-stale (issue 6 item 3, RFC 8767)', () => {
  let upstreamRcode: number = Rcode.NOERROR;
  const scripted = (req: DnsRequest) =>
    forwardedAnswer(req, upstreamRcode === Rcode.NOERROR ? upstream({ answers: [aRecord(10)] }) : upstream({ rcode: upstreamRcode }));

  it.each([['SERVFAIL', Rcode.SERVFAIL], ['REFUSED', Rcode.REFUSED]])('an upstream %s with a stale entry present answers stale (TTL 30, EDE 3), not the error', async (_name, rcode) => {
    upstreamRcode = Rcode.NOERROR;
    const harness = stageHarness(scripted);
    await harness.ask(request('www.example.com', { edns: {} }));
    upstreamRcode = rcode;
    harness.clock.now += 11_000;
    const { answer, response } = await harness.ask(request('www.example.com', { edns: {} }));
    expect(answer.kind).toBe('stale');
    const decoded = decode(response);
    expect(decoded.rcode).toBe(Rcode.NOERROR);
    expect(ttlsOf(response)).toEqual([30]);
    expect(decoded.opt?.ede?.code).toBe(EdeCode.STALE_ANSWER);
    expect(harness.forwards()).toBe(2);
  });

  it('after a failed refresh, at most one upstream attempt per failure recheck interval (30 s), however many stale hits', async () => {
    upstreamRcode = Rcode.NOERROR;
    const harness = stageHarness(scripted);
    await harness.ask(request('www.example.com', { edns: {} }));
    upstreamRcode = Rcode.SERVFAIL;
    harness.clock.now += 11_000;
    await harness.ask(request('www.example.com', { edns: {} })); // the failed refresh
    expect(harness.forwards()).toBe(2);
    // 100 clients over the next 29.9 s: all stale, none of them asks upstream.
    for (let i = 0; i < 100; i++) {
      harness.clock.now += 299;
      const { answer, response } = await harness.ask(request('www.example.com', { edns: {} }));
      expect(answer.kind).toBe('stale');
      expect(edeOf(response)?.code).toBe(EdeCode.STALE_ANSWER);
    }
    expect(harness.forwards()).toBe(2);
    // Recheck interval over: exactly one new attempt; it fails too, and the next 30 s are quiet again.
    harness.clock.now += 200;
    await harness.ask(request('www.example.com', { edns: {} }));
    await harness.ask(request('www.example.com', { edns: {} }));
    expect(harness.forwards()).toBe(3);
    // The upstream is back: the next attempt after the interval refreshes the entry.
    upstreamRcode = Rcode.NOERROR;
    harness.clock.now += 30_000;
    const recovered = await harness.ask(request('www.example.com', { edns: {} }));
    expect(recovered.answer.kind).toBe('forwarded');
    const cached = await harness.ask(request('www.example.com', { edns: {} }));
    expect(cached.answer.kind).toBe('cached');
    expect(edeOf(cached.response)).toBeNull();
    expect(harness.forwards()).toBe(4);
  });

  it('a forward that fails outright (no upstream answered) answers stale, and starts the recheck timer too', async () => {
    let fail = false;
    const harness = stageHarness((req) => (fail ? { kind: 'upstream_failed', sections: rcodeOnly(Rcode.SERVFAIL), ede: { code: EdeCode.NO_REACHABLE_AUTHORITY, text: 'x' } } : forwardedAnswer(req, upstream({ answers: [aRecord(10)] }))));
    await harness.ask(request('www.example.com', { edns: {} }));
    fail = true;
    harness.clock.now += 10_000;
    expect((await harness.ask(request('www.example.com', { edns: {} }))).answer.kind).toBe('stale');
    harness.clock.now += 10_000;
    expect((await harness.ask(request('www.example.com', { edns: {} }))).answer.kind).toBe('stale');
    expect(harness.forwards()).toBe(2);
  });

  it('a slow upstream gets the client a stale answer after the client response timer; its late answer refreshes the entry', async () => {
    let slow = false;
    const harness = stageHarness(
      (req) => (slow ? new Promise((resolve) => setTimeout(() => resolve(forwardedAnswer(req, upstream({ answers: [aRecord(600, 2)] }))), 100)) : forwardedAnswer(req, upstream({ answers: [aRecord(10)] }))),
      {},
      20,
    );
    await harness.ask(request('www.example.com', { edns: {} }));
    slow = true;
    harness.clock.now += 10_000;
    const { answer } = await harness.ask(request('www.example.com', { edns: {} }));
    expect(answer.kind).toBe('stale');
    await new Promise((resolve) => setTimeout(resolve, 150));
    const refreshed = await harness.ask(request('www.example.com', { edns: {} }));
    expect(refreshed.answer.kind).toBe('cached');
    expect(decode(refreshed.response).answers.map((record) => record.address)).toEqual(['192.0.2.2']);
  });
});

describe('cache stage: minTtl (issue 6 item 4)', () => {
  it('by default a TTL 2 answer is asked again after 2 s, not served for 5 s with TTL 0', async () => {
    const harness = stageHarness((req) => forwardedAnswer(req, upstream({ answers: [aRecord(2)] })));
    await harness.ask(request('www.example.com', { edns: {} }));
    harness.clock.now += 1_999;
    const cached = await harness.ask(request('www.example.com', { edns: {} }));
    expect(cached.answer.kind).toBe('cached');
    expect(ttlsOf(cached.response)).toEqual([1]);
    harness.clock.now += 1;
    expect((await harness.ask(request('www.example.com', { edns: {} }))).answer.kind).toBe('forwarded');
    expect(harness.forwards()).toBe(2);
  });

  it('with minTtl 5, the entry past its TTL is answered stale (TTL 30, EDE 3) without asking, then refreshed', async () => {
    const harness = stageHarness((req) => forwardedAnswer(req, upstream({ answers: [aRecord(2)] })), { minTtl: 5 });
    await harness.ask(request('www.example.com', { edns: {} }));
    for (const step of [2_000, 1_000, 1_999]) {
      harness.clock.now += step;
      const { answer, response } = await harness.ask(request('www.example.com', { edns: {} }));
      expect(answer.kind).toBe('stale');
      expect(ttlsOf(response)).toEqual([30]);
      expect(edeOf(response)?.code).toBe(EdeCode.STALE_ANSWER);
    }
    expect(harness.forwards()).toBe(1);
    harness.clock.now += 1;
    expect((await harness.ask(request('www.example.com', { edns: {} }))).answer.kind).toBe('forwarded');
  });
});

describe('cache stage: what the forwarder relays (issue 6 item 7)', () => {
  it('an upstream TC=1 answer reaches the client with TC=1 and is not cached', async () => {
    const harness = stageHarness((req) => forwardedAnswer(req, upstream({ type: 'TXT', flags: Flag.TC })));
    for (let i = 0; i < 2; i++) {
      const { response } = await harness.ask(request('big.example.com', { type: 'TXT', edns: {} }));
      expect(decode(response)).toMatchObject({ tc: true, rcode: Rcode.NOERROR });
    }
    expect(harness.forwards()).toBe(2);
  });

  it('a CNAME→NODATA answer is cached for the SOA negative TTL, not the CNAME TTL', async () => {
    const harness = stageHarness((req) => forwardedAnswer(req, upstream({ type: 'AAAA', answers: [cname('target.example.com.')], authority: [soaRecord(3600, 60)] })));
    await harness.ask(request('www.example.com', { type: 'AAAA' }));
    harness.clock.now += 59_000;
    const cached = await harness.ask(request('www.example.com', { type: 'AAAA' }));
    expect(cached.answer.kind).toBe('cached');
    expect(ttlsOf(cached.response)).toEqual([1, 1]);
    harness.clock.now += 1_000;
    expect((await harness.ask(request('www.example.com', { type: 'AAAA' }))).answer.kind).toBe('forwarded');
    expect(harness.cache.stats().entries).toEqual({ success: 0, denial: 1 });
  });
});
