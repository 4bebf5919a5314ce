import pino from 'pino';
import { Registry } from 'prom-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { createForwarder, type Forwarder, type ForwarderOptions } from '../../../src/forward/forwarder.ts';
import { createForwardMetrics } from '../../../src/forward/metrics.ts';
import type { ForwardResult } from '../../../src/forward/types.ts';
import { freePort } from '../../support/processes.ts';
import { metricValue } from '../../support/registry.ts';
import {
  closeFakesAndCheckHandles, answerFor, answerNow, firstAddress, neverAnswer, sleep, startFakeUpstream, upstreamQuery, waitFor, type FakeUpstream, type ReceivedQuery, type TcpHandler, type UdpHandler,
} from './fake-upstream.ts';

let forwarders: Forwarder[] = [];
let register: Registry;
beforeEach(() => {
  register = new Registry();
});
const fakes = closeFakesAndCheckHandles(() => {
  for (const forwarder of forwarders) forwarder.close();
  forwarders = [];
});

async function fake(udp: UdpHandler = answerNow, tcp: TcpHandler = answerNow): Promise<FakeUpstream> {
  const upstream = await startFakeUpstream({ udp, tcp });
  fakes.push(upstream);
  return upstream;
}

function forwarder(options: Partial<ForwarderOptions> & Pick<ForwarderOptions, 'upstreams'>): Forwarder {
  const created = createForwarder({
    logger: pino({ level: 'silent' }),
    metrics: createForwardMetrics(register),
    policy: 'sequential',
    // No exploration noise in ordering assertions.
    random: () => 0.999,
    ...options,
  });
  forwarders.push(created);
  return created;
}

function delayed(ms: number, address = '192.0.2.1'): UdpHandler & TcpHandler {
  return (query, reply) => {
    setTimeout(() => reply(answerFor(query, { address })), ms);
  };
}

function expectAnswer(result: ForwardResult, address: string): asserts result is Extract<ForwardResult, { ok: true }> {
  expect(result.ok).toBe(true);
  if (result.ok) expect(firstAddress(result.response)).toBe(address);
}

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await run();
  return { value, ms: performance.now() - started };
}

const named = (name: string) => (query: ReceivedQuery) => query.qname === name;

describe('forwarder: the exchange', () => {
  it('relays the upstream answer over UDP, bytes untouched, with upstream, transport and duration', async () => {
    let sent: Buffer | null = null;
    const upstream = await fake((query, reply) => reply((sent = answerFor(query, { address: '198.51.100.1', ttl: 1234 }))));
    const forward = forwarder({ upstreams: [upstream.address] });
    const result = await forward.forward(upstreamQuery('Www.Example.com'));
    expectAnswer(result, '198.51.100.1');
    expect(result.response).toEqual(sent);
    expect(result).toMatchObject({ upstream: upstream.name, transport: 'udp' });
    expect(result.durationMs).toBeGreaterThan(0);
    expect(upstream.clientQueries()).toHaveLength(1);
    expect(upstream.clientQueries()[0]!.question).toEqual(upstreamQuery('Www.Example.com').question);
    expect(await metricValue(register, 'meshdns_forward_upstream_up', { to: upstream.name })).toBe(1);
    const histogram = await register.getSingleMetric('meshdns_forward_request_duration_seconds')!.get();
    const count = histogram.values.find((v) => (v as { metricName?: string }).metricName === 'meshdns_forward_request_duration_seconds_count');
    expect(count).toMatchObject({ value: 1, labels: { to: upstream.name, rcode: 'NOERROR' } });
  });

  it('retries a truncated UDP answer over TCP at the same upstream', async () => {
    const upstream = await fake(
      (query, reply) => reply(answerFor(query, { tc: true })),
      (query, reply) => reply(answerFor(query, { count: 120, address: '10.0.0.0' })),
    );
    const forward = forwarder({ upstreams: [upstream.address] });
    const result = await forward.forward(upstreamQuery('big.example'));
    expectAnswer(result, '10.0.0.0');
    expect(result.transport).toBe('tcp');
    expect(result.response.length).toBeGreaterThan(1232);
    expect(result.response.readUInt16BE(2) & 0x0200).toBe(0);
    expect(upstream.clientQueries().map((q) => q.transport)).toEqual(['udp', 'tcp']);
    expect(await metricValue(register, 'meshdns_forward_tcp_fallbacks_total')).toBe(1);
  });

  it('forceTcp: pipelines concurrent queries on one connection, answers out of order', async () => {
    const held: Array<() => void> = [];
    const upstream = await fake(neverAnswer, (query, reply) => {
      held.push(() => reply(answerFor(query, { address: `192.0.2.${query.qname.slice(1, 2)}` })));
      if (held.length === 4) held.reverse().forEach((answer) => answer());
    });
    const forward = forwarder({ upstreams: [upstream.address], forceTcp: true });
    const results = await Promise.all(['q1.example', 'q2.example', 'q3.example', 'q4.example'].map((name) => forward.forward(upstreamQuery(name))));
    results.forEach((result, index) => {
      expectAnswer(result, `192.0.2.${index + 1}`);
      expect(result.transport).toBe('tcp');
    });
    expect(upstream.tcpConnectionsAccepted()).toBe(1);
    expect(upstream.clientQueries().every((q) => q.transport === 'tcp' && q.source === 0)).toBe(true);
  });

  it('a try that times out moves on to the next upstream', async () => {
    const dead = await fake(neverAnswer);
    const good = await fake(delayed(0, '192.0.2.2'));
    const forward = forwarder({ upstreams: [dead.address, good.address], tryTimeoutMs: 150 });
    const { value: result, ms } = await timed(() => forward.forward(upstreamQuery('a.example')));
    expectAnswer(result, '192.0.2.2');
    expect(result.upstream).toBe(good.name);
    expect(ms).toBeGreaterThanOrEqual(145);
    expect(ms).toBeLessThan(400);
    expect(dead.clientQueries()).toHaveLength(1);
    expect(await metricValue(register, 'meshdns_forward_failures_total', { to: dead.name, reason: 'timeout' })).toBe(1);
  });

  it('a network error (nothing listening) moves on at once', async () => {
    const port = await freePort();
    const good = await fake(delayed(0, '192.0.2.3'));
    const forward = forwarder({ upstreams: [{ host: '127.0.0.1', port, family: 'ipv4' }, good.address], tryTimeoutMs: 2000 });
    const { value: result, ms } = await timed(() => forward.forward(upstreamQuery('a.example')));
    expectAnswer(result, '192.0.2.3');
    expect(ms).toBeLessThan(500);
    expect(await metricValue(register, 'meshdns_forward_failures_total', { to: `127.0.0.1:${port}`, reason: 'network' })).toBe(1);
  });

  it('a lost datagram to a single upstream is rescued by the next try', async () => {
    let seen = 0;
    const upstream = await fake((query, reply) => {
      if (++seen > 1) reply(answerFor(query, { address: '192.0.2.4' }));
    });
    const forward = forwarder({ upstreams: [upstream.address], tryTimeoutMs: 100 });
    expectAnswer(await forward.forward(upstreamQuery('a.example')), '192.0.2.4');
    expect(upstream.clientQueries()).toHaveLength(2);
  });

  it('ignores wrong-ID and wrong-question answers and takes the right one', async () => {
    const upstream = await fake((query, reply) => {
      reply(answerFor(query, { id: query.id ^ 1, address: '203.0.113.1' }));
      reply(answerFor(query, { name: 'other.example', address: '203.0.113.2' }));
      setTimeout(() => reply(answerFor(query, { address: '192.0.2.5' })), 10);
    });
    const forward = forwarder({ upstreams: [upstream.address] });
    expectAnswer(await forward.forward(upstreamQuery('a.example')), '192.0.2.5');
  });

  it('SERVFAIL and REFUSED from the upstream are answers, relayed, and count as alive', async () => {
    const upstream = await fake((query, reply) => reply(answerFor(query, { rcode: query.qname.startsWith('s') ? 2 : 5 })));
    const forward = forwarder({ upstreams: [upstream.address], maxFails: 1 });
    const servfail = await forward.forward(upstreamQuery('s.example'));
    const refused = await forward.forward(upstreamQuery('r.example'));
    expect(servfail.ok && servfail.response.readUInt16BE(2) & 0xf).toBe(2);
    expect(refused.ok && refused.response.readUInt16BE(2) & 0xf).toBe(5);
    expect(forward.state()[0]).toMatchObject({ up: true, consecutiveFailures: 0 });
    expect(upstream.probes()).toHaveLength(0);
  });
});

describe('forwarder: the deadline', () => {
  it('answers within deadlineMs when no upstream answers (per-try timeouts larger than the deadline)', async () => {
    const holes = await Promise.all([fake(neverAnswer), fake(neverAnswer), fake(neverAnswer)]);
    const forward = forwarder({ upstreams: holes.map((h) => h.address), tryTimeoutMs: 2000, deadlineMs: 300 });
    const { value: result, ms } = await timed(() => forward.forward(upstreamQuery('a.example')));
    expect(result).toEqual({ ok: false, reason: 'timeout', ede: { code: 22, text: 'no upstream answered in time' } });
    expect(ms).toBeGreaterThanOrEqual(295);
    expect(ms).toBeLessThan(400);
  });

  it('maxTries × tryTimeout inside the deadline: three tries, then the failure', async () => {
    const holes = await Promise.all([fake(neverAnswer), fake(neverAnswer)]);
    const forward = forwarder({ upstreams: holes.map((h) => h.address), tryTimeoutMs: 100, deadlineMs: 5000, maxTries: 3, maxFails: 10 });
    const { value: result, ms } = await timed(() => forward.forward(upstreamQuery('a.example')));
    expect(result.ok === false && result.reason).toBe('timeout');
    expect(ms).toBeGreaterThanOrEqual(295);
    expect(ms).toBeLessThan(500);
    // Cycled through the order: first, second, first again.
    expect(holes.map((h) => h.clientQueries().length)).toEqual([2, 1]);
  });

  it('an overdue try keeps listening while the next one runs: a 300 ms upstream answers a forward with 200 ms tries', async () => {
    // Answers only the first query it sees, after 300 ms: the answer belongs to the first try,
    // which is past its 200 ms try timeout by then (timing-contract.ts: a slow upstream within
    // the deadline must still be answered; before, the first try's socket closed at 200 ms).
    let seen = 0;
    const slow = await fake((query, reply) => {
      if (seen++ === 0) setTimeout(() => reply(answerFor(query)), 300);
    });
    const forward = forwarder({ upstreams: [slow.address], tryTimeoutMs: 200, deadlineMs: 1000, maxTries: 2, maxFails: 10 });
    const { value: result, ms } = await timed(() => forward.forward(upstreamQuery('a.example')));
    expect(result.ok).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(295);
    expect(ms).toBeLessThan(395);
    expect(slow.clientQueries()).toHaveLength(2);
    // The overdue try still counted as a timeout for the upstream's health; the answer reset it.
    expect(forward.state()[0]).toMatchObject({ up: true, consecutiveFailures: 0 });
  });

  it('holds over forceTcp too: a TCP upstream that accepts and never answers', async () => {
    const hole = await fake(neverAnswer, neverAnswer);
    const forward = forwarder({ upstreams: [hole.address], forceTcp: true, tryTimeoutMs: 2000, deadlineMs: 250 });
    const { value: result, ms } = await timed(() => forward.forward(upstreamQuery('a.example')));
    expect(result.ok === false && result.reason).toBe('timeout');
    expect(ms).toBeLessThan(350);
  });

  it('holds over a slow TCP fallback', async () => {
    const upstream = await fake((query, reply) => reply(answerFor(query, { tc: true })), neverAnswer);
    const forward = forwarder({ upstreams: [upstream.address], tryTimeoutMs: 2000, deadlineMs: 250 });
    const { value: result, ms } = await timed(() => forward.forward(upstreamQuery('a.example')));
    expect(result.ok === false && result.reason).toBe('timeout');
    expect(ms).toBeLessThan(350);
  });

  it('all tries failing with network errors gives EDE 23', async () => {
    const port = await freePort();
    const forward = forwarder({ upstreams: [{ host: '127.0.0.1', port, family: 'ipv4' }] });
    expect(await forward.forward(upstreamQuery('a.example'))).toEqual({ ok: false, reason: 'network', ede: { code: 23, text: 'upstream network error' } });
  });
});

describe('forwarder: upstream health', () => {
  it('skips a dead upstream after maxFails, probes it, and uses it again once it answers', async () => {
    let alive = false;
    const flaky = await fake((query, reply) => {
      if (alive) reply(answerFor(query, { address: '192.0.2.100' }));
    });
    const good = await fake(delayed(0, '192.0.2.200'));
    const forward = forwarder({ upstreams: [flaky.address, good.address], tryTimeoutMs: 100, maxFails: 2, healthCheckIntervalMs: 30, healthCheckTimeoutMs: 50 });

    // The first two queries wait for the dead upstream's timeout, then get the good one's answer.
    expectAnswer(await forward.forward(upstreamQuery('q1.example')), '192.0.2.200');
    expectAnswer(await forward.forward(upstreamQuery('q2.example')), '192.0.2.200');
    expect(forward.state().find((s) => s.to === flaky.name)).toMatchObject({ up: false, consecutiveFailures: 2 });
    expect(await metricValue(register, 'meshdns_forward_upstream_up', { to: flaky.name })).toBe(0);

    // While down: no query waits for it, and it receives none of them, only probes.
    for (let n = 3; n <= 8; n++) {
      const { value: result, ms } = await timed(() => forward.forward(upstreamQuery(`q${n}.example`)));
      expectAnswer(result, '192.0.2.200');
      expect(ms).toBeLessThan(50);
    }
    expect(flaky.clientQueries().map((q) => q.qname)).toEqual(['q1.example', 'q2.example']);
    expect(await waitFor(() => flaky.probes().length >= 2, 1000)).toBe(true);
    expect(flaky.probes()[0]).toMatchObject({ qname: '', qtype: 2, transport: 'udp' });
    expect(flaky.probes()[0]!.flags & 0x0100).toBe(0x0100);

    // It comes back: the probe sees it, and (sequential) it is first again.
    alive = true;
    expect(await waitFor(() => forward.state().find((s) => s.to === flaky.name)!.up, 1000)).toBe(true);
    expect(await metricValue(register, 'meshdns_forward_upstream_up', { to: flaky.name })).toBe(1);
    const back = await forward.forward(upstreamQuery('q9.example'));
    expectAnswer(back, '192.0.2.100');
    expect(back.upstream).toBe(flaky.name);
    const probesAfter = flaky.probes().length;
    await sleep(100);
    expect(flaky.probes().length).toBe(probesAfter); // probing stopped
  });

  it('a single upstream that is down still gets one try per query, and recovers on its first answer', async () => {
    let alive = false;
    const only = await fake((query, reply) => {
      if (alive) reply(answerFor(query, { address: '192.0.2.7' }));
    });
    const forward = forwarder({ upstreams: [only.address], tryTimeoutMs: 80, maxTries: 3, maxFails: 2, healthCheckIntervalMs: 10_000 });
    const first = await forward.forward(upstreamQuery('q1.example'));
    expect(first.ok).toBe(false);
    expect(only.clientQueries()).toHaveLength(2); // two tries took it down; the third was skipped
    expect(forward.state()[0]!.up).toBe(false);

    const { value: second, ms } = await timed(() => forward.forward(upstreamQuery('q2.example')));
    expect(second.ok).toBe(false);
    expect(only.clientQueries().filter(named('q2.example'))).toHaveLength(1);
    expect(ms).toBeLessThan(200);

    alive = true;
    expectAnswer(await forward.forward(upstreamQuery('q3.example')), '192.0.2.7');
    expect(forward.state()[0]).toMatchObject({ up: true, consecutiveFailures: 0 });
  });

  it('health probes travel over TCP when forceTcp is set', async () => {
    let alive = false;
    // Over TCP nothing is answered until `alive`; over UDP never (a UDP probe would not see it).
    const upstream = await fake(neverAnswer, (query, reply) => {
      if (alive) reply(answerFor(query));
    });
    const forward = forwarder({ upstreams: [upstream.address], forceTcp: true, tryTimeoutMs: 60, maxTries: 1, maxFails: 1, healthCheckIntervalMs: 20, healthCheckTimeoutMs: 50 });
    expect((await forward.forward(upstreamQuery('a.example'))).ok).toBe(false);
    expect(await waitFor(() => upstream.probes().length >= 1, 1000)).toBe(true);
    expect(upstream.probes().every((q) => q.transport === 'tcp')).toBe(true);
    alive = true;
    expect(await waitFor(() => forward.state()[0]!.up, 2000)).toBe(true);
  });

  it('fastest prefers the quicker upstream once both are measured', async () => {
    const slow = await fake(delayed(60, '192.0.2.1'));
    const quick = await fake(delayed(0, '192.0.2.2'));
    const forward = forwarder({ upstreams: [slow.address, quick.address], policy: 'fastest' });
    // Unmeasured upstreams (latency 0) come first, so each gets measured once.
    await forward.forward(upstreamQuery('m1.example'));
    await forward.forward(upstreamQuery('m2.example'));
    expect(slow.clientQueries()).toHaveLength(1);
    expect(quick.clientQueries()).toHaveLength(1);
    for (let n = 0; n < 5; n++) expectAnswer(await forward.forward(upstreamQuery(`f${n}.example`)), '192.0.2.2');
    expect(slow.clientQueries()).toHaveLength(1);
    const [slowState, quickState] = forward.state();
    expect(slowState!.latencyMs).toBeGreaterThan(quickState!.latencyMs!);
  });
});

describe('forwarder: coalescing and the outstanding cap', () => {
  it('50 identical concurrent queries make one upstream query; the callers share its read-only result', async () => {
    const upstream = await fake(delayed(50, '192.0.2.50'));
    const forward = forwarder({ upstreams: [upstream.address] });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => forward.forward(upstreamQuery(i % 2 ? 'SAME.example' : 'same.example'))));
    expect(upstream.clientQueries()).toHaveLength(1);
    for (const result of results) expectAnswer(result, '192.0.2.50');
    // One indexed message for all: nobody writes to it (each client's response is assembled into
    // a buffer of its own; the cache copies what it keeps), so joiners no longer pay a copy each.
    const messages = results.map((result) => (result.ok ? result.message : null));
    expect(new Set(messages).size).toBe(1);
    expect(await metricValue(register, 'meshdns_forward_coalesced_total')).toBe(49);
    expect(await metricValue(register, 'meshdns_forward_outstanding')).toBe(0);
  });

  it('does not coalesce queries that differ in DO, CD, RD or type', async () => {
    const upstream = await fake(delayed(30));
    const forward = forwarder({ upstreams: [upstream.address] });
    await Promise.all([
      forward.forward(upstreamQuery('a.example')),
      forward.forward(upstreamQuery('a.example', { dnssecOk: true })),
      forward.forward(upstreamQuery('a.example', { checkingDisabled: true })),
      forward.forward(upstreamQuery('a.example', { recursionDesired: false })),
      forward.forward(upstreamQuery('a.example', { qtype: 28 })),
    ]);
    expect(upstream.clientQueries()).toHaveLength(5);
    expect(await metricValue(register, 'meshdns_forward_coalesced_total')).toBe(0);
  });

  it('over maxOutstanding, fails at once with overloaded (EDE 0) and counts it; joining a query in flight is still allowed', async () => {
    const upstream = await fake(delayed(80));
    const forward = forwarder({ upstreams: [upstream.address], maxOutstanding: 2 });
    const first = forward.forward(upstreamQuery('a.example'));
    const second = forward.forward(upstreamQuery('b.example'));
    expect(await metricValue(register, 'meshdns_forward_outstanding')).toBe(2);
    const { value: third, ms } = await timed(() => forward.forward(upstreamQuery('c.example')));
    expect(third).toEqual({ ok: false, reason: 'overloaded', ede: { code: 0, text: 'too many outstanding upstream queries' } });
    expect(ms).toBeLessThan(20);
    const joined = forward.forward(upstreamQuery('a.example'));
    expect((await first).ok && (await second).ok && (await joined).ok).toBe(true);
    expect(await metricValue(register, 'meshdns_forward_rejected_total')).toBe(1);
    expect(upstream.clientQueries().map((q) => q.qname).sort()).toEqual(['a.example', 'b.example']);
    // The slots are free again.
    expect((await forward.forward(upstreamQuery('c.example'))).ok).toBe(true);
  });
});

describe('forwarder: upstream groups', () => {
  it('domain upstreams: the longest matching suffix wins, whole labels only', async () => {
    const general = await fake(delayed(0, '192.0.2.1'));
    const corp = await fake(delayed(0, '192.0.2.2'));
    const lab = await fake(delayed(0, '192.0.2.3'));
    const forward = forwarder({
      upstreams: [general.address],
      domainUpstreams: new Map([['corp.example', [corp.address]], ['Lab.Corp.Example.', [lab.address]]]),
    });
    const cases: Array<[string, string]> = [
      ['corp.example', '192.0.2.2'],
      ['www.corp.example', '192.0.2.2'],
      ['lab.corp.example', '192.0.2.3'],
      ['host.LAB.corp.example', '192.0.2.3'],
      ['xlab.corp.example', '192.0.2.2'], // "lab.corp.example" is not a label suffix of it
      ['notcorp.example', '192.0.2.1'],
      ['corp.example.org', '192.0.2.1'],
      ['example', '192.0.2.1'],
    ];
    for (const [name, address] of cases) expectAnswer(await forward.forward(upstreamQuery(name)), address);
    expect(corp.clientQueries().map((q) => q.qname)).toEqual(['corp.example', 'www.corp.example', 'xlab.corp.example']);
    expect(lab.clientQueries().map((q) => q.qname)).toEqual(['lab.corp.example', 'host.lab.corp.example']);
  });

  it('an upstream shared by two groups has one health state', async () => {
    const shared = await fake(neverAnswer);
    const forward = forwarder({ upstreams: [shared.address], domainUpstreams: new Map([['corp.example', [shared.address]]]), tryTimeoutMs: 50, maxTries: 1 });
    await forward.forward(upstreamQuery('a.example'));
    await forward.forward(upstreamQuery('a.corp.example'));
    expect(forward.state()).toEqual([expect.objectContaining({ to: shared.name, up: false, consecutiveFailures: 2 })]);
  });

  it('no upstreams for the name: no_upstream, EDE 22', async () => {
    const forward = forwarder({ upstreams: [] });
    expect(await forward.forward(upstreamQuery('a.example'))).toEqual({ ok: false, reason: 'no_upstream', ede: { code: 22, text: 'no upstream configured for this name' } });
  });

  it('markLooping takes an upstream out of rotation; with none left, the result is loop', async () => {
    const a = await fake(delayed(0, '192.0.2.1'));
    const b = await fake(delayed(0, '192.0.2.2'));
    const forward = forwarder({ upstreams: [a.address, b.address] });
    expect(forward.markLooping(a.name)).toBe(true);
    expect(forward.markLooping('192.0.2.99:53')).toBe(false);
    expectAnswer(await forward.forward(upstreamQuery('x.example')), '192.0.2.2');
    expect(a.clientQueries()).toHaveLength(0);
    forward.markLooping(b.name);
    const result = await forward.forward(upstreamQuery('y.example'));
    expect(result.ok === false && result.reason).toBe('loop');
    expect(forward.state().map((s) => s.looping)).toEqual([true, true]);
    expect(await metricValue(register, 'meshdns_forward_upstream_up', { to: a.name })).toBe(0);
  });
});

describe('forwarder: close', () => {
  it('ends forwards in flight at once and refuses new ones', async () => {
    const hole = await fake(neverAnswer);
    const forward = forwarder({ upstreams: [hole.address], tryTimeoutMs: 5000, deadlineMs: 5000 });
    const pending = forward.forward(upstreamQuery('a.example'));
    await waitFor(() => hole.clientQueries().length === 1, 1000);
    const { value: result, ms } = await timed(async () => {
      forward.close();
      return pending;
    });
    expect(result).toMatchObject({ ok: false, reason: 'network' });
    expect(ms).toBeLessThan(50);
    expect(await forward.forward(upstreamQuery('b.example'))).toMatchObject({ ok: false, reason: 'network' });
  });
});

/** answerFor, with an extended RCODE: low 4 bits in the header, high 8 in the OPT (RFC 6891 §6.1.3). */
function extendedRcodeAnswer(query: ReceivedQuery, rcode: number): Buffer {
  const message = answerFor(query, { rcode: rcode & 0xf, count: 0 });
  message[message.length - 11 + 5] = rcode >> 4; // the OPT's EXTENDED-RCODE octet
  return message;
}

describe('forwarder: answers that cannot be relayed (issue 6 item 7)', () => {
  it('BADCOOKIE (23) from an upstream is a failed try, never relayed: the next upstream answers', async () => {
    const cookieMonster = await fake((query, reply) => reply(extendedRcodeAnswer(query, 23)));
    const good = await fake(delayed(0, '192.0.2.9'));
    const forward = forwarder({ upstreams: [cookieMonster.address, good.address] });
    expectAnswer(await forward.forward(upstreamQuery('a.example')), '192.0.2.9');
    expect(await metricValue(register, 'meshdns_forward_failures_total', { to: cookieMonster.name, reason: 'extended_rcode' })).toBe(1);
    expect(forward.state()[0]!.lastFailure).toMatch(/extended RCODE/);
  });

  it('with only such an upstream, the forward fails with an EDE instead of relaying YXDOMAIN/BADCOOKIE', async () => {
    const cookieMonster = await fake((query, reply) => reply(extendedRcodeAnswer(query, 23)));
    const forward = forwarder({ upstreams: [cookieMonster.address], maxTries: 2 });
    const result = await forward.forward(upstreamQuery('a.example'));
    expect(result).toEqual({ ok: false, reason: 'extended_rcode', ede: { code: 0, text: 'upstream answered with an extended RCODE (e.g. BADCOOKIE)' } });
    expect(cookieMonster.clientQueries()).toHaveLength(2);
  });

  it('a malformed answer (ANCOUNT larger than the records sent) is a failed try too', async () => {
    const broken = await fake((query, reply) => {
      const message = answerFor(query);
      message.writeUInt16BE(3, 6);
      reply(message);
    });
    const forward = forwarder({ upstreams: [broken.address], maxTries: 1 });
    expect(await forward.forward(upstreamQuery('a.example'))).toMatchObject({ ok: false, reason: 'malformed', ede: { code: 23 } });
  });

  it('an answer still truncated over TCP is relayed with TC=1 in its indexed message', async () => {
    const upstream = await fake((query, reply) => reply(answerFor(query, { tc: true })), (query, reply) => reply(answerFor(query, { tc: true })));
    const forward = forwarder({ upstreams: [upstream.address] });
    const result = await forward.forward(upstreamQuery('huge.example'));
    expect(result.ok && result.transport).toBe('tcp');
    expect(result.ok && result.message.truncated).toBe(true);
  });
});

describe('forwarder: a flapping upstream (issue 6 item 12)', () => {
  it('logs "marked down" and "up again" once per interval, counts every episode, and shows it in state()', async () => {
    const lines: Array<{ msg: string; suppressedSinceLastLog?: number }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as { msg: string }) });
    // Drops every query for `lost-*` (a lost datagram), answers everything else, probes included.
    const upstream = await fake((query, reply) => {
      if (!query.qname.startsWith('lost')) reply(answerFor(query));
    });
    const forward = forwarder({ upstreams: [upstream.address], logger, maxFails: 1, maxTries: 1, tryTimeoutMs: 30, healthCheckIntervalMs: 10 });
    const flaps = 8;
    for (let flap = 0; flap < flaps; flap++) {
      await forward.forward(upstreamQuery(`lost-${flap}.example`));
      expect(forward.state()[0]!.up).toBe(false);
      expect(await waitFor(() => forward.state()[0]!.up, 2000)).toBe(true);
    }
    const down = lines.filter((line) => line.msg === 'upstream marked down; probing it in the background');
    const up = lines.filter((line) => line.msg === 'upstream is up again');
    console.log(`[flapping upstream] ${flaps} down/up episodes → ${down.length} "marked down" and ${up.length} "up again" lines`);
    expect(down).toHaveLength(1);
    expect(up).toHaveLength(1);
    expect(await metricValue(register, 'meshdns_forward_upstream_marked_down_total', { to: upstream.name })).toBe(flaps);
    expect(forward.state()[0]).toMatchObject({ up: true, timesMarkedDown: flaps, downForMs: null, lastFailure: expect.stringMatching(/no answer within/) });
  });

  it('shows how long an upstream has been down in state(), for /ready', async () => {
    const hole = await fake(neverAnswer);
    const forward = forwarder({ upstreams: [hole.address], maxFails: 1, maxTries: 1, tryTimeoutMs: 20, healthCheckIntervalMs: 10_000 });
    await forward.forward(upstreamQuery('a.example'));
    await sleep(30);
    const [state] = forward.state();
    expect(state).toMatchObject({ up: false, timesMarkedDown: 1 });
    expect(state!.downForMs).toBeGreaterThanOrEqual(25);
  });
});
